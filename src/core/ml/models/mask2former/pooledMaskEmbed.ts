// ODISE's replacements in the decoder's prediction head (odise/modeling/meta_arch/odise.py:910-1015): a class head
// that predicts "some class" for every query, and mask embeddings re-made from the mask features pooled under each
// query's own mask, which ODISE compares with text embeddings. Called inside the module's scope (`post_mask_embed`).
import type { Value } from '../../graph/builder';
import type { Layers } from '../nn';
import { mlp } from './mlp';
import { shapeOf, sizeOf } from './sizes';

const NORM_EPS = 1e-5;
/** clamp(exp(logit_scale), max=100) (:1004). */
const MAX_LOGIT_SCALE = 100;

/** PseudoClassEmbed (:910-920): logits 1 for each of the K classes and 0 for "no object", [B, Q, K+1]. */
export function pseudoClassLogits(L: Layers, decoderOutput: Value, numClasses: number): Value {
  const g = L.g;
  const row = g.constant(Float32Array.from({ length: numClasses + 1 }, (_, i) => (i < numClasses ? 1 : 0)), 'float32', [1, 1, numClasses + 1]);
  return g.expand(row, shapeOf(g, [sizeOf(g, decoderOutput, 0), sizeOf(g, decoderOutput, 1), numClasses + 1]));
}

export interface PooledMaskEmbedResult {
  /** [B, Q, projection_dim]: what ODISE classifies by cosine similarity with text. */
  maskEmbed: Value;
  /** [B, Q, hidden]. */
  maskPooledFeatures: Value;
  /** [1]. */
  logitScale: Value;
}

/**
 * PooledMaskEmbed (:966-1015): mask features averaged under each query's hard mask (sigmoid > 0.5; MaskPooling,
 * :923-963), LayerNorm + Linear, plus the decoder output; then LayerNorm + a 3-layer MLP. decoderOutput [B, Q, C],
 * maskFeatures [B, C, H, W], predMasks [B, Q, H, W] (logits).
 */
export function pooledMaskEmbed(L: Layers, decoderOutput: Value, maskFeatures: Value, predMasks: Value): PooledMaskEmbedResult {
  const g = L.g;
  const hard = g.cast(g.greater(g.sigmoid(g.reshape(predMasks, [0, 0, -1])), 0.5), 'float32'); // [B, Q, HW]
  const share = g.div(hard, g.add(g.reduceSum(hard, [-1], true), 1e-8));
  const pooled = g.matmul(share, g.transpose(g.reshape(maskFeatures, [0, 0, -1]), [0, 2, 1])); // einsum bchw,bqhw->bqc
  const maskPooledFeatures = L.mod('pool_proj', () => g.add(L.linear(L.layerNorm(pooled, '0', NORM_EPS), '1'), decoderOutput));
  const maskEmbed = L.mod('mask_embed', () => mlp(L, L.layerNorm(maskPooledFeatures, '0', NORM_EPS), '1'));
  const logitScale = g.min(g.exp(g.reshape(L.param('logit_scale'), [1])), MAX_LOGIT_SCALE);
  return { maskEmbed, maskPooledFeatures, logitScale };
}
