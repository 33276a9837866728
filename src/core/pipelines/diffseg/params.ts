// DiffSeg parameters and the reference's anchor grid (google/diffseg, diffseg/segmentor.py).

export interface DiffSegParams {
  /** KL merging threshold τ (strict `<`), one per iteration when a list. 1.1 = the COCO-Stuff setting, 0.9 Cityscapes. */
  tau: number | number[];
  /** Merging iterations N (the reference runs len(kl_threshold) = 3). A τ list sets it when `iterations` is not given. */
  iterations: number;
  /** Anchors per side M of the M×M sampling grid (reference NUM_POINTS = 16). */
  grid: number;
  /** Optional k-means refinement over all maps, initialised with the merged proposals (reference REFINEMENT). */
  refine: boolean;
  /**
   * Image-guided boundaries (guided.ts; NOT in the reference): segment outlines snap to the image's colour edges
   * instead of following the 8-px attention cells. false = the reference's plain bilinear upsampling.
   */
  guided: boolean;
}

/** The reference's defaults, plus guided boundaries (our addition, on by default). */
export const DEFAULT_DIFFSEG_PARAMS: DiffSegParams = Object.freeze({ tau: 1.1, iterations: 3, grid: 16, refine: false, guided: true }) as DiffSegParams;

/** Full parameters from a partial set. A τ list of length L gives L iterations unless `iterations` is set (then L must be ≥ it). */
export function resolveParams(p: Partial<DiffSegParams> = {}): DiffSegParams & { taus: number[] } {
  const iterations = p.iterations ?? (Array.isArray(p.tau) ? p.tau.length : DEFAULT_DIFFSEG_PARAMS.iterations);
  const tau = p.tau ?? DEFAULT_DIFFSEG_PARAMS.tau;
  const grid = p.grid ?? DEFAULT_DIFFSEG_PARAMS.grid;
  const refine = p.refine ?? DEFAULT_DIFFSEG_PARAMS.refine;
  const guided = p.guided ?? DEFAULT_DIFFSEG_PARAMS.guided;
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError(`DiffSeg: iterations must be an integer >= 1 (got ${iterations})`);
  if (!Number.isInteger(grid) || grid < 2) throw new RangeError(`DiffSeg: grid must be an integer >= 2 anchors per side (got ${grid})`);
  let taus: number[];
  if (Array.isArray(tau)) {
    if (tau.length < iterations) throw new RangeError(`DiffSeg: ${tau.length} thresholds for ${iterations} iterations`);
    taus = tau.slice(0, iterations);
  } else taus = Array(iterations).fill(tau);
  for (const t of taus) if (!Number.isFinite(t)) throw new RangeError(`DiffSeg: threshold ${t} is not a finite number`);
  return { tau, iterations, grid, refine, guided, taus };
}

/**
 * Anchor coordinates of the M×M grid on a side×side map, as the reference's generate_sampling_grid:
 * step = (side−1) // (M−1), start = ((side−1) − step·(M−1)) // 2; anchors in row-major order (first coordinate
 * indexes the query ROW, the reference's `attns[grid[:,0], grid[:,1]]`). side 64, M 16 → rows/cols 1, 5, …, 61.
 * Returns the flat query indices row·side + col.
 */
export function anchorGrid(points: number, side = 64): Int32Array {
  if (!Number.isInteger(points) || points < 2) throw new RangeError(`anchor grid: need >= 2 points per side (got ${points})`);
  const step = Math.floor((side - 1) / (points - 1));
  if (step < 1) throw new RangeError(`anchor grid: ${points} points do not fit on a ${side}-wide map`);
  const start = Math.floor((side - 1 - step * (points - 1)) / 2);
  const out = new Int32Array(points * points);
  for (let i = 0; i < points; i++) for (let j = 0; j < points; j++) out[i * points + j] = (start + i * step) * side + (start + j * step);
  return out;
}

/** Side of a square map stored as `n` values (n = side²), or an error naming what. */
export function squareSide(n: number, what: string): number {
  const s = Math.round(Math.sqrt(n));
  if (s * s !== n || s < 1) throw new RangeError(`${what}: ${n} values are not a square map`);
  return s;
}
