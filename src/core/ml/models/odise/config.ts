// ODISE's feature extractor (odise/modeling/backbone/feature_extractor.py, meta_arch/ldm.py) as configuration: which
// SD taps feed the Mask2Former heads, how they are projected and grouped by stride, and the implicit captioner's sizes.
// Also every weight name and shape the heads of the feature extractor imply, under the checkpoint's names less
// `backbone.` (feature_projections.*) and `backbone.feature_extractor.` (the captioner).
import { conv, lin, norm } from '../shapes';

export interface OdiseFeatureConfig {
  /** Side of the square windows the image is cut into (backbone_in_size). */
  window: number;
  /** VAE encoder resnets whose INPUT is a feature (encoder_block_indices (5, 7) in diffusers names). */
  vaeEncoderTaps: string[];
  /** UNet up-block resnets whose concatenated input is a feature (unet_block_indices (2, 5, 8, 11)). */
  unetTaps: string[];
  /** VAE decoder resnets whose input is a feature (decoder_block_indices (2, 5)). */
  vaeDecoderTaps: string[];
  /** Strides are clamped into [minStride, maxStride] before grouping (feature_extractor.py:86-93). */
  minStride: number;
  maxStride: number;
  /** Channels of every projected feature; the bottlenecks are a quarter of it. */
  projectionDim: number;
  /** The SD context: tokens × width (the captioner's output), and the time embedding's width. */
  contextLength: number;
  contextDim: number;
  timeEmbedDim: number;
  /** The CLIP image embedding's width (projection_dim of the image tower). */
  clipDim: number;
  /** √ᾱ₀ and √(1 − ᾱ₀) of the "ldm_linear" schedule in float64 (q_sample at t = 0; gaussian_diffusion.py). */
  sqrtAlphaBar: number;
  sqrtOneMinusAlphaBar: number;
  /** SD's VAE scaling factor. */
  scalingFactor: number;
}

/**
 * √ᾱ₀ for SD's scaled-linear betas (0.00085 → 0.012 over 1000 steps, linspace of square roots, squared) in float64,
 * as ODISE's GaussianDiffusion computes them: ᾱ₀ = 1 − β₀ = 1 − 0.00085.
 */
const ALPHA_BAR_0 = 1 - 0.00085;

/** ODISE's label model with SD 1.3 and CLIP ViT-L/14-336 (odise_with_label.py:13-30). */
export const ODISE_FEATURE_CONFIG: Readonly<OdiseFeatureConfig> = {
  window: 512,
  vaeEncoderTaps: ['down_blocks.2.resnets.1', 'down_blocks.3.resnets.1'],
  unetTaps: [0, 1, 2, 3].map((i) => `up_blocks.${i}.resnets.2`),
  vaeDecoderTaps: ['up_blocks.0.resnets.2', 'up_blocks.1.resnets.2'],
  minStride: 4,
  maxStride: 32,
  projectionDim: 512,
  contextLength: 77,
  contextDim: 768,
  timeEmbedDim: 1280,
  clipDim: 768,
  sqrtAlphaBar: Math.sqrt(ALPHA_BAR_0),
  sqrtOneMinusAlphaBar: Math.sqrt(1 - ALPHA_BAR_0),
  scalingFactor: 0.18215,
};

export type TapSource = 'vae_encoder' | 'unet' | 'vae_decoder';

export interface FeatureTap {
  /** Index of its projection (feature_projections.i): encoder taps, then UNet taps, then decoder taps. */
  index: number;
  source: TapSource;
  /** The window graphs' name of it: `<source>.<module>.input`. */
  name: string;
  channels: number;
  /** Tap side within a window, and its stride after clamping. */
  size: number;
  stride: number;
}

/** The projected features s2…s5 by stride, each the sum of its taps' projections, in the reference's summation order. */
export interface FeatureGroup {
  name: string;
  stride: number;
  taps: FeatureTap[];
}

/** Groups taps by clamped stride, strides ascending, taps in index order within a group (_sorted_grouped_indices). */
export function groupTaps(taps: readonly FeatureTap[]): FeatureGroup[] {
  const byStride = new Map<number, FeatureTap[]>();
  for (const t of [...taps].sort((a, b) => a.index - b.index)) byStride.set(t.stride, [...(byStride.get(t.stride) ?? []), t]);
  return [...byStride.entries()].sort((a, b) => a[0] - b[0]).map(([stride, ts]) => ({ name: `s${Math.log2(stride)}`, stride, taps: ts }));
}

/** The projection and captioner weights for these taps (shapes under this file's names). */
export function odiseFeatureWeightShapes(c: OdiseFeatureConfig, taps: readonly FeatureTap[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const out = c.projectionDim;
  const mid = out / 4;
  for (const t of taps) {
    const p = `feature_projections.${t.index}.0`;
    // detectron2's Conv2d with a norm: no bias, the GroupNorm under `.norm`.
    if (t.channels !== out) {
      conv(m, `${p}.shortcut`, out, t.channels, 1, false);
      norm(m, `${p}.shortcut.norm`, out);
    }
    conv(m, `${p}.conv1`, mid, t.channels, 1, false);
    norm(m, `${p}.conv1.norm`, mid);
    conv(m, `${p}.conv2`, mid, mid, 3, false);
    norm(m, `${p}.conv2.norm`, mid);
    conv(m, `${p}.conv3`, out, mid, 1, false);
    norm(m, `${p}.conv3.norm`, out);
  }
  lin(m, 'clip_project.linear', c.contextDim, c.clipDim);
  m.set('clip_project.positional_embedding', [c.contextLength, c.contextDim]);
  m.set('alpha_cond', [1, c.contextLength, c.contextDim]);
  lin(m, 'time_embed_project.linear', c.timeEmbedDim, c.clipDim);
  m.set('time_embed_project.positional_embedding', [1, c.timeEmbedDim]);
  m.set('alpha_cond_time_embed', [c.timeEmbedDim]);
  return m;
}
