// Long work (indexing, batch segmentation, import) runs as jobs: progress events, cancel, one record each.
import { randomUUID } from 'node:crypto';
import type { EventPayload, Job } from '../../shared/contract';
import type { Rle } from '../../shared/masks';

/** An iterative pipeline's current mask on the image it is working on, or a generator's look at the image it samples. */
export type JobPreview = { imageId: number; mask: Rle } | { sample: NonNullable<EventPayload<'job.progress'>['sample']> };

export interface JobContext {
  signal: AbortSignal;
  progress(done: number, total: number, message?: string, preview?: JobPreview): void;
}

export interface JobListener {
  /** `preview`: the latest one not sent yet, if any. */
  progress(job: Job, preview?: JobPreview): void;
  finished(job: Job): void;
}

export class JobCancelled extends Error {
  constructor() {
    super('cancelled');
  }
}

export class JobManager {
  private readonly jobs = new Map<string, { job: Job; controller: AbortController; promise: Promise<Job> }>();
  /** Per running job: when its last progress event went out, and the timer that sends a held-back one. */
  private readonly sentAt = new Map<string, { at: number; pending?: NodeJS.Timeout; preview?: JobPreview }>();

  constructor(private readonly listener: JobListener, private readonly progressIntervalMs = 100) {}

  start(kind: string, run: (ctx: JobContext) => Promise<unknown>): Job {
    const job: Job = { id: randomUUID(), kind, state: 'running', done: 0, total: 0, message: '' };
    const controller = new AbortController();
    const ctx: JobContext = {
      signal: controller.signal,
      progress: (done, total, message = '', preview) => {
        Object.assign(job, { done, total, message });
        // Events are throttled: a folder of 100k files must not flood the UI. What the throttle holds back goes out
        // when the interval has passed, so a step that then runs long is what the UI shows, not the one before it.
        // A preview the throttle holds back goes out with the next event; a newer one replaces it.
        const s = this.sentAt.get(job.id) ?? { at: 0 };
        this.sentAt.set(job.id, s);
        if (preview) s.preview = preview;
        const send = () => {
          clearTimeout(s.pending);
          s.pending = undefined;
          s.at = Date.now();
          const p = s.preview;
          s.preview = undefined;
          this.listener.progress({ ...job }, p);
        };
        const wait = s.at + this.progressIntervalMs - Date.now();
        if (done === total || wait <= 0) send();
        else s.pending ??= setTimeout(() => job.state === 'running' && send(), wait).unref();
      },
    };
    const promise = (async () => {
      try {
        job.result = await run(ctx);
        job.state = controller.signal.aborted ? 'cancelled' : 'done';
      } catch (e) {
        job.state = controller.signal.aborted ? 'cancelled' : 'failed';
        job.error = e instanceof Error ? e.message : String(e);
      }
      clearTimeout(this.sentAt.get(job.id)?.pending);
      this.sentAt.delete(job.id);
      this.listener.finished({ ...job });
      return { ...job };
    })();
    this.jobs.set(job.id, { job, controller, promise });
    return { ...job };
  }

  list(): Job[] {
    return [...this.jobs.values()].map((j) => ({ ...j.job }));
  }

  get(id: string): Job | undefined {
    const j = this.jobs.get(id);
    return j && { ...j.job };
  }

  cancel(id: string): Job | undefined {
    const j = this.jobs.get(id);
    if (!j) return undefined;
    if (j.job.state === 'running') j.controller.abort();
    return { ...j.job };
  }

  /** Resolves when the job ends (for the CLI and tests). */
  wait(id: string): Promise<Job> {
    const j = this.jobs.get(id);
    if (!j) return Promise.reject(new Error(`no job ${id}`));
    return j.promise;
  }

  async cancelAll(): Promise<void> {
    for (const j of this.jobs.values()) if (j.job.state === 'running') j.controller.abort();
    await Promise.allSettled([...this.jobs.values()].map((j) => j.promise));
  }
}
