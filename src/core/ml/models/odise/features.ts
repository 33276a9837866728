// ODISE's features of one window as ONNX graphs (odise/modeling/meta_arch/ldm.py:424-718,
// backbone/feature_extractor.py:130-179). Four graphs, each from its own weights, so that the UNet's can share the
// bundle's UNet weights file and every graph holds only what it runs:
// - captioner: the window's CLIP image embedding → the gated context and time-embedding terms;
// - vae: encoder taps, the noised latent (fixed noise, t = 0) and the decoder taps of the clean latent, the decoder
//   cut after its last tap;
// - unet: the four concatenated inputs of the up blocks' last resnets at t = 0, cut after the last tap;
// - projection: the eight bottleneck projections, summed by stride into s2…s5.
import { GraphBuilder, type Value } from '../../graph/builder';
import type { WeightSource } from '../../weights/source';
import { buildClipVisionEncoder } from '../clipVision';
import { CLIP_MEAN, CLIP_STD } from '../clipPreprocess';
import type { ClipVisionConfig } from '../clipVisionConfig';
import { Layers, type ComputeDType } from '../nn';
import { buildUNet } from '../unet';
import type { UNetConfig } from '../unetConfig';
import { buildVaeDecoder, buildVaeEncoder, type VaeConfig } from '../vae';
import { bottleneckBlock } from './bottleneck';
import { groupTaps, type FeatureTap, type OdiseFeatureConfig, type TapSource } from './config';

export interface BuiltFeatureGraph {
  graph: GraphBuilder;
  outputs: string[];
}

/** A resnet's input as its model's graph names it (unet.ts, vae.ts). */
const inputOf = (module: string) => `${module}.input`;
/** A tap as the window graphs name it: the decoder and the UNet both have an `up_blocks.0.resnets.2`. */
const tapName = (source: TapSource, module: string) => `${source}.${inputOf(module)}`;

/**
 * image [1,3,W,W] in [0,1], noise [1,4,W/8,W/8] → the encoder taps, `noised_latent` = √ᾱ₀·z + √(1−ᾱ₀)·noise with
 * z = scale·posterior mean (ldm.py:556-598), and the decoder taps of the clean z (post_quant_conv(z / scale)).
 */
export function buildOdiseVae(c: OdiseFeatureConfig, vae: VaeConfig, weights: WeightSource, dtype: ComputeDType = 'float32'): BuiltFeatureGraph {
  const W = c.window;
  const encTaps = c.vaeEncoderTaps.map(inputOf);
  const decTaps = c.vaeDecoderTaps.map(inputOf);
  const enc = buildVaeEncoder(vae, weights, { dtype, batch: 1, height: W, width: W, features: encTaps }).graph;
  const latent = W / 2 ** (vae.block_out_channels.length - 1);
  const dec = buildVaeDecoder(vae, weights, { dtype, batch: 1, height: latent, width: latent, features: decTaps }).graph;
  const g = new GraphBuilder('odise_vae');
  const image = g.input('image', 'float32', [1, 3, W, W]);
  const noise = g.input('noise', 'float32', [1, vae.latent_channels, latent, latent]);
  const e = g.include(enc, { image: g.sub(g.mul(image, 2), 1) }, [...encTaps, 'latent_mean'].map((n) => enc.value(n)));
  for (const m of c.vaeEncoderTaps) g.output(e(enc.value(inputOf(m))), tapName('vae_encoder', m));
  const z = g.mul(e(enc.value('latent_mean')), c.scalingFactor);
  g.output(g.add(g.mul(z, c.sqrtAlphaBar), g.mul(noise, c.sqrtOneMinusAlphaBar)), 'noised_latent');
  const d = g.include(dec, { latent: g.div(z, c.scalingFactor) }, decTaps.map((n) => dec.value(n)));
  for (const m of c.vaeDecoderTaps) g.output(d(dec.value(inputOf(m))), tapName('vae_decoder', m));
  return { graph: g, outputs: g.outputs.map((v) => v.name) };
}

/**
 * sample [1,4,h,w] (the noised latent), encoder_hidden_states [1,77,768] (the captioner's context), time_emb_add
 * [1,1280] → the concatenated inputs of the taps' resnets, at timestep 0.
 */
export function buildOdiseUNet(c: OdiseFeatureConfig, unet: UNetConfig, weights: WeightSource, latent: number, dtype: ComputeDType = 'float32'): BuiltFeatureGraph {
  const taps = c.unetTaps.map(inputOf);
  const { graph: full } = buildUNet(unet, weights, {
    dtype, batch: 1, height: latent, width: latent, textLength: c.contextLength, timesteps: 1, features: taps, omitNoisePred: true, timeEmbeddingInput: true,
  });
  // Only what the taps need is copied: the last up block's tail and the output head are left out.
  const g = new GraphBuilder('odise_unet');
  const map = g.include(full, { timestep: g.constant([0], 'float32', [1]) }, taps.map((t) => full.value(t)));
  for (const m of c.unetTaps) g.output(map(full.value(inputOf(m))), tapName('unet', m));
  return { graph: g, outputs: g.outputs.map((v) => v.name) };
}

