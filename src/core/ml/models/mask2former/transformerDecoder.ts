// Mask2Former's MultiScaleMaskedTransformerDecoder (transformer_decoder/mask2former_transformer_decoder.py:207-448)
// and ODISE's subclass (odise/modeling/meta_arch/odise.py:622-776). Learnable queries attend to the three scales in
// turn (coarsest first), each cross-attention restricted to where the previous prediction's mask, resized to that
// scale, has sigmoid ≥ 0.5 (a query masked everywhere may attend everywhere); then self-attention and an FFN, all
// post-norm. After the learnable queries and after every layer the head predicts class logits and mask embeddings,
// whose product with the mask features gives the masks.
import { GraphBuilder, type Value } from '../../graph/builder';
import type { Dim } from '../../graph/shape';
import type { WeightSource } from '../../weights/source';
import { Layers } from '../nn';
import { FEATURE_LEVELS, hasInputProjection, type DecoderConfig } from './config';
import { mlp } from './mlp';
import { multiheadAttention } from './multiheadAttention';
import type { DebugTap } from './pixelDecoder';
import { pooledMaskEmbed, pseudoClassLogits, type PooledMaskEmbedResult } from './pooledMaskEmbed';
import { positionEmbeddingSine } from './positionEncoding';
import { mergeFirstTwo, shapeOf, sizeOf, type Size } from './sizes';

const NORM_EPS = 1e-5;

export interface DecoderPrediction {
  /** [B, Q, K+1]. */
  logits: Value;
  /** [B, Q, H, W] logits at the mask features' size. */
  masks: Value;
  /** The head's own mask embeddings [B, Q, mask_dim], which make `masks`. */
  maskEmbed: Value;
  /** ODISE: pooled mask embeddings, pooled features and the logit scale (by default for the last prediction only). */
  pooled?: PooledMaskEmbedResult;
  /** The next layer's attention mask, bool [B, 1, Q, h·w] at the next scale, true = may not attend (before the all-masked rule). */
  attnMask: Value;
}

/** forward_prediction_heads (:433-448; ODISE's :729-776); `pool`: make the pooled mask embeddings where the config has them. */
function predictionHeads(L: Layers, c: DecoderConfig, output: Value, maskFeatures: Value, target: { h: Size; w: Size }, pool: boolean): DecoderPrediction {
  const g = L.g;
  const d = L.layerNorm(output, 'decoder_norm', NORM_EPS);
  const logits = c.class_embed === 'linear' ? L.linear(d, 'class_embed') : pseudoClassLogits(L, d, c.num_classes);
  const maskEmbed = mlp(L, d, 'mask_embed');
  const flat = g.matmul(maskEmbed, g.reshape(maskFeatures, [0, 0, -1])); // einsum bqc,bchw->bqhw
  const masks = g.reshape(flat, shapeOf(g, [0, 0, sizeOf(g, maskFeatures, 2), sizeOf(g, maskFeatures, 3)]));
  const pooled = c.post_mask_embed && pool ? L.mod('post_mask_embed', () => pooledMaskEmbed(L, d, maskFeatures, masks)) : undefined;
  // F.interpolate(bilinear, align_corners=False) to the next scale, then sigmoid < 0.5, shared by every head.
  const resized = g.resize(masks, { sizes: shapeOf(g, [sizeOf(g, masks, 0), sizeOf(g, masks, 1), target.h, target.w]), mode: 'linear', coordinateTransformationMode: 'half_pixel' });
  const attnMask = g.unsqueeze(g.less(g.sigmoid(g.reshape(resized, [0, 0, -1])), 0.5), [1]);
  return { logits, masks, maskEmbed, pooled, attnMask };
}

export interface MaskedDecoderOptions {
  /** Pooled mask embeddings for every prediction, not only the last (nothing else uses them: each costs a pooling matmul at the mask size). */
  poolAll?: boolean;
  debug?: DebugTap;
}

/**
 * x: the three scales [B, in_channels, h_i, w_i], coarsest first; maskFeatures [B, mask_dim, H, W]. Returns the
 * dec_layers + 1 predictions in order (the last is the output, the others the auxiliary outputs).
 */
