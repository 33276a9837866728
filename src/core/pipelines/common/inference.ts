// The one place that owns ONNX Runtime sessions for the pipelines:
// - the process's inference host (a worker thread: model inference never blocks the caller's thread), shared by every
//   pipeline and project, created on first use; runtime.status reports what its sessions run on;
// - small in-memory math graphs that run on the caller's thread (post-processing over large tensors, where sending
//   them to the worker would cost more than the work): one session per shape/dtype key, built once.
import * as ort from 'onnxruntime-node';
import type { GraphBuilder } from '../../ml/graph';
import { CPU_THREADS, runtimeStatus, WorkerSessionHost, type InferenceHost, type ProviderStatus } from '../../ml/runtime';

let sharedHost: WorkerSessionHost | null = null;

export function sharedInferenceHost(): InferenceHost {
  sharedHost ??= new WorkerSessionHost({ memoryBudgetBytes: Number(process.env['DIFFLABEL_MODEL_MEMORY'] ?? 8e9) });
  return sharedHost;
}

/** What inference in this process runs on: the shared host's sessions, or the expectation before the first one. */
export function inferenceStatus(): ProviderStatus {
  return runtimeStatus(sharedHost);
}

/** Stops the inference worker (its thread would keep a command-line process alive). */
export async function disposeSharedInferenceHost(): Promise<void> {
  const h = sharedHost;
  sharedHost = null;
  await h?.dispose();
}

const mathSessions = new Map<string, Promise<ort.InferenceSession>>();

/** The math session for `key`, building its graph with `build` the first time. */
export function mathSession(key: string, build: () => GraphBuilder): Promise<ort.InferenceSession> {
  let s = mathSessions.get(key);
  if (!s) {
    s = ort.InferenceSession.create(build().toBytes(), { graphOptimizationLevel: 'all', intraOpNumThreads: CPU_THREADS });
    s.catch(() => mathSessions.delete(key));
    mathSessions.set(key, s);
  }
  return s;
}

/** Release every math session (tests, shutdown). */
export async function releaseMathSessions(): Promise<void> {
  const all = [...mathSessions.values()];
  mathSessions.clear();
  for (const p of all) await (await p.catch(() => null))?.release();
}

export function f32(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}
export function f64(data: Float64Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float64', data, dims);
}
export function i64(data: ArrayLike<number>, dims: number[] = [data.length]): ort.Tensor {
  return new ort.Tensor('int64', BigInt64Array.from(Array.from(data, (v) => BigInt(v))), dims);
}
