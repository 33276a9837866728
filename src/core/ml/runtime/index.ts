/**
 * ml/runtime — the ONNX Runtime session layer every pipeline uses.
 *
 *   const host: InferenceHost = new WorkerSessionHost({ memoryBudgetBytes: 6e9 }); // or new SessionManager(...)
 *   await host.register('unet', { path: 'bundle/unet.onnx', warmUp: true });       // nothing loads yet
 *   const info = await host.load('unet');       // optional: create now; info.provider = ProviderStatus
 *   const out = await host.run('unet', { sample: { data: f32, dims: [1, 4, 64, 64] } }, ['noise_pred']);
 *   out.noise_pred.data // Float32Array, out.noise_pred.dims [1, 4, 64, 64]
 *   await host.release('unet'); await host.dispose();
 *
 * Execution providers: tried in the order CUDA -> DirectML -> CoreML -> CPU, limited to those this platform's
 * onnxruntime-node build ships; `providers` option or env DIFFLABEL_EXECUTION_PROVIDERS="cuda,cpu" forces a
 * list. Every session reports `ProviderStatus { requested, active, fallbacks: [{ provider, reason }] }`, e.g.
 * CUDA skipped with "CUDA provider library not found (...)". A non-CPU failure falls through to the next;
 * a CPU failure is the model's problem and is thrown as "cannot load model ...".
 * host.providerStatus() sums up what the sessions created so far got (null before the first);
 * runtimeStatus(host) answers with it, or with expectedProviderStatus() until a session exists.
 *
 * Sessions: created lazily on first run (or load), shared by key, estimated at the .onnx size plus its external
 * data files (or ModelSpec.bytes); when a new load would exceed `memoryBudgetBytes`, idle sessions are released
 * least recently used first (busy ones never; a model larger than the budget still loads alone: soft limit).
 * release(key?) frees explicitly (deferred until running calls end). warmUp runs once on zero inputs.
 *
 * run(): feeds are {data, dims, type?}; names, dtypes, ranks, fixed dims, symbolic dims (same name = same size
 * across inputs) and element counts are checked before ORT is called, throwing InputValidationError naming the
 * model and input. Outputs come back as {type, data, dims}.
 *
 * WorkerSessionHost runs a SessionManager in a worker thread (works from TS source through a tsx bootstrap):
 * calls go one at a time, FIFO, except that `RunOptions.priority: 'batch'` runs wait behind every queued
 * 'interactive' call (the default) — a click overtakes a queued segment-everything batch; input buffers are transferred (detached from the caller) and outputs
 * transferred back; `RunOptions.signal` or cancelQueued() cancel queued runs with RunCancelledError (a started
 * run's result is discarded); a crash or exit of the worker rejects the call in flight with its message and
 * the next call starts a fresh worker with the registrations replayed.
 */
export { CPU_THREADS, SessionManager, type SessionManagerOptions } from './sessionManager';
export { WorkerSessionHost, type WorkerSessionHostOptions } from './workerHost';
export { PROVIDER_ORDER, PROVIDERS_ENV, expectedProviderStatus, requestedProviders, runtimeStatus, staticProviderProblem, summarizeProviders } from './providers';
export { estimateModelBytes, externalDataFiles, externalDataLocations } from './modelSize';
export { validateFeeds, zeroFeeds } from './tensors';
export {
  InputValidationError,
  RunCancelledError,
  type Feeds,
  type InferenceHost,
  type ModelSpec,
  type Outputs,
  type ProviderFallback,
  type ProviderStatus,
  type RunOptions,
  type RunPriority,
  type SessionEntryState,
  type SessionInfo,
  type TensorData,
  type TensorInput,
  type TensorType,
  type TypedTensor,
  type ValueInfo,
} from './types';
