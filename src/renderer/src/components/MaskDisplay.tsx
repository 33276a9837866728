// How masks are shown and drawn, in the status bar beside their show/hide: fill opacity, outline-only, no overlap.
import type { Display } from '../canvas/display';

export function MaskDisplay({ display, onChange, outlineKey }: { display: Display; onChange(change: Partial<Display>): void; outlineKey: string }) {
  return (
    <span className="status-buttons" role="group" aria-label="Mask display">
      <label className="status-buttons" title="Opacity of the masks' fill">
        Fill
        <input
          type="range"
          min={0}
          max={100}
          value={Math.round(display.opacity * 100)}
          onChange={(e) => onChange({ opacity: Number(e.target.value) / 100 })}
          disabled={display.outline}
          data-testid="mask-opacity"
        />
      </label>
      <button className={display.outline ? 'active' : ''} onClick={() => onChange({ outline: !display.outline })} title={`Outlines only${outlineKey ? ` (${outlineKey})` : ''}`} data-testid="mask-outline">
        Outline
      </button>
      <button
        className={display.noOverlap ? 'active' : ''}
        onClick={() => onChange({ noOverlap: !display.noOverlap })}
        title="No overlap: a new or edited mask takes its pixels from the other masks (one undo step)"
        data-testid="no-overlap"
      >
        No overlap
      </button>
    </span>
  );
}
