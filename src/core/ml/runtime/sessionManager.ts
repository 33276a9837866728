// In-process ONNX Runtime sessions: created lazily on first use, shared by key, released least-recently-used
// first when the memory budget is exceeded. Runs validate feeds against the model before calling ORT.
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { estimateModelBytes } from './modelSize';
import { createWithFallback, requestedProviders, summarizeProviders } from './providers';
import { tensorTypeOf, validateFeeds, validateOutputNames, zeroFeeds } from './tensors';
import {
  RunCancelledError,
  type Feeds,
  type InferenceHost,
  type ModelSpec,
  type Outputs,
  type ProviderStatus,
  type RunOptions,
  type SessionEntryState,
  type SessionInfo,
  type TensorData,
  type TensorType,
  type ValueInfo,
} from './types';

export interface SessionManagerOptions {
  /** Providers to try, in order; default: env DIFFLABEL_EXECUTION_PROVIDERS, else CUDA -> DirectML -> CoreML -> CPU as built. */
  providers?: readonly string[];
  /** Soft limit on the summed model estimates of loaded sessions; default unlimited. */
  memoryBudgetBytes?: number;
  /** Passed to every InferenceSession.create (threads, optimisation level, ...). */
  sessionOptions?: Omit<ort.InferenceSession.SessionOptions, 'executionProviders'>;
}

interface Entry {
  key: string;
  spec: ModelSpec;
  bytes: number;
  loading?: Promise<SessionInfo>;
  session?: ort.InferenceSession;
  info?: SessionInfo;
  busy: number;
  lastUsed: number;
  /** release() was called while runs were in flight: unload when the last one ends. */
  releaseWhenIdle?: boolean;
}

/**
 * No memory pattern: with it, ONNX Runtime plans one block for all activations during the first run and allocates it
 * in the second, beside what the arena already holds from the first (a 512² VAE encoder then kept 1.7 GB instead of
 * 1.1).
 * The CPU arena stays: without it every run takes fresh pages from the system for its activations and gives them back
 * after, and on this 2-vCPU machine that was most of a run: the SD VAE encoder at 512² took 20 s a run without the
 * arena and 3.1 s with it, Ref LDM-Seg's -f 11.9 s a query against 3.5 s (`npm run bench -- refldmseg --modes
 * f-fresh,f`). The price is memory: a session keeps the most its runs needed until it is released (the 512² VAE
 * encoder's process peaked at 1.3 GB).
 * Every CPU the process may use: ONNX Runtime's own default is one thread per physical core as it detects them, and
 * on a 2-vCPU machine it found one: the SD VAE decoder at 256² took 5.3 s on one thread, 3.0 s on two.
 */
export const CPU_THREADS = availableParallelism();
const SESSION_DEFAULTS: ort.InferenceSession.SessionOptions = { enableMemPattern: false, enableCpuMemArena: true, intraOpNumThreads: CPU_THREADS };

function valueInfo(m: ort.InferenceSession.ValueMetadata): ValueInfo {
  if (!m.isTensor) return { name: m.name, type: 'non-tensor', shape: [] };
  return { name: m.name, type: m.type as ValueInfo['type'], shape: [...m.shape] };
}

export class SessionManager implements InferenceHost {
  private readonly entries = new Map<string, Entry>();
  private readonly knownBadProviders = new Map<string, string>();
  /** Provider status of the latest session created for each key (kept after release: it is what the key ran on). */
  private readonly created = new Map<string, ProviderStatus>();
  private readonly requested: string[];
  private readonly budget: number;
  private clock = 0;

  constructor(private readonly options: SessionManagerOptions = {}) {
    this.requested = requestedProviders(options.providers);
    this.budget = options.memoryBudgetBytes ?? Infinity;
  }

  /** Declare a model under a key; nothing is loaded until it is used. Re-registering an unchanged spec is a no-op. */
  async register(key: string, spec: ModelSpec | string): Promise<void> {
    const s: ModelSpec = typeof spec === 'string' ? { path: spec } : { ...spec };
    const old = this.entries.get(key);
    if (old) {
      if (old.spec.path === s.path && old.spec.bytes === s.bytes && old.spec.warmUp === s.warmUp) return;
      if (old.busy > 0) throw new Error(`model "${key}" is running; cannot re-register it`);
      await this.unload(old);
    }
    this.entries.set(key, { key, spec: s, bytes: s.bytes ?? 0, busy: 0, lastUsed: 0 });
  }

  private entry(key: string): Entry {
    const e = this.entries.get(key);
    if (!e) throw new Error(`no model registered as "${key}" (registered: ${[...this.entries.keys()].join(', ') || 'none'})`);
    return e;
  }

  /** Create the session now (otherwise the first run does), returning what it accepts and where it runs. */
  load(key: string): Promise<SessionInfo> {
    const e = this.entry(key);
    if (e.info) {
      e.lastUsed = ++this.clock;
      return Promise.resolve(e.info);
    }
    e.loading ??= this.create(e).finally(() => {
      e.loading = undefined;
    });
    return e.loading;
  }

