// Mask2Former's MSDeformAttnPixelDecoder (pixel_decoder/msdeformattn.py:164-358): the coarsest transformer features
// are projected (1×1 conv + GroupNorm), refined together by a deformable-attention encoder (post-norm layers, ReLU
// FFN), then FPN levels carry them down to common_stride, where a 1×1 conv makes the mask features.
import { GraphBuilder, type Value } from '../../graph/builder';
import type { Dim } from '../../graph/shape';
import type { WeightSource } from '../../weights/source';
import { Layers } from '../nn';
import { ENCODER_POINTS, featuresByStride, fpnLevels, GN_GROUPS, transformerLevels, type PixelDecoderConfig } from './config';
import { levelsOf, msDeformAttn, type MsDeformAttnLevel } from './msDeformAttn';
import { positionEmbeddingSine } from './positionEncoding';
import { floatSize, rangeOf, shapeOf, sizeOf, sliceSizes } from './sizes';

/** torch's GroupNorm and LayerNorm default. */
const NORM_EPS = 1e-5;

export type DebugTap = (v: Value, name: string) => void;

export interface PixelDecoderResult {
  /** [B, mask_dim, H/common_stride, W/common_stride]. */
  maskFeatures: Value;
  /** The encoder's coarsest level (`transformer_encoder_features`). */
  encoderFeatures: Value;
  /** Three scales, the lowest resolution first: what the transformer decoder attends to. */
  multiScale: Value[];
}

/** Every level's sampling centres, (x, y) = ((w + 0.5)/W, (h + 0.5)/H) row by row: [1, ΣHW, 1, 2] (:141-153, no padding). */
function referencePoints(g: GraphBuilder, levels: readonly MsDeformAttnLevel[]): Value {
  const perLevel = levels.map((l) => {
    const centres = (n: typeof l.h) => g.div(g.add(rangeOf(g, n), 0.5), floatSize(g, n));
    const target = shapeOf(g, [l.h, l.w, 1]);
    const x = g.expand(g.reshape(centres(l.w), [1, -1, 1]), target);
    const y = g.expand(g.reshape(centres(l.h), [-1, 1, 1]), target);
    return g.reshape(g.concat([x, y], 2), [-1, 2]);
  });
  return g.reshape(g.concat(perLevel, 0), [1, -1, 1, 2]);
}

