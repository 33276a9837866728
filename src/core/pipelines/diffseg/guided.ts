// Image-guided outlines (not in the reference): proposals are S×S maps (8 px per cell at 512²), so the plain
// bilinear upsampling draws every outline through the cells, a few pixels off the object's edge. Here a map p (the
// labels pass one-hot maps of each cell's winner) goes through a fast guided filter (He & Sun 2015, colour guide):
// in every window of (2r+1)² cells p is fitted as a linear function of the cell-averaged colour, p ≈ a·I + b; the
// coefficients are box-averaged, upsampled and applied to the FULL-resolution colours, so a step in p lands where
// the colour steps. The filter is linear in p (one-hot maps still sum to 1 everywhere); in windows of one flat colour
// a = 0 and the result is the box mean of p, a majority vote over the window.
import type { GraphBuilder, Value } from '../../ml/graph';
import { resizeBilinear } from './resample';

export interface GuideOptions {
  /** Window radius in attention cells: windows are (2r+1)² cells. */
  radius: number;
  /** Regulariser added to the window's colour covariance (colours in [0,1]): colour steps well above √eps snap. */
  eps: number;
}

/** 7×7-cell windows; colour variation under ~0.1 (in [0,1]) counts as flat. Chosen on fixture scenes and photos (docs/diffseg.md). */
export const DEFAULT_GUIDE: GuideOptions = Object.freeze({ radius: 3, eps: 1e-2 });

/** [S, S] row-normalised box matrix: row i averages columns within r of i (window clamped at the edges). */
export function boxMatrix(S: number, r: number): Float32Array {
  const m = new Float32Array(S * S);
  for (let i = 0; i < S; i++) {
    const lo = Math.max(0, i - r), hi = Math.min(S - 1, i + r);
    for (let j = lo; j <= hi; j++) m[i * S + j] = 1 / (hi - lo + 1);
  }
  return m;
}

/** [out, inn] area-averaging matrix (out ≤ inn): row i is the mean of input span [i·inn/out, (i+1)·inn/out). */
export function areaMatrix(out: number, inn: number): Float32Array {
  const m = new Float64Array(out * inn);
  const f = inn / out;
  for (let i = 0; i < out; i++) {
    const a = i * f, b = (i + 1) * f;
    for (let j = Math.floor(a); j < Math.min(inn, Math.ceil(b)); j++) m[i * inn + j] = (Math.min(b, j + 1) - Math.max(a, j)) / f;
  }
  return Float32Array.from(m);
}

function transposed(m: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c]!;
  return t;
}

/**
 * Guided filter of proposals [k, S, S] with the colour image `guide` [3, H, W] (float, [0,1]) → [k, H, W]:
 * coefficients on the S×S grid (the guide area-averaged to it), applied at H×W.
 */
export function guidedUpsample(g: GraphBuilder, p: Value, guide: Value, S: number, H: number, W: number, o: GuideOptions): Value {
  const box = (x: Value) => {
    const B = boxMatrix(S, o.radius);
    return g.matmul(g.constant(B, 'float32', [S, S]), g.matmul(x, g.constant(transposed(B, S, S), 'float32', [S, S])));
  };
  // Guide on the cell grid: Il = Dh · I · Dwᵀ.
  const Il = g.matmul(g.constant(areaMatrix(S, H), 'float32', [S, H]), g.matmul(guide, g.constant(transposed(areaMatrix(S, W), S, W), 'float32', [W, S])));
  const mI = box(Il); // [3,S,S]
  const corr = box(g.mul(g.unsqueeze(Il, [1]), g.unsqueeze(Il, [0]))); // [3,3,S,S]
  const eye = g.constant([1, 0, 0, 0, 1, 0, 0, 0, 1].map((v) => v * o.eps), 'float32', [3, 3, 1, 1]);
  const cov = g.add(g.sub(corr, g.mul(g.unsqueeze(mI, [1]), g.unsqueeze(mI, [0]))), eye);
  const inv = invert3(g, cov, S); // [3,3,S,S]
  const mP = box(p); // [k,S,S]
  const mIp = box(g.mul(g.unsqueeze(Il, [0]), g.unsqueeze(p, [1]))); // [k,3,S,S]
  const covIp = g.sub(mIp, g.mul(g.unsqueeze(mI, [0]), g.unsqueeze(mP, [1])));
  const a = g.reduceSum(g.mul(g.unsqueeze(inv, [0]), g.unsqueeze(covIp, [1])), [2], false); // [k,3,S,S]: a_c = Σ_d inv_cd cov_d
  const b = g.sub(mP, g.reduceSum(g.mul(a, g.unsqueeze(mI, [0])), [1], false)); // [k,S,S]
  const coef = resizeBilinear(g, box(g.concat([a, g.unsqueeze(b, [1])], 1)), S, S, H, W); // [k,4,H,W]
  const [ca, cb] = g.split(coef, [3, 1], 1);
  return g.add(g.reduceSum(g.mul(ca!, g.unsqueeze(guide, [0])), [1], false), g.squeeze(cb!, [1]));
}

/** Per-pixel inverse of symmetric 3×3 matrices m [3,3,S,S] (adjugate / determinant). */
function invert3(g: GraphBuilder, m: Value, S: number): Value {
  const e = (i: number, j: number) => g.reshape(g.slice(m, [i, j], [i + 1, j + 1], [0, 1]), [S, S]);
  const E = [0, 1, 2].map((i) => [0, 1, 2].map((j) => e(i, j)));
  const x = (i: number, j: number) => E[i]![j]!;
  const minor = (a: number, b: number, c: number, d: number, f: number, h: number, i: number, j: number) =>
    g.sub(g.mul(x(a, b), x(c, d)), g.mul(x(f, h), x(i, j)));
  const adj = [
    [minor(1, 1, 2, 2, 1, 2, 2, 1), minor(0, 2, 2, 1, 0, 1, 2, 2), minor(0, 1, 1, 2, 0, 2, 1, 1)],
    [minor(1, 2, 2, 0, 1, 0, 2, 2), minor(0, 0, 2, 2, 0, 2, 2, 0), minor(0, 2, 1, 0, 0, 0, 1, 2)],
    [minor(1, 0, 2, 1, 1, 1, 2, 0), minor(0, 1, 2, 0, 0, 0, 2, 1), minor(0, 0, 1, 1, 0, 1, 1, 0)],
  ];
  const det = g.add(g.add(g.mul(x(0, 0), adj[0]![0]!), g.mul(x(0, 1), adj[1]![0]!)), g.mul(x(0, 2), adj[2]![0]!));
  const stacked = g.reshape(g.concat(adj.flat().map((v) => g.unsqueeze(v, [0])), 0), [3, 3, S, S]);
  return g.div(stacked, g.unsqueeze(det, [0, 1]));
}