  private async create(e: Entry): Promise<SessionInfo> {
    const t0 = performance.now();
    e.bytes = e.spec.bytes ?? estimateModelBytes(e.spec.path);
    // Hold the entry while making room so it is not chosen as a victim itself.
    e.busy++;
    try {
      await this.makeRoom(e.bytes, e);
      const { value: session, status } = await createWithFallback(
        this.requested,
        (provider) => ort.InferenceSession.create(e.spec.path, { ...SESSION_DEFAULTS, ...this.options.sessionOptions, executionProviders: [provider] }),
        this.knownBadProviders,
      ).catch((err: Error) => {
        throw new Error(`cannot load model "${e.key}" from ${e.spec.path}: ${err.message}`);
      });
      const info: SessionInfo = {
        key: e.key,
        path: e.spec.path,
        bytes: e.bytes,
        inputs: session.inputMetadata.map(valueInfo),
        outputs: session.outputMetadata.map(valueInfo),
        provider: status,
        loadMs: 0,
      };
      e.session = session;
      this.created.set(e.key, status);
      if (e.spec.warmUp) {
        await session.run(toOrtFeeds(zeroFeeds(info.inputs)));
      }
      info.loadMs = performance.now() - t0;
      e.info = info;
      e.lastUsed = ++this.clock;
      return info;
    } finally {
      e.busy--;
    }
  }

  private loadedBytes(except?: Entry): number {
    let total = 0;
    for (const e of this.entries.values()) if (e !== except && e.session) total += e.bytes;
    return total;
  }

  /** Release idle sessions, least recently used first, until `bytes` more fit the budget (or none is idle). */
  private async makeRoom(bytes: number, except: Entry): Promise<void> {
    const idle = [...this.entries.values()]
      .filter((e) => e !== except && e.session && e.busy === 0)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    for (const victim of idle) {
      if (this.loadedBytes(except) + bytes <= this.budget) return;
      await this.unload(victim);
    }
  }

  private async unload(e: Entry): Promise<void> {
    e.releaseWhenIdle = false;
    const s = e.session;
    e.session = undefined;
    e.info = undefined;
    if (s) await s.release();
  }

  /**
   * Run a model. Feeds are checked against its inputs (names, dtypes, ranks, fixed and symbolic dims, element
   * counts) before ONNX Runtime is called; `outputNames` limits what is fetched (default: all outputs).
   */
  async run(key: string, feeds: Feeds, outputNames?: readonly string[], opts: RunOptions = {}): Promise<Outputs> {
    if (opts.signal?.aborted) throw new RunCancelledError();
    const e = this.entry(key);
    e.busy++;
    try {
      const info = await this.load(key);
      validateFeeds(key, info.inputs, feeds);
      if (outputNames) validateOutputNames(key, info.outputs, outputNames);
      if (opts.signal?.aborted) throw new RunCancelledError();
      const session = e.session!; // busy > 0: neither release() nor the LRU can take it meanwhile
      const ortFeeds = toOrtFeeds(feeds);
      const result = await (outputNames ? session.run(ortFeeds, [...outputNames]) : session.run(ortFeeds));
      if (opts.signal?.aborted) throw new RunCancelledError('inference run cancelled (its result was discarded)');
      const out: Outputs = {};
      for (const [name, t] of Object.entries(result)) {
        out[name] = { type: t.type as TensorType, data: t.data as TensorData, dims: [...t.dims] };
      }
      return out;
    } finally {
      e.busy--;
      e.lastUsed = ++this.clock;
      if (e.busy === 0 && e.releaseWhenIdle) await this.unload(e);
      // A session loaded while others were busy may have left the total over budget.
      if (this.loadedBytes() > this.budget) await this.makeRoom(0, e);
    }
  }

  /**
   * Release one session (it reloads lazily on next use) or, without a key, all of them. A session with runs in
   * flight is released when they finish.
   */
  async release(key?: string): Promise<void> {
    const list = key === undefined ? [...this.entries.values()] : [this.entry(key)];
    for (const e of list) {
      if (e.loading) await e.loading.catch(() => undefined);
      if (e.busy > 0) e.releaseWhenIdle = true;
      else await this.unload(e);
    }
  }

  /** The loaded session's info, if loaded. */
  info(key: string): SessionInfo | undefined {
    return this.entries.get(key)?.info;
  }

  providerStatus(): ProviderStatus | null {
    return summarizeProviders(this.requested, [...this.created.values()]);
  }

  async sessions(): Promise<SessionEntryState[]> {
    return [...this.entries.values()].map((e) => ({
      key: e.key,
      path: e.spec.path,
      loaded: !!e.session,
      bytes: e.bytes,
      busy: e.busy,
      lastUsed: e.lastUsed,
    }));
  }

  async dispose(): Promise<void> {
    await this.release();
    this.entries.clear();
  }
}

function toOrtFeeds(feeds: Feeds): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) {
    out[name] = new ort.Tensor(tensorTypeOf(t), t.data as never, [...t.dims]);
  }
  return out;
}
