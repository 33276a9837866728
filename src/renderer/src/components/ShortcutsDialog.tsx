// Gives the one-key actions other keys: press "Change", then the new key. A key another action (or a fixed shortcut)
// holds is refused with its name: a swap would silently move a key the labeler knows by heart.
import { useEffect, useState } from 'react';
import { ACTIONS, DEFAULT_KEYS, refuseKey, keyName, type ActionId, type KeyMap } from '../canvas/tools';

export function ShortcutsDialog({ keys, onKeys, onClose }: { keys: KeyMap; onKeys(keys: KeyMap): void; onClose(): void }) {
  const [waiting, setWaiting] = useState<ActionId | null>(null);
  const [note, setNote] = useState('');

  // While it waits, the next key press is the new key: taken before the workplace's shortcuts see it.
  useEffect(() => {
    if (!waiting) return;
    const h = (e: KeyboardEvent) => {
      if (e.ctrlKey || e.metaKey || e.altKey || (keyName(e.key) === null && e.key !== 'Escape')) return; // Shift alone etc.: keep waiting
      e.preventDefault();
      e.stopImmediatePropagation();
      setWaiting(null);
      if (e.key === 'Escape') return setNote('');
      const why = refuseKey(keys, waiting, e.key);
      if (why) return setNote(why);
      onKeys({ ...keys, [waiting]: keyName(e.key)! });
      setNote('');
    };
    window.addEventListener('keydown', h, true);
    return () => window.removeEventListener('keydown', h, true);
  }, [waiting, keys, onKeys]);

  return (
    <div className="overlay" onClick={onClose} data-testid="shortcuts-dialog">
      <div className="dialog" onClick={(e) => e.stopPropagation()} role="dialog" aria-label="Change keys">
        <h2>Change keys</h2>
        <div className="key-rows">
          {ACTIONS.map((a) => (
            <div key={a.id} style={{ display: 'contents' }} data-testid={`key-${a.id}`}>
              <kbd>{waiting === a.id ? '…' : keys[a.id] || '—'}</kbd>
              <span>{a.action}</span>
              <button onClick={() => (setWaiting(a.id), setNote(`Press the new key for "${a.action}" (Esc: keep ${keys[a.id] || 'none'})`))}>
                Change
              </button>
            </div>
          ))}
        </div>
        <p className="muted" role="status" data-testid="keys-note">
          {note || 'Kept for you in this browser (or this app), for every project.'}
        </p>
        <button
          onClick={() => {
            onKeys({ ...DEFAULT_KEYS });
            setWaiting(null);
            setNote('Every key is back to its default');
          }}
          data-testid="reset-keys"
        >
          Reset to defaults
        </button>{' '}
        <button onClick={onClose}>Close</button>
      </div>
    </div>
  );
}
