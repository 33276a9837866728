// Running jobs in words (what runs, how far, about how long is left) with a cancel button, and the outcome of a
// pipeline's batch as a summary until it is closed. The state lives in this module, not in a component: the grid
// and the canvas each show a JobBar, and switching between them must keep the time estimate and the summary.
import { useSyncExternalStore } from 'react';
import { BatchReport, type EventPayload, type Job } from '../../../shared/contract';
import { client } from '../client';
import { pipelineTitle, usePipelines } from '../canvas/pipelines';

type Progress = EventPayload<'job.progress'>;

interface Running extends Progress {
  /** The first progress seen (time, done): the rate since then gives the time left. */
  since: { at: number; done: number };
}

interface State {
  running: Running[];
  /** The latest finished pipeline job (its summary), until closed or until the next one starts. */
  finished: Job | null;
}

/** A job in words: a pipeline's jobs are of its id. */
function kindWords(kind: string): string {
  if (kind === 'index') return 'Indexing the folder';
  if (kind === 'models.add') return 'Adding a model';
  if (kind === 'models.verify') return 'Verifying a model';
  if (kind === 'generate') return 'Generating images (model calls)';
  const title = pipelineTitle(kind);
  return title ? `Segmenting images with ${title}` : kind;
}

let state: State = { running: [], finished: null };
const listeners = new Set<() => void>();
let subscribed = false;

function set(next: Partial<State>): void {
  state = { ...state, ...next };
  for (const l of listeners) l();
}

function onProgress(p: Progress): void {
  const old = state.running.find((r) => r.jobId === p.jobId);
  const since = old?.since ?? { at: Date.now(), done: p.done };
  const entry = { ...p, since };
  set({
    running: old ? state.running.map((r) => (r.jobId === p.jobId ? entry : r)) : [...state.running, entry],
    ...(pipelineTitle(p.kind) && !old ? { finished: null } : {}),
  });
}

function onFinished(job: Job): void {
  // A pipeline's batch (its result is a report, or it failed before one): the summary says how it went.
  const batch = pipelineTitle(job.kind) !== undefined || BatchReport.safeParse(job.result).success;
  set({ running: state.running.filter((r) => r.jobId !== job.id), ...(batch ? { finished: job } : {}) });
}

/** Events are followed from the first JobBar on, for the life of the page; jobs already running are asked for once. */
function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (!subscribed) {
    subscribed = true;
    client.on('job.progress', onProgress);
    client.on('job.finished', onFinished);
    client.call('jobs.list', {}).then(
      (jobs) => {
        for (const j of jobs) {
          if (j.state !== 'running' || state.running.some((r) => r.jobId === j.id)) continue;
          onProgress({ jobId: j.id, kind: j.kind, done: j.done, total: j.total, message: j.message });
        }
      },
      () => {},
    );
  }
  return () => listeners.delete(listener);
}

/** "about 40 s left", "about 3 min left"; null until one item has finished since the job was first seen. */
function timeLeft(r: Running, now = Date.now()): string | null {
  const done = r.done - r.since.done;
  if (done <= 0 || r.total <= r.done) return null;
  const s = ((now - r.since.at) / done) * (r.total - r.done) / 1000;
  if (s < 60) return `about ${Math.max(5, Math.round(s / 5) * 5)} s left`;
  if (s < 5400) return `about ${Math.round(s / 60)} min left`;
  return `about ${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min left`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The outcome of a pipeline's batch, in words, from its report (or its error when it could not run). */
function Summary({ job }: { job: Job }) {
  const r = BatchReport.safeParse(job.result).data;
  const close = () => set({ finished: null });
  const head = job.state === 'cancelled' ? 'Segmenting cancelled' : job.state === 'failed' ? 'Segmenting failed' : 'Segmenting finished';
  const left = r ? r.total - r.segmented - r.skipped - r.failed.length : 0;
  return (
    <div className={`job job-summary ${job.state}`} role="status" data-testid="job-summary">
      <span className="job-title">{head}</span>
      <span className="job-counts">
        {r ? (
          <>
            {plural(r.segmented, 'image')} segmented · {plural(r.proposals, 'proposal')} made · {r.skipped} skipped (already segmented with these settings) ·{' '}
            {r.failed.length} failed{left > 0 && ` · ${left} still to do (segment again to go on)`}
          </>
        ) : (
          job.error
        )}
      </span>
      {r && r.failed.length > 0 && (
        <details className="job-failures">
          <summary>Why they failed</summary>
          <ul>
            {r.failed.map((f) => (
              <li key={f.imageId}>
                <bdi dir="ltr">{f.path || `image ${f.imageId}`}</bdi>: {f.error}
              </li>
            ))}
          </ul>
        </details>
      )}
      <button className="icon" onClick={close} title="Close" aria-label="Close">
        ✕
      </button>
    </div>
  );
}

/** Progress of running jobs (indexing, batch runs) with a cancel button, then a batch run's summary. */
export function JobBar() {
  const { running, finished } = useSyncExternalStore(subscribe, () => state);
  usePipelines(); // their titles name the jobs
  if (!running.length && !finished) return null;
  return (
    <div className="jobs" data-testid="jobs">
      {running.map((p) => {
        const eta = timeLeft(p);
        return (
          <div className="job" key={p.jobId} role="status" data-testid="job">
            <span className="job-title">
              {kindWords(p.kind)} — {p.done} of {p.total}
              {eta && `, ${eta}`}
            </span>
            <progress max={p.total || 1} value={p.done} />
            <span className="job-message">{p.message}</span>
            <button onClick={() => client.call('jobs.cancel', { id: p.jobId })}>Cancel</button>
          </div>
        );
      })}
      {finished && <Summary job={finished} />}
    </div>
  );
}