export function maskedTransformerDecoder(L: Layers, c: DecoderConfig, x: readonly Value[], maskFeatures: Value, o: MaskedDecoderOptions = {}): DecoderPrediction[] {
  const debug = o.debug;
  const g = L.g;
  const C = c.hidden_dim;
  if (x.length !== FEATURE_LEVELS) throw new Error(`the decoder takes ${FEATURE_LEVELS} scales, got ${x.length}`);
  const tokens = (v: Value) => g.transpose(g.reshape(v, [0, 0, -1]), [0, 2, 1]); // [B, hw, C], row-major
  const sizes = x.map((v) => ({ h: sizeOf(g, v, 2), w: sizeOf(g, v, 3) }));
  const pos = x.map((v) => tokens(positionEmbeddingSine(g, v, C / 2)));
  const levelEmbed = L.mod('level_embed', () => L.param('weight'));
  const src = x.map((v, i) => {
    const proj = hasInputProjection(c) ? L.conv(v, `input_proj.${i}`) : v;
    return tokens(g.add(proj, g.reshape(g.slice(levelEmbed, [i], [i + 1], [0]), [1, C, 1, 1])));
  });
  const B = sizeOf(g, x[0]!, 0);
  const Q = c.num_queries;
  const queryEmbed = L.mod('query_embed', () => g.unsqueeze(L.param('weight'), [0])); // [1, Q, C]
  let output = L.mod('query_feat', () => g.expand(g.unsqueeze(L.param('weight'), [0]), shapeOf(g, [B, Q, C])));

  const heads = (out: Value, level: number, last: boolean) => predictionHeads(L, c, out, maskFeatures, sizes[level]!, last || !!o.poolAll);
  const maskForDebug = (m: Value) => mergeFirstTwo(g, g.cast(g.expand(m, shapeOf(g, [B, c.nheads, Q, 1])), 'float32'));
  const predictions = [heads(output, 0, c.dec_layers === 0)];
  for (let i = 0; i < c.dec_layers; i++) {
    const level = i % FEATURE_LEVELS;
    const built = predictions[i]!.attnMask;
    debug?.(maskForDebug(built), `attn_mask.${i}`);
    // A query whose mask is empty at this scale attends everywhere (:398).
    const someOpen = g.greater(g.reduceMax(g.sub(1, g.cast(built, 'float32')), [-1], true), 0);
    const mask = g.op('And', [built, someOpen], {}, { outputs: [{ dtype: 'bool', shape: built.shape }] })[0]!;
    debug?.(maskForDebug(mask), `memory_mask.${i}`);
    output = L.mod(`transformer_cross_attention_layers.${i}`, () => {
      const a = L.mod('multihead_attn', () =>
        multiheadAttention(L, g.add(output, queryEmbed), g.add(src[level]!, pos[level]!), src[level]!, { heads: c.nheads, mask, keepProbs: !!debug }));
      if (a.probs) debug?.(a.probs, `debug.cross_attn_probs_headavg.${i}`);
      return L.layerNorm(g.add(output, a.out), 'norm', NORM_EPS);
    });
    output = L.mod(`transformer_self_attention_layers.${i}`, () => {
      const qk = g.add(output, queryEmbed);
      const a = L.mod('self_attn', () => multiheadAttention(L, qk, qk, output, { heads: c.nheads, keepProbs: !!debug }));
      if (a.probs) debug?.(a.probs, `debug.self_attn_probs_headavg.${i}`);
      return L.layerNorm(g.add(output, a.out), 'norm', NORM_EPS);
    });
    output = L.mod(`transformer_ffn_layers.${i}`, () => L.layerNorm(g.add(output, L.linear(g.relu(L.linear(output, 'linear1')), 'linear2')), 'norm', NORM_EPS));
    debug?.(g.transpose(output, [1, 0, 2]), `debug.query_features_after_layer.${i}`);
    predictions.push(heads(output, (i + 1) % FEATURE_LEVELS, i === c.dec_layers - 1));
  }
  debug?.(maskForDebug(predictions[c.dec_layers]!.attnMask), `attn_mask.${c.dec_layers}`);
  predictions.forEach((p, j) => debug?.(p.maskEmbed, `debug.mask_embed_mlp.${j}`));
  return predictions;
}

export interface DecoderBuildOptions {
  batch?: Dim;
  /** Static sizes [h, w] of the three scales (coarsest first) and of the mask features; any size when left out. */
  sizes?: { levels: [number, number][]; maskFeatures: [number, number] };
  /** Weight names' prefix, e.g. `sem_seg_head.predictor.` in an ODISE checkpoint. */
  prefix?: string;
  /** `aux_outputs.j.*`: the predictions before the last layer (training losses; pipelines do not need them). */
  aux?: boolean;
  /** Attention masks as built (`attn_mask.j`) and as used (`memory_mask.i`), `debug.*` attention maps, query features, MLP outputs. */
  debug?: boolean;
}

/**
 * Inputs `x.0..2` [B, in_channels, h, w] (the pixel decoder's multi_scale_features) and `mask_features`
 * [B, mask_dim, H, W]. Outputs `pred_logits` [B, Q, K+1] and `pred_masks` [B, Q, H, W]; with pooled mask embeddings
 * also `mask_embed` [B, Q, projection_dim], `mask_pooled_features` [B, Q, C] and `logit_scale` [1].
 */
export function buildMaskDecoder(c: DecoderConfig, weights: WeightSource, opts: DecoderBuildOptions = {}): { graph: GraphBuilder; outputs: string[] } {
  const g = new GraphBuilder('mask2former_decoder');
  const L = new Layers(g, weights, 'float32', opts.prefix ?? '');
  const B = opts.batch ?? 'batch';
  const outputs: string[] = [];
  const emit = (v: Value, name: string) => {
    g.output(v, name);
    outputs.push(name);
  };
  if (opts.sizes && opts.sizes.levels.length !== FEATURE_LEVELS) throw new Error(`give the sizes of ${FEATURE_LEVELS} scales, not ${opts.sizes.levels.length}`);
  const x = Array.from({ length: FEATURE_LEVELS }, (_, i) =>
    g.input(`x.${i}`, 'float32', [B, c.in_channels, ...(opts.sizes?.levels[i] ?? [`x${i}_height`, `x${i}_width`])]));
  const maskFeatures = g.input('mask_features', 'float32', [B, c.mask_dim, ...(opts.sizes?.maskFeatures ?? ['mask_height', 'mask_width'])]);
  const predictions = maskedTransformerDecoder(L, c, x, maskFeatures, { poolAll: opts.aux || opts.debug, debug: opts.debug ? emit : undefined });
  const emitPrediction = (p: DecoderPrediction, prefix: string) => {
    emit(p.logits, `${prefix}pred_logits`);
    emit(p.masks, `${prefix}pred_masks`);
    if (p.pooled) {
      emit(p.pooled.maskEmbed, `${prefix}mask_embed`);
      emit(p.pooled.maskPooledFeatures, `${prefix}mask_pooled_features`);
      emit(p.pooled.logitScale, `${prefix}logit_scale`);
    }
  };
  emitPrediction(predictions[predictions.length - 1]!, '');
  if (opts.aux) predictions.slice(0, -1).forEach((p, j) => emitPrediction(p, `aux_outputs.${j}.`));
  return { graph: g, outputs };
}
