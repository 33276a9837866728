// DiffSeg in the side panel: the model choice, the click tool's state (points, live mask, timing, errors)
// with accept / clear, "Segment everything" for the open image (a job: progress and cancel in the JobBar)
// and "Delete unassigned proposals".
import { useEffect, useRef, useState } from 'react';
import type { Annotation, Job } from '../../../shared/contract';
import type { BatchReport } from '../../../core/pipelines/diffseg/job';
import { isProposal } from '../../../core/project/types';
import { client } from '../client';
import type { ClickSegment } from '../canvas/clickTool';
import {
  diffseg,
  filteredImageIds,
  FIXTURE_LABEL,
  modelValue,
  setDiffSegModel,
  setDiffSegParams,
  useDiffSegModel,
  useDiffSegParams,
  useModels,
  useNoModel,
  type ImageFilter,
} from '../canvas/diffseg';

export function ModelSelect({ compact = false }: { compact?: boolean }) {
  const model = useDiffSegModel();
  const { models, error } = useModels();
  const known = !model || !models || models.some((m) => modelValue(m) === model);
  return (
    <label className={`model-select ${compact ? 'compact' : ''}`} title={error ?? 'The segmentation model DiffSeg uses (remembered)'}>
      {!compact && <span className="muted small">Model</span>}
      <select value={model} onChange={(e) => setDiffSegModel(e.target.value)} data-testid="diffseg-model" aria-label="DiffSeg model">
        <option value="">Automatic (first installed model)</option>
        {models?.map((m) => (
          <option key={modelValue(m)} value={modelValue(m)} disabled={!m.ok} title={m.error ?? m.dir ?? ''}>
            {m.fixture ? FIXTURE_LABEL : `${m.name}${m.ok ? '' : ' — broken'}`}
          </option>
        ))}
        {!known && <option value={model}>{model} (not installed)</option>}
      </select>
    </label>
  );
}

/** τ, guided outlines and refinement for every DiffSeg call (remembered); "Defaults" clears them. */
export function DiffSegSettingsEditor() {
  const p = useDiffSegParams();
  const changed = Object.keys(p).length > 0;
  return (
    <details className="diffseg-settings" data-testid="diffseg-settings">
      <summary className="small">Settings{changed ? ' (changed)' : ''}</summary>
      <label className="small" title="KL merge threshold: lower gives more, smaller segments (1.1 = the paper's COCO-Stuff setting)">
        Merge threshold τ{' '}
        <input
          key={p.tau ?? 'default'}
          type="number"
          min={0.05}
          max={10}
          step={0.05}
          defaultValue={p.tau ?? 1.1}
          data-testid="diffseg-tau"
          onChange={(e) => {
            const v = e.target.valueAsNumber;
            if (v > 0 && v <= 10) setDiffSegParams({ ...p, tau: v });
          }}
        />
      </label>
      <label className="small" title="Snap outlines to the image's colour edges instead of the model's 8-pixel attention cells">
        <input type="checkbox" checked={p.guided ?? true} data-testid="diffseg-guided" onChange={(e) => setDiffSegParams({ ...p, guided: e.target.checked })} /> Outlines follow
        image edges
      </label>
      <label className="small" title="k-means refinement of the merged segments (slower)">
        <input type="checkbox" checked={p.refine ?? false} onChange={(e) => setDiffSegParams({ ...p, refine: e.target.checked })} /> k-means refinement
      </label>
      {changed && (
        <button className="small" onClick={() => setDiffSegParams({})}>
          Defaults
        </button>
      )}
    </details>
  );
}

/** What to do when the chosen model is not there: choose the test fixture (one button), or convert a real model. */
function NoModelNote({ model }: { model: string }) {
  return (
    <div className="segment-note" data-testid="diffseg-error" role="alert">
      <p>
        <strong>{model ? `The model “${model}” is not installed.` : 'No segmentation model is installed.'}</strong>
      </p>
      <p>To try DiffSeg now, choose “{FIXTURE_LABEL}” under Model: a tiny demonstration model for flat-coloured shapes.</p>
      <button onClick={() => setDiffSegModel('fixture')}>Use the test fixture</button>
      <p>For real images, convert a Stable Diffusion 1.x checkpoint once (README, “Models”), then choose it here:</p>
      <code>npx difflabel models convert &lt;checkpoint&gt; --out resources/models/sd15</code>
    </div>
  );
}

