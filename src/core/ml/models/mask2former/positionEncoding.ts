// DETR's PositionEmbeddingSine as Mask2Former calls it (transformer_decoder/position_encoding.py:12-52, normalize=True,
// no mask): for a [B, C, H, W] feature map, channels [0, F) encode the row and [F, 2F) the column, F = C/2. With an
// all-false mask the cumulative sums are the 1-based indices, so y = (i + 1) / (H + 1e-6) · 2π and likewise x over W;
// channel 2k is sin(y / t_k) and 2k + 1 is cos(y / t_k), t_k = 10000^(2k / F). Computed in the graph from the map's
// size, in torch's float32 order of operations.
import type { GraphBuilder, Value } from '../../graph/builder';
import { floatSize, rangeOf, shapeOf, sizeOf, type Size } from './sizes';

const TEMPERATURE = 10000;
const EPS = 1e-6;
const SCALE = 2 * Math.PI;

/** [1, 2F, H, W] for the feature map x (the same for every image of the batch). */
export function positionEmbeddingSine(g: GraphBuilder, x: Value, numPosFeats: number): Value {
  return g.scope('pe_layer', () => {
    const H = sizeOf(g, x, 2);
    const W = sizeOf(g, x, 3);
    // dim_t = temperature ** (2 * (i // 2) / F): float32 arithmetic on the exponent, as torch does.
    const dimT = Float32Array.from({ length: numPosFeats }, (_, i) => TEMPERATURE ** Math.fround((2 * Math.floor(i / 2)) / numPosFeats));
    const even = Uint8Array.from({ length: numPosFeats }, (_, i) => (i % 2 === 0 ? 1 : 0));
    const table = (n: Size) => {
      // (index + 1) / (n + eps) * scale, then / dim_t → [n, F]; even channels sin, odd channels cos.
      const embed = g.mul(g.div(g.add(rangeOf(g, n), 1), g.add(floatSize(g, n), EPS)), SCALE);
      const arg = g.div(g.unsqueeze(embed, [1]), g.constant(dimT, 'float32', [1, numPosFeats]));
      return g.whereOp(g.constant(even, 'bool', [1, numPosFeats]), g.sin(arg), g.cos(arg));
    };
    const target = shapeOf(g, [numPosFeats, H, W]);
    const posY = g.expand(g.unsqueeze(g.transpose(table(H), [1, 0]), [2]), target); // [F, H, W]
    const posX = g.expand(g.unsqueeze(g.transpose(table(W), [1, 0]), [1]), target);
    return g.unsqueeze(g.concat([posY, posX], 0), [0]);
  });
}
