// Attention aggregation (DiffSeg step 1), as the reference's DiffSeg.aggregate_weights, in one ONNX graph.
import { GraphBuilder, type Value } from '../../ml/graph';
import { f32, mathSession } from '../common/inference';
import { squareSide } from './params';
import { resizeBilinear } from './resample';

/**
 * Per-resolution head- and layer-averaged self-attention maps, each [side², side²] row-major (query rows, key
 * columns); sides 64, 32, 16, 8 for SD 1.x at 512² (UNet outputs `self_attn_mean.64x64`, …).
 */
export type AttentionByResolution = Map<number, Float32Array>;

export interface AggregateOptions {
  /** Output side S (default: the largest side given). Every side must divide it. */
  side?: number;
  /**
   * Weight per side (the reference's `weight_ratio`); default side / Σ sides of the maps given, i.e. 64:32:16:8 / 120
   * (= 8:4:2:1 / 15, the same thing).
   */
  weights?: Map<number, number> | Record<number, number>;
}

/** The reference weights: each side over the sum of the sides present (get_weight_rato). */
export function resolutionWeights(sides: readonly number[]): Map<number, number> {
  const sum = sides.reduce((a, b) => a + b, 0);
  return new Map(sides.map((s) => [s, s / sum]));
}

function buildAggregate(sides: number[], weights: number[], S: number): GraphBuilder {
  // sides are in decreasing order. The query-grid repeat commutes with the sum, so the coarse resolutions are
  // summed on their own (smaller) query grids and broadcast up one level at a time; each level's weight and
  // 1/sum are folded into one per-query factor. The full S⁴ size is touched by three passes only (sum, scale,
  // add). Float rounding differs from the reference's (U/sum)·w running sum by an ulp or so.
  const g = new GraphBuilder('diffseg_aggregate');
  let acc: Value | null = null; // Σ over the coarser sides so far: [accSide, 1, accSide, 1, S²]
  let accSide = 0;
  for (let k = sides.length - 1; k >= 0; k--) {
    const s = sides[k]!;
    g.scope(`res${s}`, () => {
      const r = S / s;
      const a = g.input(`attn_${s}`, 'float32', [s * s, s * s]);
      // Keys as an image per query: [s², 1, s, s] → bilinear ×r (TF's resize: half-pixel centres, edge clamp).
      let m: Value = a;
      if (r !== 1) m = resizeBilinear(g, g.reshape(a, [s * s, s, s]), s, s, S, S);
      m = g.reshape(m, [s * s, S * S]);
      // Renormalise each query's map to sum 1 (after upsampling, as the reference) and weight it: one factor per query.
      const f = g.div(g.scalar(weights[k]!), g.reduceSum(m, [1], true));
      const q = accSide ? s / accSide : 1;
      // [s, 1, s, 1, S²] when alone, or split as [accSide, q, accSide, q, S²] to broadcast-add the coarser sum.
      const shp = acc ? [accSide, q, accSide, q, S * S] : [s, 1, s, 1, S * S];
      m = g.mul(g.reshape(m, shp), g.reshape(f, [...shp.slice(0, 4), 1]));
      if (acc) m = g.add(m, g.reshape(acc, [accSide, 1, accSide, 1, S * S]));
      acc = m;
      accSide = s;
    });
  }
  let out: Value = acc!;
  if (accSide !== S) {
    const q = S / accSide;
    out = g.expand(g.reshape(out, [accSide, 1, accSide, 1, S * S]), [accSide, q, accSide, q, S * S]);
  }
  // The output keeps its 5-D shape [.., .., .., .., S²]: its data is the S²×S² query-major matrix already, and a
  // graph-output Reshape would cost a full copy.
  g.output(out, 'aggregated');
  return g;
}

/**
 * The reference aggregation to S×S×S×S (S = 64 for SD at 512²): Float32Array of S²×S² in query-major order
 * (row q = y·S + x holds the S×S key map of query (y, x)). Each map's key dims are upsampled bilinearly
 * (half-pixel) to S×S, renormalised to sum 1 per query, its query dims repeated (nearest) to S×S, and the
 * resolutions summed with weights side/Σsides. The work runs in ONNX Runtime; memory ≈ 3 × S⁴ × 4 bytes.
 */
export async function aggregateAttention(maps: AttentionByResolution, opts: AggregateOptions = {}): Promise<Float32Array> {
  if (maps.size === 0) throw new RangeError('aggregateAttention: no attention maps');
  const sides = [...maps.keys()].sort((a, b) => b - a);
  for (const s of sides) {
    if (!Number.isInteger(s) || s < 1) throw new RangeError(`aggregateAttention: bad side ${s}`);
    const n = maps.get(s)!.length;
    if (n !== s ** 4) throw new RangeError(`aggregateAttention: the ${s}x${s} map has ${n} values, expected ${s}^4 = ${s ** 4}`);
  }
  const S = opts.side ?? sides[0]!;
  for (const s of sides) if (S % s !== 0) throw new RangeError(`aggregateAttention: side ${s} does not divide the output side ${S}`);
  const wmap = opts.weights
    ? new Map(Object.entries(opts.weights instanceof Map ? Object.fromEntries(opts.weights) : opts.weights).map(([k, v]) => [Number(k), v]))
    : resolutionWeights(sides);
  const weights = sides.map((s) => {
    const w = wmap.get(s);
    if (w === undefined || !Number.isFinite(w)) throw new RangeError(`aggregateAttention: no weight for side ${s}`);
    return w;
  });
  const key = `agg|${S}|${sides.join(',')}|${weights.join(',')}`;
  const sess = await mathSession(key, () => buildAggregate(sides, weights, S));
  const feeds: Record<string, ReturnType<typeof f32>> = {};
  for (const s of sides) feeds[`attn_${s}`] = f32(maps.get(s)!, [s * s, s * s]);
  const out = await sess.run(feeds);
  return out['aggregated']!.data as Float32Array;
}

/** Side S of an aggregated S²×S² tensor. */
export function aggregatedSide(agg: Float32Array): number {
  return squareSide(squareSide(agg.length, 'aggregated attention'), 'aggregated attention');
}