/**
 * image [1,3,W,W] in [0,1], empty_context [1,77,768] (SD's text encoding of "") → `context` = E∅ + tanh(α_c) ⊙
 * (W_c·e + b_c + P_c) and `time_emb_add` = tanh(α_t) ⊙ (W_t·e + b_t + P_t), e the CLIP image embedding
 * (ldm.py:624-718). CLIP's preprocessing of a tensor (clip.py:86-94): bicubic resize (A = −0.75, no antialiasing)
 * to the tower's size, a centre crop that a square leaves as it is, OpenAI's mean and std.
 */
export function buildOdiseCaptioner(c: OdiseFeatureConfig, clip: ClipVisionConfig, clipWeights: WeightSource, weights: WeightSource, dtype: ComputeDType = 'float32'): BuiltFeatureGraph {
  const W = c.window;
  const S = clip.image_size;
  const tower = buildClipVisionEncoder(clip, clipWeights, { dtype, batch: 1 }).graph;
  const g = new GraphBuilder('odise_captioner');
  const L = new Layers(g, weights, dtype);
  const image = g.input('image', 'float32', [1, 3, W, W]);
  const empty = g.input('empty_context', 'float32', [1, c.contextLength, c.contextDim]);
  const resized = g.resize(image, { sizes: [1, 3, S, S], mode: 'cubic', coordinateTransformationMode: 'half_pixel' }); // ONNX's default cubic_coeff_a is torch's −0.75
  const stat = (v: readonly number[]) => g.constant(v, 'float32', [1, 3, 1, 1]);
  const pixels = g.div(g.sub(resized, stat(CLIP_MEAN)), stat(CLIP_STD));
  const embed = g.include(tower, { pixel_values: pixels }, [tower.value('image_embeds')])(tower.value('image_embeds')); // [1, 768]
  const positional = (m: string) => L.mod(m, () => g.add(g.unsqueeze(L.linear(g.cast(embed, dtype), 'linear'), [1]), L.param('positional_embedding')));
  const gated = (x: Value, gate: string) => g.mul(g.tanh(L.param(gate)), x);
  const context = g.add(empty, g.cast(gated(positional('clip_project'), 'alpha_cond'), 'float32'));
  const time = g.squeeze(gated(positional('time_embed_project'), 'alpha_cond_time_embed'), [1]); // [1, 1280]
  g.output(context, 'context');
  g.output(g.cast(time, 'float32'), 'time_emb_add');
  return { graph: g, outputs: ['context', 'time_emb_add'] };
}

/** What a window's taps are: their order (the projections' indices), width, side and clamped stride. */
export function featureTaps(c: OdiseFeatureConfig, vae: BuiltFeatureGraph, unet: BuiltFeatureGraph): FeatureTap[] {
  const taps: FeatureTap[] = [];
  const add = (source: TapSource, graph: GraphBuilder, modules: readonly string[]) => {
    for (const m of modules) {
      const [, channels, size] = graph.value(tapName(source, m)).shape as number[];
      const stride = Math.min(Math.max(c.window / size!, c.minStride), c.maxStride);
      taps.push({ index: taps.length, source, name: tapName(source, m), channels: channels!, size: size!, stride });
    }
  };
  add('vae_encoder', vae.graph, c.vaeEncoderTaps);
  add('unet', unet.graph, c.unetTaps);
  add('vae_decoder', vae.graph, c.vaeDecoderTaps);
  return taps;
}

/**
 * The taps (inputs by their names) → s2…s5 [1, projectionDim, W/s, W/s]: each tap resized to the window's side over
 * its clamped stride (F.interpolate's default nearest, the identity but where a stride was clamped), projected by its
 * bottleneck, and summed per stride (forward_features).
 */
export function buildOdiseProjection(c: OdiseFeatureConfig, taps: readonly FeatureTap[], weights: WeightSource, dtype: ComputeDType = 'float32'): BuiltFeatureGraph {
  const g = new GraphBuilder('odise_projection');
  const L = new Layers(g, weights, dtype);
  const inputs = new Map(taps.map((t) => [t.name, g.input(t.name, 'float32', [1, t.channels, t.size, t.size])]));
  const outputs: string[] = [];
  for (const group of groupTaps(taps)) {
    const side = c.window / group.stride;
    let sum: Value | null = null;
    for (const t of group.taps) {
      let x = g.cast(inputs.get(t.name)!, dtype);
      if (t.size !== side) x = g.resize(x, { sizes: [1, t.channels, side, side], mode: 'nearest', coordinateTransformationMode: 'asymmetric', nearestMode: 'floor' });
      const y = L.mod(`feature_projections.${t.index}`, () => bottleneckBlock(L, x, '0'));
      sum = sum ? g.add(sum, y) : y;
    }
    g.output(g.cast(sum!, 'float32'), group.name);
    outputs.push(group.name);
  }
  return { graph: g, outputs };
}
