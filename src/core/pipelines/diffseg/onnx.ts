// Small in-memory ONNX math graphs for DiffSeg post-processing: built once per shape/dtype key, sessions shared.
import * as ort from 'onnxruntime-node';
import type { GraphBuilder } from '../../ml/graph';

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/** The session for `key`, building its graph with `build` the first time. */
export function mathSession(key: string, build: () => GraphBuilder): Promise<ort.InferenceSession> {
  let s = sessions.get(key);
  if (!s) {
    s = ort.InferenceSession.create(build().toBytes(), { graphOptimizationLevel: 'all' });
    s.catch(() => sessions.delete(key));
    sessions.set(key, s);
  }
  return s;
}

/** Release every cached math session (tests, shutdown). */
export async function releaseMathSessions(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
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
