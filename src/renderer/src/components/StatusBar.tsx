import { useEffect, useState, type ReactNode } from 'react';
import type { MethodOutput } from '../../../shared/contract';
import { client } from '../client';
import { useLive } from '../canvas/liveStatus';

/** Zoom (with fit and 1:1), cursor pixel, image size, masks (with show/hide and `children`: how they are drawn), and which ONNX Runtime execution provider is active. */
export function StatusBar({
  width,
  height,
  onFit,
  onOneToOne,
  masks,
  masksVisible,
  onToggleMasks,
  busy,
  historyLabel,
  children,
}: {
  width: number;
  height: number;
  onFit(): void;
  onOneToOne(): void;
  masks: number;
  masksVisible: boolean;
  onToggleMasks(): void;
  busy: boolean;
  historyLabel: string;
  children?: ReactNode;
}) {
  const live = useLive();
  const [runtime, setRuntime] = useState<MethodOutput<'runtime.status'> | null | undefined>(undefined);
  useEffect(() => {
    const refresh = () => void client.call('runtime.status', {}).then(setRuntime, () => setRuntime(null));
    refresh();
    // Until a model has loaded, the status is only what is expected; it becomes what sessions got once work ran.
    const offs = [client.on('job.finished', refresh), client.on('project.changed', (e) => e.what === 'annotations' && refresh())];
    return () => offs.forEach((off) => off());
  }, []);
  const fallbacks = runtime?.fallbacks.map((f) => `${f.provider}: ${f.reason}`).join('\n');
  return (
    <footer className="statusbar" data-testid="statusbar">
      <span data-testid="zoom">{Math.round(live.scale * 1000) / 10}%</span>
      <span className="status-buttons">
        <button onClick={onFit} title="Fit (F)">
          Fit
        </button>
        <button onClick={onOneToOne} title="1:1 (0)">
          1:1
        </button>
      </span>
      <span data-testid="cursor">{live.cursor ? `x ${live.cursor.x}, y ${live.cursor.y}` : '—'}</span>
      <span>
        {width}×{height}
      </span>
      <span className="status-buttons">
        {masks} {masks === 1 ? 'mask' : 'masks'}
        <button onClick={onToggleMasks} className={masksVisible ? '' : 'active'} title="Show / hide masks (H)" data-testid="toggle-masks">
          {masksVisible ? 'Hide' : 'Show'}
        </button>
      </span>
      {children}
      <span className="muted">{busy ? 'saving…' : 'saved'}</span>
      <span className="muted">{historyLabel}</span>
      <span className="spacer" />
      <span data-testid="runtime" title={fallbacks || (runtime ? `requested: ${runtime.requested.join(', ')}` : 'the runtime status is not available')}>
        {runtime === undefined ? 'runtime…' : runtime === null ? 'runtime: unavailable' : `EP: ${runtime.active}${runtime.fallbacks.length ? ' (fallback)' : ''}`}
      </span>
    </footer>
  );
}
