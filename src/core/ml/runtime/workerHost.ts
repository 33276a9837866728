// WorkerSessionHost: the SessionManager API served from a worker thread, so the Electron main process and the
// web server never block on inference. Calls are queued and sent to the worker one at a time, FIFO except that
// 'batch' runs wait behind every queued 'interactive' call (a click must not wait for a whole batch); a queued
// run can be cancelled; a worker that crashes or exits rejects the call in flight with its message and is
// replaced by a fresh one (registrations are replayed) for the calls that follow.
import { Worker } from 'node:worker_threads';
import type { SessionManagerOptions } from './sessionManager';
import { transferables, type Request, type Response } from './workerProtocol';
import {
  RunCancelledError,
  type Feeds,
  type InferenceHost,
  type ModelSpec,
  type Outputs,
  type ProviderStatus,
  type RunOptions,
  type RunPriority,
  type SessionEntryState,
  type SessionInfo,
} from './types';

export interface WorkerSessionHostOptions extends SessionManagerOptions {
  /** Worker entry to start; default: the bundled sessionWorker (via a tsx bootstrap when running from source). */
  workerScript?: string | URL;
}

type RequestBody = Request extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

interface Job {
  body: RequestBody;
  transfer: ArrayBuffer[];
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
  key?: string;
  priority: RunPriority;
  settled?: boolean;
}

class WorkerError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

function defaultWorkerScript(): URL {
  // From source the module is a .ts file that plain Node cannot start as a worker.
  return import.meta.url.endsWith('.ts')
    ? new URL('./sessionWorkerBootstrap.mjs', import.meta.url)
    : new URL('./sessionWorker.js', import.meta.url);
}

export class WorkerSessionHost implements InferenceHost {
  private worker: Worker | null = null;
  private readonly queue: Job[] = [];
  private current: Job | null = null;
  private nextId = 1;
  private readonly registry = new Map<string, ModelSpec | string>();
  /** As of the worker's latest answer (a replaced worker starts without sessions: null again). */
  private providers: ProviderStatus | null = null;
  private disposed = false;
  private readonly managerOptions: SessionManagerOptions;
  private readonly script: string | URL;

  constructor(options: WorkerSessionHostOptions = {}) {
    const { workerScript, ...managerOptions } = options;
    this.managerOptions = managerOptions;
    this.script = workerScript ?? defaultWorkerScript();
  }

  register(key: string, spec: ModelSpec | string): Promise<void> {
    this.registry.set(key, spec);
    return this.call({ op: 'register', key, spec }) as Promise<void>;
  }

  load(key: string): Promise<SessionInfo> {
    return this.call({ op: 'load', key }) as Promise<SessionInfo>;
  }

  /**
   * Run in the worker. Input buffers that a view covers entirely are transferred, i.e. detached from the
   * caller's arrays; pass copies to keep them. Outputs arrive as transferred buffers.
   */
  run(key: string, feeds: Feeds, outputNames?: readonly string[], opts: RunOptions = {}): Promise<Outputs> {
    const body: RequestBody = { op: 'run', key, feeds, outputNames: outputNames ? [...outputNames] : undefined };
    return this.call(body, transferables(feeds), opts.signal, key, opts.priority) as Promise<Outputs>;
  }

  release(key?: string): Promise<void> {
    return this.call({ op: 'release', key }) as Promise<void>;
  }

  sessions(): Promise<SessionEntryState[]> {
    return this.call({ op: 'sessions' }) as Promise<SessionEntryState[]>;
  }

