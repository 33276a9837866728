// Optional k-means refinement, as the reference: sklearn KMeans(n_clusters=K, init=merged proposals, n_init=1)
// .fit(maps) — Lloyd iterations (max_iter 300, tol 1e-4 · mean per-feature variance, stop early when the labels
// no longer change), then each non-empty cluster's mean map becomes a proposal.
// Differences from sklearn: float32 distances/means in ONNX Runtime (sklearn: float64; near-ties can go another way);
// an emptied cluster keeps its previous centre (sklearn moves it to the farthest point); the final proposals are the
// means of the non-empty clusters in cluster order (the reference's `range(len(set(clusters)))` loop would skip the
// highest labels and emit a NaN map when a middle cluster is empty).
import { GraphBuilder } from '../../ml/graph';
import { f32, mathSession } from '../common/inference';

export interface KMeansOptions {
  maxIter?: number;
  /** Relative tolerance (sklearn's tol), scaled by the mean per-feature variance of the maps. */
  tol?: number;
}

function buildStep(n: number, d: number): GraphBuilder {
  const g = new GraphBuilder('diffseg_kmeans_step');
  const x = g.input('maps', 'float32', [n, d]);
  const c = g.input('centers', 'float32', ['k', d]);
  // argmin ||x − c||² = argmin (||c||² − 2 x·c): the ||x||² term is the same for every centre.
  const cc = g.reduceSum(g.mul(c, c), [1], false); // [k]
  const xc = g.op('Gemm', [x, c], { transB: 1 }, { outputs: [{ dtype: 'float32', shape: [n, null] }] })[0]!; // [n, k]
  const dist = g.sub(g.unsqueeze(cc, [0]), g.mul(xc, 2));
  const lab = g.op('ArgMin', [dist], { axis: 1, keepdims: 0 }, { outputs: [{ dtype: 'int64', shape: [n] }] })[0]!;
  const k = g.slice(g.op('Shape', [c], {}, { outputs: [{ dtype: 'int64', shape: [2] }] })[0]!, [0], [1]);
  const range = g.op('Range', [g.scalar(0, 'int64'), g.reshape(k, []), g.scalar(1, 'int64')], {}, { outputs: [{ dtype: 'int64', shape: [null] }] })[0]!;
  const onehot = g.cast(g.equal(g.unsqueeze(lab, [1]), g.unsqueeze(range, [0])), 'float32'); // [n, k]
  g.output(g.op('Gemm', [onehot, x], { transA: 1 }, { outputs: [{ dtype: 'float32', shape: [null, d] }] })[0]!, 'sums');
  g.output(g.reduceSum(onehot, [0], false), 'counts');
  g.output(lab, 'labels');
  return g;
}

/** K-means over the n = S² maps of `agg` (rows), initialised with `init`; returns the non-empty clusters' mean maps. */
export async function kmeansRefine(agg: Float32Array, init: Float32Array[], opts: KMeansOptions = {}): Promise<Float32Array[]> {
  const K = init.length;
  if (K === 0) return [];
  const d = init[0]!.length;
  const n = agg.length / d;
  if (!Number.isInteger(n)) throw new RangeError('kmeansRefine: maps and centres differ in size');
  const maxIter = opts.maxIter ?? 300;
  // sklearn: tol · mean over features of the per-feature variance.
  let varSum = 0;
  {
    const mean = new Float64Array(d), sq = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let t = 0, o = i * d; t < d; t++) { const v = agg[o + t]!; mean[t] += v; sq[t] += v * v; }
    for (let t = 0; t < d; t++) { const m = mean[t]! / n; varSum += sq[t]! / n - m * m; }
  }
  const tol = (opts.tol ?? 1e-4) * (varSum / d);
  const s = await mathSession(`kmeans|${n}|${d}`, () => buildStep(n, d));
  const X = f32(agg, [n, d]);
  let centers = new Float32Array(K * d);
  init.forEach((c, i) => centers.set(c, i * d));
  let prev: BigInt64Array | null = null; // labels of the previous step
  let sums: Float32Array = new Float32Array(0), counts: Float32Array = new Float32Array(0), labels: BigInt64Array = new BigInt64Array(0);
  let converged = false;
  for (let it = 0; it < maxIter; it++) {
    const out = await s.run({ maps: X, centers: f32(centers, [K, d]) });
    sums = out['sums']!.data as Float32Array;
    counts = out['counts']!.data as Float32Array;
    labels = out['labels']!.data as BigInt64Array;
    const next = new Float32Array(K * d);
    let shift = 0;
    for (let k = 0; k < K; k++) {
      const cnt = counts[k]!;
      for (let t = 0, o = k * d; t < d; t++) {
        const v = cnt > 0 ? sums[o + t]! / cnt : centers[o + t]!;
        next[o + t] = v;
        const df = v - centers[o + t]!;
        shift += df * df;
      }
    }
    centers = next;
    if (prev && prev.every((v, i) => v === labels[i])) { converged = true; break; }
    prev = labels;
    if (shift <= tol) break;
  }
  if (!converged) {
    // sklearn re-assigns once against the final centres when it stopped on tolerance or max_iter.
    const out = await s.run({ maps: X, centers: f32(centers, [K, d]) });
    sums = out['sums']!.data as Float32Array;
    counts = out['counts']!.data as Float32Array;
  }
  const res: Float32Array[] = [];
  for (let k = 0; k < K; k++) {
    const cnt = counts[k]!;
    if (cnt > 0) res.push(Float32Array.from(sums.subarray(k * d, (k + 1) * d), (v) => v / cnt));
  }
  return res;
}
