import { shortcuts, type KeyMap } from '../canvas/tools';

export function HelpOverlay({ keys, onClose, onChangeKeys }: { keys: KeyMap; onClose(): void; onChangeKeys(): void }) {
  return (
    <div className="overlay" onClick={onClose} data-testid="help">
      <div className="dialog" onClick={(e) => e.stopPropagation()} role="dialog" aria-label="Keyboard shortcuts">
        <h2>Keyboard shortcuts</h2>
        <div className="shortcuts">
          {shortcuts(keys).map((s) => (
            <div key={s.keys + s.action} className="shortcut">
              <kbd>{s.keys}</kbd>
              <span>{s.action}</span>
            </div>
          ))}
        </div>
        <p className="muted">Every edit is saved as you make it; undo history is kept per image in the project, across reloads.</p>
        <button onClick={onChangeKeys} data-testid="change-keys">
          Change keys…
        </button>{' '}
        <button onClick={onClose}>Close</button>
      </div>
    </div>
  );
}