  /** Cancel queued (not yet started) runs, all or those of one model; returns how many were cancelled. */
  cancelQueued(key?: string): number {
    let n = 0;
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const job = this.queue[i]!;
      if (job.body.op !== 'run' || (key !== undefined && job.key !== key)) continue;
      this.queue.splice(i, 1);
      this.settle(job, () => job.reject(new RunCancelledError()));
      n++;
    }
    return n;
  }

  /** What the worker's sessions run on; answered here, so it never waits behind queued runs. */
  providerStatus(): ProviderStatus | null {
    return this.providers;
  }

  /** Number of calls waiting behind the one in flight. */
  get pending(): number {
    return this.queue.length;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    try {
      if (this.worker) await this.call({ op: 'dispose' });
    } finally {
      this.disposed = true;
      for (const job of this.queue.splice(0)) this.settle(job, () => job.reject(new Error('inference host disposed')));
      const w = this.worker;
      this.worker = null;
      await w?.terminate();
    }
  }

  private call(body: RequestBody, transfer: ArrayBuffer[] = [], signal?: AbortSignal, key?: string, priority: RunPriority = 'interactive'): Promise<unknown> {
    if (this.disposed) return Promise.reject(new Error('inference host disposed'));
    if (signal?.aborted) return Promise.reject(new RunCancelledError());
    return new Promise((resolve, reject) => {
      const job: Job = { body, transfer, resolve, reject, signal, key, priority };
      if (signal) {
        job.onAbort = () => {
          const i = this.queue.indexOf(job);
          if (i >= 0) {
            this.queue.splice(i, 1);
            this.settle(job, () => reject(new RunCancelledError()));
          } else if (this.current === job) {
            // ONNX Runtime cannot stop a started run: answer now, drop the result when it comes.
            this.settle(job, () => reject(new RunCancelledError('inference run cancelled (its result was discarded)')));
          }
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      const firstBatch = priority === 'batch' ? -1 : this.queue.findIndex((j) => j.priority === 'batch');
      if (firstBatch < 0) this.queue.push(job);
      else this.queue.splice(firstBatch, 0, job);
      this.pump();
    });
  }

  private settle(job: Job, fn: () => void): void {
    if (job.signal && job.onAbort) job.signal.removeEventListener('abort', job.onAbort);
    job.onAbort = undefined;
    if (job.settled) return; // e.g. a cancelled run's late answer
    job.settled = true;
    fn();
  }

  private pump(): void {
    if (this.current || this.queue.length === 0 || this.disposed) return;
    const job = this.queue.shift()!;
    this.current = job;
    const worker = this.ensureWorker();
    worker.ref(); // keep the process alive while a call is in flight...
    worker.postMessage({ ...job.body, id: this.nextId++ } as Request, job.transfer);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.script);
    this.worker = w;
    // Hidden bootstrap calls, answered before anything queued.
    let id = -1;
    w.postMessage({ id: id--, op: 'init', options: this.managerOptions } as Request);
    // Replay registrations into a fresh worker (after a crash); registering an unchanged spec again is a no-op.
    for (const [key, spec] of this.registry) w.postMessage({ id: id--, op: 'register', key, spec } as Request);
    w.on('message', (res: Response) => this.onMessage(res));
    w.on('error', (err) => this.onCrash(w, `inference worker crashed: ${err.message}`));
    w.on('exit', (code) => this.onCrash(w, `inference worker exited with code ${code}`));
    return w;
  }

  private onMessage(res: Response): void {
    this.providers = res.providers ?? null;
    if (res.id < 0) {
      // bootstrap failure: the worker is unusable; fail the call it was started for
      if (!res.ok && this.current) {
        const job = this.current;
        this.current = null;
        this.settle(job, () => job.reject(new WorkerError(res.error.name, res.error.message)));
        this.pump();
      }
      return;
    }
    const job = this.current;
    this.current = null;
    if (job) {
      this.settle(job, () =>
        res.ok ? job.resolve(res.result) : job.reject(new WorkerError(res.error.name, res.error.message)),
      );
    }
    this.pump();
    if (!this.current) this.worker?.unref(); // ...but an idle worker must not
  }

  private onCrash(w: Worker, message: string): void {
    if (this.worker !== w) return; // already replaced (or terminated by dispose)
    this.worker = null;
    w.removeAllListeners();
    void w.terminate();
    const job = this.current;
    this.current = null;
    if (job) this.settle(job, () => job.reject(new Error(message)));
    this.pump();
  }
}
