// BigGAN's spectral norm as the grounding module's SegBlock convolutions use it (seg_module.py:117-202): every
// forward pass divides the weight by σ from ONE power iteration that starts at the stored vector u0. Done here once,
// when the weights are read, so the graph holds the normalised weights.
import { NORM_EPS } from './config';

export interface PowerIteration {
  /** The weight is divided by this. */
  sigma: number;
  /** The new u, which a call in train mode writes back into u0 (and sigma into sv0). */
  u: Float32Array;
}

/** F.normalize: x / max(‖x‖₂, eps). */
function normalize(x: Float64Array, eps: number): Float64Array {
  let s = 0;
  for (const v of x) s += v * v;
  const n = Math.max(Math.sqrt(s), eps);
  return x.map((v) => v / n);
}

/**
 * `power_iteration(W, [u0])` with one singular value (its Gram–Schmidt steps are then empty): W is the weight viewed
 * as `rows` × (in·kh·kw); v = normalize(u0·W), u = normalize(v·Wᵀ), σ = (v·Wᵀ)·uᵀ. Computed in float64.
 */
export function powerIteration(w: Float32Array, rows: number, u0: Float32Array, eps = NORM_EPS): PowerIteration {
  const cols = w.length / rows;
  if (!Number.isInteger(cols) || u0.length !== rows) throw new Error(`spectral norm: a ${rows}-row weight of ${w.length} values with a ${u0.length}-long u0`);
  const uw = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) uw[j]! += u0[i]! * w[i * cols + j]!;
  const v = normalize(uw, eps);
  const wv = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += v[j]! * w[i * cols + j]!;
    wv[i] = s;
  }
  const u = normalize(wv, eps);
  let sigma = 0;
  for (let i = 0; i < rows; i++) sigma += wv[i]! * u[i]!;
  return { sigma, u: Float32Array.from(u) };
}
