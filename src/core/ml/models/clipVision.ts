// CLIP image tower as an ONNX graph: transformers' CLIPVisionModelWithProjection, which is openai's VisionTransformer
// under other names, and Alpha-CLIP's (a second patch convolution on an alpha input, added to the first). Every key
// layout is read under transformers' names (clipVisionWeights.ts maps openai's). Inputs are already preprocessed
// (clipPreprocess.ts): `pixel_values` [B,C,S,S] and, for Alpha-CLIP, `alpha` [B,1,S,S], at the config's image_size
// (neither transformers 4.38 nor openai interpolates the position embeddings).
import { GraphBuilder, Value } from '../graph/builder';
import type { Dim } from '../graph/shape';
import type { WeightSource } from '../weights/source';
import { clipEncoderLayer } from './clipEncoderLayer';
import { gridSize, type ClipVisionConfig } from './clipVisionConfig';
import { Layers, type ComputeDType } from './nn';

export interface ClipVisionBuildOptions {
  dtype?: ComputeDType;
  batch?: Dim;
  /** `patch_tokens` [B,N,D]: last_hidden_state without the class token, before ln_post (Ref LDM-Seg's UNet context). */
  patchTokens?: boolean;
  /** `pooler_output` [B,D]: the class token after post_layernorm (image_embeds before the projection). */
  pooled?: boolean;
  /** `embeddings` [B,1+N,D] (before pre_layrnorm), `patch_embeds` [B,D,g,g] and, for Alpha-CLIP, `alpha_patch_embeds`. */
  embeddings?: boolean;
  /** `hidden_states.0..L`: the pre_layrnorm output (the encoder input), then each layer's output. */
  hiddenStates?: boolean;
  /** `attn_probs.i` [B,1+N,1+N]: head-averaged attention probabilities of layer i (rows are queries). */
  attentionProbs?: boolean;
}

/**
 * Outputs `last_hidden_state` [B,1+N,D] (the encoder output with the class token first, NOT post-layernormed, as in
 * transformers) and `image_embeds` [B,P] (post_layernorm(class token) @ projection, not L2-normalised), plus what
 * the options ask for. Token 1 + r·g + c is the patch at row r, column c.
 */
export function buildClipVisionEncoder(c: ClipVisionConfig, weights: WeightSource, opts: ClipVisionBuildOptions = {}): { graph: GraphBuilder; outputs: string[] } {
  const dtype = opts.dtype ?? 'float32';
  const g = new GraphBuilder('clip_vision');
  const L = new Layers(g, weights, dtype);
  const B = opts.batch ?? 'batch';
  const S = c.image_size;
  const grid = gridSize(c);
  const tokens = grid * grid + 1;
  const outputs: string[] = [];
  const emit = (v: Value, name: string) => {
    g.output(g.cast(v, 'float32'), name);
    outputs.push(name);
  };
  const pixels = g.input('pixel_values', 'float32', [B, c.num_channels, S, S]);
  const alpha = c.alpha_channel ? g.input('alpha', 'float32', [B, 1, S, S]) : null;

  const last = L.mod('vision_model', () => {
    const emb = clipVisionEmbeddings(L, c, pixels, alpha, opts.embeddings ? emit : undefined);
    let h = L.layerNorm(emb, 'pre_layrnorm', c.layer_norm_eps);
    if (opts.hiddenStates) emit(h, 'hidden_states.0');
    for (let i = 0; i < c.num_hidden_layers; i++) {
      const r = L.mod(`encoder.layers.${i}`, () =>
        clipEncoderLayer(L, h, { heads: c.num_attention_heads, eps: c.layer_norm_eps, act: c.hidden_act, keepProbs: opts.attentionProbs }));
      if (r.probs) emit(r.probs, `attn_probs.${i}`);
      h = r.out;
      if (opts.hiddenStates) emit(h, `hidden_states.${i + 1}`);
    }
    return h;
  });
  emit(last, 'last_hidden_state');
  if (opts.patchTokens) emit(g.slice(last, [1], [tokens], [1]), 'patch_tokens');
  const pooled = L.mod('vision_model', () => L.layerNorm(g.squeeze(g.slice(last, [0], [1], [1]), [1]), 'post_layernorm', c.layer_norm_eps));
  if (opts.pooled) emit(pooled, 'pooler_output');
  emit(L.linear(pooled, 'visual_projection', false), 'image_embeds');
  return { graph: g, outputs };
}

/**
 * The tower's input tokens inside `vision_model`'s scope: the class token, then the patches row by row, position
 * embeddings added (before pre_layrnorm), [B,1+N,D]. `emit` receives the patch embeddings (`patch_embeds`,
 * `alpha_patch_embeds`) and `embeddings`.
 */
export function clipVisionEmbeddings(L: Layers, c: ClipVisionConfig, pixels: Value, alpha: Value | null, emit?: (v: Value, name: string) => void): Value {
  const g = L.g;
  const D = c.hidden_size;
  const grid = gridSize(c);
  const emb = L.mod('embeddings', () => {
    const patch = { stride: c.patch_size, pad: 0 };
    let pe = L.conv(g.cast(pixels, L.dtype), 'patch_embedding', patch); // [B,D,g,g]
    emit?.(pe, 'patch_embeds');
    if (alpha) {
      const ae = L.conv(g.cast(alpha, L.dtype), 'alpha_patch_embedding', patch);
      emit?.(ae, 'alpha_patch_embeds');
      pe = g.add(pe, ae);
    }
    const patches = g.transpose(g.reshape(pe, [0, D, grid * grid]), [0, 2, 1]); // [B,N,D], h-major
    const batch = g.slice(g.shape(pixels), [0], [1]);
    const cls = g.op('Expand', [g.reshape(L.param('class_embedding'), [1, 1, D]), g.concat([batch, g.int64s([1, D])], 0)], {},
      { outputs: [{ dtype: L.dtype, shape: [pixels.shape?.[0] ?? null, 1, D] }] })[0]!;
    const pos = L.mod('position_embedding', () => L.param('weight')); // [1+N,D], all of it: no interpolation
    return g.add(g.concat([cls, patches], 1), pos);
  });
  emit?.(emb, 'embeddings');
  return emb;
}