/** features: the backbone maps by name, [B, channels, H/stride, W/stride]. */
export function pixelDecoder(L: Layers, c: PixelDecoderConfig, features: Readonly<Record<string, Value>>, debug?: DebugTap): PixelDecoderResult {
  const g = L.g;
  const C = c.conv_dim;
  const feature = (name: string) => {
    const f = features[name];
    if (!f) throw new Error(`pixel decoder: no input feature '${name}'`);
    return f;
  };
  const levels = transformerLevels(c);
  const srcs = levels.map((f, i) => L.groupNorm(L.conv(feature(f.name), `input_proj.${i}.0`), `input_proj.${i}.1`, GN_GROUPS, NORM_EPS));
  const pos = levels.map((f) => positionEmbeddingSine(g, feature(f.name), C / 2));
  srcs.forEach((s, i) => debug?.(s, `debug.input_proj.${i}`));
  pos.forEach((p, i) => debug?.(g.expand(p, shapeOf(g, [sizeOf(g, srcs[i]!, 0), 1, 1, 1])), `debug.pos_embed.${i}`));

  const levelSizes = levelsOf(L, srcs.map((s) => ({ h: sizeOf(g, s, 2), w: sizeOf(g, s, 3) })));
  const encoded = L.mod('transformer', () => {
    const tokens = (x: Value) => g.transpose(g.reshape(x, [0, 0, -1]), [0, 2, 1]); // [B, HW, C], row-major
    const levelEmbed = L.param('level_embed');
    let src = g.concat(srcs.map(tokens), 1);
    const lvlPos = g.concat(pos.map((p, i) => g.add(tokens(p), g.reshape(g.slice(levelEmbed, [i], [i + 1], [0]), [1, 1, C]))), 1);
    const ref = referencePoints(g, levelSizes);
    debug?.(g.expand(ref, shapeOf(g, [sizeOf(g, src, 0), 1, levels.length, 1])), 'debug.encoder.reference_points');
    for (let j = 0; j < c.transformer_enc_layers; j++) {
      src = L.mod(`encoder.layers.${j}`, () => {
        const a = L.mod('self_attn', () =>
          msDeformAttn(L, g.add(src, lvlPos), ref, src, { heads: c.transformer_nheads, points: ENCODER_POINTS, levels: levelSizes }));
        debug?.(a.samplingLocations, `debug.encoder_layer.${j}.msda.sampling_locations`);
        debug?.(a.attentionWeights, `debug.encoder_layer.${j}.msda.attention_weights`);
        const x = L.layerNorm(g.add(src, a.output), 'norm1', NORM_EPS);
        return L.layerNorm(g.add(x, L.linear(g.relu(L.linear(x, 'linear1')), 'linear2')), 'norm2', NORM_EPS);
      });
      debug?.(src, `debug.encoder_layer.${j}`);
    }
    return src;
  });

  // Back to maps, level by level (:327-339).
  const out = levelSizes.map((l, i) =>
    g.reshape(g.transpose(sliceSizes(g, encoded, 1, l.start, i + 1 < levelSizes.length ? levelSizes[i + 1]!.start : sizeOf(g, encoded, 1)), [0, 2, 1]), shapeOf(g, [0, C, l.h, l.w])));
  // Extra FPN levels, top-down: the finer backbone feature (adapter_k) plus the coarser output upsampled (:343-351).
  const fine = featuresByStride(c).slice(0, fpnLevels(c));
  for (let k = fine.length; k >= 1; k--) {
    const x = feature(fine[k - 1]!.name);
    const cur = L.groupNorm(L.conv(x, `adapter_${k}`), `adapter_${k}.norm`, GN_GROUPS, NORM_EPS);
    const prev = out[out.length - 1]!;
    const up = g.resize(prev, { sizes: shapeOf(g, [sizeOf(g, prev, 0), C, sizeOf(g, cur, 2), sizeOf(g, cur, 3)]), mode: 'linear', coordinateTransformationMode: 'half_pixel' });
    out.push(g.relu(L.groupNorm(L.conv(g.add(cur, up), `layer_${k}`), `layer_${k}.norm`, GN_GROUPS, NORM_EPS)));
  }
  return { maskFeatures: L.conv(out[out.length - 1]!, 'mask_features'), encoderFeatures: out[0]!, multiScale: out.slice(0, 3) };
}

export interface PixelDecoderBuildOptions {
  batch?: Dim;
  /** The (padded) image size [H, W]: static feature sizes H/stride × W/stride. Any size when left out. */
  imageSize?: [number, number];
  /** Weight names' prefix, e.g. `sem_seg_head.pixel_decoder.` in an ODISE checkpoint. */
  prefix?: string;
  /** The `debug.*` outputs: input projections, position embeddings, reference points, every encoder layer and its sampling. */
  debug?: boolean;
}

/**
 * Inputs: one per backbone feature, named as in input_shape, [B, channels, H/stride, W/stride]. Outputs
 * `mask_features`, `transformer_encoder_features` and `multi_scale_features.0..2` (lowest resolution first).
 */
export function buildPixelDecoder(c: PixelDecoderConfig, weights: WeightSource, opts: PixelDecoderBuildOptions = {}): { graph: GraphBuilder; outputs: string[] } {
  const g = new GraphBuilder('mask2former_pixel_decoder');
  const L = new Layers(g, weights, 'float32', opts.prefix ?? '');
  const B = opts.batch ?? 'batch';
  const outputs: string[] = [];
  const emit = (v: Value, name: string) => {
    g.output(v, name);
    outputs.push(name);
  };
  const features: Record<string, Value> = {};
  for (const f of featuresByStride(c)) {
    let dims: [Dim, Dim] = [`${f.name}_height`, `${f.name}_width`];
    if (opts.imageSize) {
      const [H, W] = opts.imageSize;
      if (H % f.stride || W % f.stride) throw new Error(`image size ${H}×${W} is not a multiple of ${f.name}'s stride ${f.stride}`);
      dims = [H / f.stride, W / f.stride];
    }
    features[f.name] = g.input(f.name, 'float32', [B, f.channels, ...dims]);
  }
  const r = pixelDecoder(L, c, features, opts.debug ? emit : undefined);
  emit(r.maskFeatures, 'mask_features');
  emit(r.encoderFeatures, 'transformer_encoder_features');
  r.multiScale.forEach((v, i) => emit(v, `multi_scale_features.${i}`));
  return { graph: g, outputs };
}