export function SegmentPanel({
  imageId,
  tool,
  click,
  annotations,
  onAccept,
  onClickTool,
  onProposalsStored,
  onDeleteProposals,
  onMessage,
}: {
  imageId: number;
  tool: string;
  click: ClickSegment;
  annotations: Annotation[];
  onAccept(): void;
  onClickTool(): void;
  onProposalsStored(): void;
  onDeleteProposals(ids: number[]): void;
  onMessage(msg: string): void;
}) {
  const model = useDiffSegModel();
  const noModel = useNoModel();
  const [job, setJob] = useState<{ id: string; imageId: number } | null>(null);
  const [jobError, setJobError] = useState<string | null>(null);
  useEffect(() => setJobError(null), [model]);
  const proposals = annotations.filter(isProposal).map((a) => a.id);

  // Jobs can finish before their start call answers (a small image, a warm cache): keep the recent endings.
  const finished = useRef(new Map<string, Job>());
  const jobRef = useRef(job);
  jobRef.current = job;
  // The JobBar's summary says how it went; a failure also stays here, next to the button.
  const settle = (j: Job) => {
    setJob(null);
    const r = j.result as BatchReport | undefined;
    const failed = j.state === 'failed' ? (j.error ?? 'unknown error') : r?.failed[0]?.error;
    if (failed) {
      setJobError(failed);
      onMessage(`Segment everything failed: ${failed}`);
    }
    onProposalsStored();
  };
  const settleRef = useRef(settle);
  settleRef.current = settle;
  useEffect(
    () =>
      client.on('job.finished', (j) => {
        finished.current.set(j.id, j);
        if (jobRef.current?.id === j.id) settleRef.current(j);
      }),
    [],
  );

  const everything = () => {
    setJobError(null);
    setJob({ id: '', imageId });
    diffseg.segment([imageId], model).then(
      (r) => {
        const done = finished.current.get(r.jobId);
        if (done) settle(done);
        else setJob((jobRef.current = { id: r.jobId, imageId }));
      },
      (e: Error) => {
        setJob(null);
        setJobError(e.message);
        onMessage(e.message);
      },
    );
  };

  const pos = click.points.filter((p) => p.positive).length;
  const neg = click.points.length - pos;
  const error = click.error ?? jobError;
  return (
    <section className="panel-section segment-panel" data-testid="segment-panel">
      <h3>DiffSeg</h3>
      <ModelSelect compact />
      <DiffSegSettingsEditor />
      <div className="segment-row">
        {tool === 'click' ? (
          <span className="small" data-testid="click-info">
            {click.points.length === 0
              ? 'Click an object: + left click, − right click'
              : `${pos} + / ${neg} − · ${click.status === 'attention' ? 'computing attention…' : click.status === 'working' ? 'segmenting…' : click.mask ? `${click.area} px${click.last ? ` · ${Math.round(click.last.ms)} ms${click.last.cached ? '' : ' (attention computed)'}` : ''}` : '—'}`}
          </span>
        ) : (
          <button onClick={onClickTool} title="Click segment tool (C)">
            Click segment (C)
          </button>
        )}
      </div>
      {tool === 'click' && click.points.length > 0 && (
        <div className="segment-row">
          <button className="primary" onClick={onAccept} disabled={!click.mask || click.area === 0} data-testid="click-accept" title="Accept as a mask of the current category (Enter)">
            Accept ⏎
          </button>
          <button onClick={() => click.clear()} title="Clear the points (Esc)">
            Clear
          </button>
        </div>
      )}
      <div className="segment-row">
        <button onClick={everything} disabled={job !== null} data-testid="segment-everything" title="Unsupervised proposals for the whole image, stored unassigned">
          {job ? 'Segmenting…' : 'Segment everything'}
        </button>
        <button onClick={() => onDeleteProposals(proposals)} disabled={!proposals.length} data-testid="delete-proposals" title="Delete the unassigned DiffSeg proposals of this image">
          Delete proposals{proposals.length ? ` (${proposals.length})` : ''}
        </button>
      </div>
      {error &&
        (noModel ? (
          <NoModelNote model={model} />
        ) : (
          <p className="segment-error error small" data-testid="diffseg-error">
            {error}
          </p>
        ))}
    </section>
  );
}

/** "Segment everything" over every image, or over those the status filter / path search shows (a job). */
export function SegmentBatchButton({ filter, onMessage }: { filter: ImageFilter; onMessage?(msg: string): void }) {
  const model = useDiffSegModel();
  const [starting, setStarting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const filtered = !!filter.status || !!filter.missing || !!filter.proposals || !!filter.search;
  const start = async () => {
    setStarting(true);
    setError(null);
    try {
      const ids = filtered ? await filteredImageIds(filter) : undefined;
      if (ids && !ids.length) throw new Error('No images match the filter');
      await diffseg.segment(ids, model);
    } catch (e) {
      const msg = (e as Error).message;
      setError(msg);
      onMessage?.(msg);
    } finally {
      setStarting(false);
    }
  };
  return (
    <>
      <button onClick={() => void start()} disabled={starting} data-testid="segment-batch" title={`DiffSeg segment everything on ${filtered ? 'the images the filter shows' : 'every image'}: unassigned proposals`}>
        {filtered ? 'Segment filtered images' : 'Segment all images'}
      </button>
      {error && !onMessage && (
        <span className="error small" data-testid="diffseg-error">
          {error}
        </span>
      )}
    </>
  );
}
