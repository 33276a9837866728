import { SHORTCUTS } from '../canvas/tools';

export function HelpOverlay({ onClose }: { onClose(): void }) {
  return (
    <div className="overlay" onClick={onClose} data-testid="help">
      <div className="dialog" onClick={(e) => e.stopPropagation()} role="dialog" aria-label="Keyboard shortcuts">
        <h2>Keyboard shortcuts</h2>
        <table className="shortcuts">
          <tbody>
            {SHORTCUTS.map((s) => (
              <tr key={s.keys + s.action}>
                <td>
                  <kbd>{s.keys}</kbd>
                </td>
                <td>{s.action}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p className="muted">Every edit is saved as you make it; undo history is kept per image in the project, across reloads.</p>
        <button onClick={onClose}>Close</button>
      </div>
    </div>
  );
}
