// Deformable DETR's multi-scale deformable attention (Mask2Former's ops/modules/ms_deform_attn.py:82-125) computed
// the way its CPU fallback does (ops/functions/ms_deform_attn_func.py:52-72): each head samples n_points locations per
// level with torch's grid_sample (bilinear, zero padding, align_corners=False: ONNX GridSample), weighted by a softmax
// over its levels × points. Called inside the module's scope (`self_attn`).
import type { Value } from '../../graph/builder';
import type { Layers } from '../nn';
import { floatSize, mergeFirstTwo, mulSizes, addSizes, shapeOf, sliceSizes, type Size } from './sizes';

/** One level of the flattened input: its map size and where its tokens start in `input`. */
export interface MsDeformAttnLevel {
  h: Size;
  w: Size;
  start: Size;
}

export interface MsDeformAttnOptions {
  heads: number;
  points: number;
  levels: readonly MsDeformAttnLevel[];
  /** [N, Len_in] bool, true = padding: those input tokens give zero values (:98-100). */
  paddingMask?: Value;
}

export interface MsDeformAttnResult {
  /** [N, Len_q, C]. */
  output: Value;
  /** The projected input [N, Len_in, M, D] (padding zeroed). */
  value: Value;
  /** [N, Len_q, M, L, P, 2], (x, y) in pixels of each level. */
  samplingOffsets: Value;
  /** [N, Len_q, M, L, P], summing to 1 over L × P. */
  attentionWeights: Value;
  /** [N, Len_q, M, L, P, 2], (x, y) with 0..1 the map's extent. */
  samplingLocations: Value;
  /** The sampled and weighted values before output_proj, [N, Len_q, M·D] (head-major). */
  coreOutput: Value;
}

/** Token ranges of levels laid out one after another (level_start_index). */
export function levelsOf(L: Layers, sizes: readonly { h: Size; w: Size }[]): MsDeformAttnLevel[] {
  let start: Size = 0;
  return sizes.map(({ h, w }) => {
    const level = { h, w, start };
    start = addSizes(L.g, start, mulSizes(L.g, h, w));
    return level;
  });
}

/**
 * query [N, Len_q, C]; reference [N or 1, Len_q, L, 2] (x, y) or [N or 1, Len_q, L, 4] boxes (cx, cy, w, h), 0..1 the
 * map's extent; input [N, Len_in, C] = every level's tokens (row-major) in `levels` order.
 */
export function msDeformAttn(L: Layers, query: Value, reference: Value, input: Value, o: MsDeformAttnOptions): MsDeformAttnResult {
  const g = L.g;
  const C = query.shape?.[2];
  if (typeof C !== 'number') throw new Error(`${g.currentScope}: the query's channels must be known`);
  const M = o.heads;
  const D = C / M;
  const nL = o.levels.length;
  const P = o.points;
  if (!Number.isInteger(D)) throw new Error(`${g.currentScope}: ${C} channels not divisible by ${M} heads`);
  const refDim = reference.shape?.[3];
  if (refDim !== 2 && refDim !== 4) throw new Error(`${g.currentScope}: reference points end in ${String(refDim)}, not 2 (points) or 4 (boxes)`);

  let projected = L.linear(input, 'value_proj');
  if (o.paddingMask) projected = g.whereOp(g.unsqueeze(o.paddingMask, [2]), 0, projected);
  const samplingOffsets = g.reshape(L.linear(query, 'sampling_offsets'), [0, 0, M, nL, P, 2]);
  const logits = g.reshape(L.linear(query, 'attention_weights'), [0, 0, M, nL * P]);
  const weights = g.softmax(logits, -1); // [N, Len_q, M, L·P]
  const attentionWeights = g.reshape(weights, [0, 0, M, nL, P]);

  const ref = g.unsqueeze(reference, [2, 4]); // [N, Len_q, 1, L, 1, 2|4]
  let samplingLocations: Value;
  if (refDim === 2) {
    // Offsets are in pixels of each level: x over its width, y over its height (:106-109).
    const normalizer = g.reshape(g.concat(o.levels.flatMap((l) => [floatSize(g, l.w), floatSize(g, l.h)]), 0), [1, 1, 1, nL, 1, 2]);
    samplingLocations = g.add(ref, g.div(samplingOffsets, normalizer));
  } else {
    // Boxes: offsets are in units of half the box over n_points (:110-112), in the reference's order of operations.
    const [xy, wh] = g.split(ref, [2, 2], 5);
    samplingLocations = g.add(xy!, g.mul(g.mul(g.div(samplingOffsets, P), wh!), 0.5));
  }

  // ms_deform_attn_core_pytorch: level l's values as [N·M, D, H_l, W_l], its grid [N·M, Len_q, P, 2] in [-1, 1].
  const grids = g.sub(g.mul(samplingLocations, 2), 1);
  const sampled = o.levels.map((l, i) =>
    g.scope(`level${i}`, () => {
      const tokens = sliceSizes(g, projected, 1, l.start, addSizes(g, l.start, mulSizes(g, l.h, l.w)));
      const maps = g.reshape(g.transpose(tokens, [0, 2, 1]), shapeOf(g, [-1, D, l.h, l.w]));
      const grid = mergeFirstTwo(g, g.transpose(g.squeeze(g.slice(grids, [i], [i + 1], [3]), [3]), [0, 2, 1, 3, 4]));
      return g.gridSample(maps, grid, { mode: 'bilinear', paddingMode: 'zeros', alignCorners: false }); // [N·M, D, Len_q, P]
    }),
  );
  // Weights [N·M, 1, Len_q, L·P], levels then points as the reference stacks the samples. Each level is weighted and
  // summed on its own, then the levels added: the reference's sum in another order, and a third faster on ONNX
  // Runtime's CPU than stacking the samples first (that concat and the broadcast multiply over the stack dominated).
  const w = g.unsqueeze(mergeFirstTwo(g, g.transpose(weights, [0, 2, 1, 3])), [1]);
  const perLevel = sampled.map((s, i) => g.reduceSum(g.mul(s, g.slice(w, [i * P], [(i + 1) * P], [3])), [-1], false));
  const summed = perLevel.slice(1).reduce((a, b) => g.add(a, b), perLevel[0]!); // [N·M, D, Len_q]
  const coreOutput = g.transpose(g.reshape(summed, [-1, C, 0]), [0, 2, 1]);
  return {
    output: L.linear(coreOutput, 'output_proj'),
    value: g.reshape(projected, [0, 0, M, D]),
    samplingOffsets,
    attentionWeights,
    samplingLocations,
    coreOutput,
  };
}
