// ODISE's MaskCLIP (odise/modeling/meta_arch/clip.py:239-325): one CLIP image embedding per predicted mask, made
// inside the image tower. Q mask tokens, copies of the class token after ln_pre, go before the class token and the
// patches; a mask token may attend to the class token and to the patches its mask covers, nothing may attend to a
// mask token (not even itself), and the image tokens attend as in plain CLIP. The mask tokens after ln_post and the
// projection are the mask embeddings, which ODISE compares with "a photo of a {}." text embeddings.
import { GraphBuilder, type Value } from '../graph/builder';
import type { WeightSource } from '../weights/source';
import { clipEncoderLayer } from './clipEncoderLayer';
import { CLIP_MEAN, CLIP_STD } from './clipPreprocess';
import { clipVisionEmbeddings } from './clipVision';
import { gridSize, type ClipVisionConfig } from './clipVisionConfig';
import { addSizes, shapeOf, sizeOf, sliceSizes, type Size } from './mask2former/sizes';
import { Layers } from './nn';

export interface MaskClipBuildOptions {
  /** Also output `preprocessed_image` [B,3,S,S] and `attn_mask` [B,1,T,T] (0 or −∞, added to every head's scores). */
  debug?: boolean;
}

/**
 * Inputs `images` [B,3,H,W] in [0,1] (ODISE's unpadded-to-divisibility batch: each image at the top left, zeros
 * beyond) and `pred_masks` [B,Q,h,w] (mask logits at any size); output `mask_embed` [B,Q,projection_dim], not
 * normalised. Any image size, mask size and query count. float32 only.
 */
export function buildMaskClip(c: ClipVisionConfig, weights: WeightSource, opts: MaskClipBuildOptions = {}): { graph: GraphBuilder; outputs: string[] } {
  if (c.alpha_channel) throw new Error('MaskCLIP runs a plain CLIP image tower, not Alpha-CLIP');
  const g = new GraphBuilder('mask_clip');
  const L = new Layers(g, weights);
  const S = c.image_size;
  const D = c.hidden_size;
  const grid = gridSize(c);
  const outputs: string[] = [];
  const emit = (v: Value, name: string) => {
    g.output(v, name);
    outputs.push(name);
  };
  const images = g.input('images', 'float32', ['batch', 3, 'height', 'width']);
  const masks = g.input('pred_masks', 'float32', ['batch', 'queries', 'mask_height', 'mask_width']);
  const B = sizeOf(g, images, 0);
  const Q = sizeOf(g, masks, 1);
  // get_mask_embed: both resized bilinearly (F.interpolate, align_corners=False, no antialiasing) to the tower's size.
  const square = (x: Value) => g.resize(x, { sizes: shapeOf(g, [sizeOf(g, x, 0), sizeOf(g, x, 1), S, S]), mode: 'linear', coordinateTransformationMode: 'half_pixel' });
  // clip_preprocess: its Resize and CenterCrop leave an S×S image as it is; then Normalize with OpenAI's mean/std.
  const stat = (v: readonly number[]) => g.constant(v, 'float32', [1, 3, 1, 1]);
  const pixels = g.div(g.sub(square(images), stat(CLIP_MEAN)), stat(CLIP_STD));
  if (opts.debug) emit(pixels, 'preprocessed_image');
  // A patch is masked out for a query when its mask's sigmoid stays below 0.5 at every pixel of the patch.
  const pooled = g.op('MaxPool', [g.sigmoid(square(masks))], { kernel_shape: [c.patch_size, c.patch_size], strides: [c.patch_size, c.patch_size] },
    { outputs: [{ dtype: 'float32', shape: [null, null, grid, grid] }] })[0]!;
  const maskedPatch = g.reshape(g.less(pooled, 0.5), shapeOf(g, [B, Q, grid * grid])); // [B,Q,N]
  const attnMask = maskTokenAttention(g, maskedPatch, B, Q, grid * grid);
  if (opts.debug) emit(attnMask, 'attn_mask');

  const tokens = L.mod('vision_model', () => {
    const h = L.layerNorm(clipVisionEmbeddings(L, c, pixels, null), 'pre_layrnorm', c.layer_norm_eps); // [B,1+N,D]
    const cls = g.slice(h, [0], [1], [1]);
    let x = g.concat([g.expand(cls, shapeOf(g, [B, Q, D])), h], 1); // [B,Q+1+N,D]
    for (let i = 0; i < c.num_hidden_layers; i++)
      x = L.mod(`encoder.layers.${i}`, () => clipEncoderLayer(L, x, { heads: c.num_attention_heads, eps: c.layer_norm_eps, act: c.hidden_act, masks: [attnMask] })).out;
    return L.layerNorm(sliceSizes(g, x, 1, 0, Q), 'post_layernorm', c.layer_norm_eps);
  });
  emit(L.linear(tokens, 'visual_projection', false), 'mask_embed');
  return { graph: g, outputs };
}

/**
 * The additive attention mask [B,1,T,T] over the tokens [Q mask tokens, class token, N patches] (clip.py:296-321):
 * −∞ in the Q mask-token columns of every row, and in mask-token row q at the patches `maskedPatch[b,q]` marks.
 */
function maskTokenAttention(g: GraphBuilder, maskedPatch: Value, B: Size, Q: Size, N: number): Value {
  const blocked = (shape: Size[]) => g.expand(g.scalar(-Infinity), shapeOf(g, shape));
  const open = (shape: Size[]) => g.expand(g.scalar(0), shapeOf(g, shape));
  const maskRows = g.concat([open([B, Q, 1]), g.whereOp(maskedPatch, g.scalar(-Infinity), 0)], 2); // [B,Q,1+N]
  const imageColumns = g.concat([maskRows, open([B, 1 + N, 1 + N])], 1); // [B,T,1+N]
  const T = addSizes(g, Q, 1 + N);
  return g.unsqueeze(g.concat([blocked([B, T, Q]), imageColumns], 2), [1]);
}
