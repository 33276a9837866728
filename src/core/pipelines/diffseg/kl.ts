// Symmetric KL between attention maps as GEMMs in ONNX Runtime:
//   D(x, y) = 0.5·KL(x‖y) + 0.5·KL(y‖x) = 0.5·(Σx·log x + Σy·log y − x·log yᵀ − y·log xᵀ)
// No epsilon inside the logs, as the reference (DiffSeg.KL): a map with an exact zero gets 0·log 0 = NaN
// (or +∞ against a zero in the other map), and NaN < τ is false — such a map merges with nothing, itself included.
import { GraphBuilder } from '../../ml/graph';
import * as ort from 'onnxruntime-node';
import { f32, f64, i64, mathSession } from '../common/inference';

function buildAnchorKL(n: number, d: number, keepLog: boolean): GraphBuilder {
  const g = new GraphBuilder('diffseg_kl0');
  const x = g.input('maps', 'float32', [n, d]);
  const idx = g.input('anchors', 'int64', ['k']);
  const tau = g.input('tau', 'float32', []);
  const logx = g.log(x);
  const ent = g.reduceSum(g.mul(x, logx), [1], false); // [n]  Σ x log x
  const a = g.gather(x, idx, 0); // [k, d]
  const loga = g.gather(logx, idx, 0);
  const enta = g.gather(ent, idx, 0); // [k]
  // cross[i, j] = a_i·log x_j + x_j·log a_i   (two GEMMs, B transposed inside Gemm)
  const c1 = g.op('Gemm', [a, logx], { transB: 1 }, { outputs: [{ dtype: 'float32', shape: [null, n] }] })[0]!;
  const c2 = g.op('Gemm', [loga, x], { transB: 1 }, { outputs: [{ dtype: 'float32', shape: [null, n] }] })[0]!;
  const kl = g.mul(g.sub(g.add(g.unsqueeze(enta, [1]), g.unsqueeze(ent, [0])), g.add(c1, c2)), 0.5); // [k, n]
  const bin = g.cast(g.less(kl, tau), 'float32'); // strict <, NaN → 0
  const count = g.reduceSum(bin, [1], true); // [k, 1]
  const props = g.div(g.matmul(bin, x), count); // mean of the matched maps; 0/0 = NaN for an empty row (as the reference)
  g.output(kl, 'kl');
  g.output(g.squeeze(count, [1]), 'count');
  g.output(props, 'proposals');
  if (keepLog) {
    g.output(logx, 'log');
    g.output(ent, 'ent');
  }
  return g;
}

export interface AnchorMergeResult {
  /** [k, n] distances from each anchor's map to every map (float32). */
  kl: Float32Array;
  /** Maps matched per anchor (0 only when the anchor's own map has a zero / NaN or τ ≤ 0). */
  count: Float32Array;
  /** [k, d] mean of the matched maps per anchor (NaN rows where count is 0). */
  proposals: Float32Array;
  /** With keepLog: log of every map [n, d] and Σ x log x per map [n] (what clicks need). */
  log?: Float32Array;
  ent?: Float32Array;
}

/**
 * Iteration 0: for every anchor row of `maps` ([n, d] row-stochastic), D to all n maps and the mean of the maps
 * with D < τ (strict). Float32 throughout (the reference: float16 here; see index.ts on threshold behaviour).
 */
export async function anchorMerge(
  maps: Float32Array, n: number, d: number, anchors: ArrayLike<number>, tau: number, keepLog = false,
): Promise<AnchorMergeResult> {
  if (maps.length !== n * d) throw new RangeError(`anchorMerge: ${maps.length} values for ${n}×${d}`);
  const s = await mathSession(`kl0|${n}|${d}|${keepLog}`, () => buildAnchorKL(n, d, keepLog));
  const out = await s.run({ maps: f32(maps, [n, d]), anchors: i64(anchors), tau: new ort.Tensor('float32', Float32Array.of(tau), []) });
  const r: AnchorMergeResult = { kl: out['kl']!.data as Float32Array, count: out['count']!.data as Float32Array, proposals: out['proposals']!.data as Float32Array };
  if (keepLog) {
    r.log = out['log']!.data as Float32Array;
    r.ent = out['ent']!.data as Float32Array;
  }
  return r;
}

function buildPairKL(d: number): GraphBuilder {
  const g = new GraphBuilder('diffseg_klpair');
  const p = g.input('maps', 'float64', ['k', d]);
  const logp = g.log(p);
  const ent = g.reduceSum(g.mul(p, logp), [1], false); // [k]
  const c = g.op('Gemm', [p, logp], { transB: 1 }, { outputs: [{ dtype: 'float64', shape: [null, null] }] })[0]!; // c[i,j] = p_i·log p_j
  const e = g.add(g.unsqueeze(ent, [1]), g.unsqueeze(ent, [0]));
  g.output(g.mul(g.sub(e, g.add(c, g.transpose(c, [1, 0]))), 0.5), 'kl');
  return g;
}

/** [k, k] symmetric-KL matrix between the k rows of `maps` (each of length d), in float64 as the reference's later iterations. */
export async function pairwiseKL(maps: Float64Array, k: number, d: number): Promise<Float64Array> {
  if (maps.length !== k * d) throw new RangeError(`pairwiseKL: ${maps.length} values for ${k}×${d}`);
  if (k === 0) return new Float64Array(0);
  const s = await mathSession(`klpair|${d}`, () => buildPairKL(d));
  const out = await s.run({ maps: f64(maps, [k, d]) });
  return out['kl']!.data as Float64Array;
}

/** Plain float64 JS D(x, y) with the reference's elementwise form (tests, baselines, single pairs). */
export function symmetricKL(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let k1 = 0, k2 = 0;
  for (let i = 0; i < x.length; i++) {
    const q = Math.log(x[i]!) - Math.log(y[i]!);
    k1 += x[i]! * q;
    k2 -= y[i]! * q;
  }
  return k1 / 2 + k2 / 2;
}
