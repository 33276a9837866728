// Ref LDM-Seg's inference (wang-chaoyang/RefLDMSeg; docs/refldmseg.md): the query and the annotated examples
// ("support shots") letterboxed to 256², the shots through Alpha-CLIP with their masks as alpha and as the UNet's
// cross-attention mask, then -f (one UNet pass at t = 0 on the query's latent, modelf.py:49-80) or -n (20 DDPM steps
// on [noise ‖ query latent] with image and instruction guidance, modeln.py:47-94, prompter.py:23-72); the decoded
// pseudo-mask image, less mask_alpha × the query, is cropped, resized back, and foreground where channel 0 < 1.
import { encode, type Rle } from '../../../shared/masks';
import { alphaFromMask, ALPHA_MEAN, ALPHA_STD } from '../../ml/models/clipPreprocess';
import { DDPMScheduler, GaussianNoise, imageTextGuidance } from '../../ml/schedulers';
import type { RunOptions } from '../../ml/runtime';
import type { RgbImage } from '../common/frame';
import type { RefLdmSegModels } from './models';
import { letterbox, REFLDMSEG_SIZE, supportMask, supportTokenMask, type Letterbox } from './preprocess';
import { resizeBilinearPlanes, resizeLinearU8 } from './resize';

/**
 * SD 1.5's scheduler/scheduler_config.json, which the reference's DDPMScheduler.from_pretrained reads (a Ref LDM-Seg
 * bundle carries no scheduler): scaled-linear β 0.00085 → 0.012 over 1000 steps, leading spacing offset by 1 (951 … 1).
 */
export const SD15_SCHEDULER_CONFIG = {
  beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000, clip_sample: false, steps_offset: 1, trained_betas: null,
} as const;

export interface RefLdmSegSettings {
  variant: 'f' | 'n';
  /** -n's DDPM steps (20). */
  steps: number;
  /** -n's guidance: image 1.5, instruction 7. */
  imageGuidance: number;
  instructionGuidance: number;
  /** seg −= mask_alpha · query: 0 for -f, 0.4 for -n. */
  maskAlpha: number;
  /** Seeds the -f latent sample, and -n's start latent and step noise. */
  seed: number;
}

/** An annotated example: its image, and its mask at the image's size (row-major, 1 = the object). */
export interface SupportShot {
  rgb: RgbImage;
  mask: Uint8Array;
}

export interface RefLdmSegRun extends RunOptions {
  onStep?(done: number, total: number): void;
}

/** 8-bit RGB resized to the letterbox, (x − 127.5)/127.5, padded right and bottom with 0: [3, 256, 256]. */
export function normalisedInput(rgb: RgbImage, box: Letterbox): Float32Array {
  const r = resizeLinearU8(rgb, box.resizedWidth, box.resizedHeight);
  const S = box.size;
  const out = new Float32Array(3 * S * S);
  for (let y = 0; y < r.height; y++)
    for (let x = 0; x < r.width; x++)
      for (let c = 0; c < 3; c++) out[(c * S + y) * S + x] = Math.fround(Math.fround(r.data[(y * r.width + x) * 3 + c]! - 127.5) / 127.5);
  return out;
}

/** What the UNet is conditioned on, computed once per example and reused for every query. */
export interface SupportTokens {
  /** The shots' tokens, class token dropped, concatenated along the tokens: [1, k·N, D]. */
  tokens: Float32Array;
  /** Their attention mask [1, k·N], 1 = attend. */
  mask: Float32Array;
  /** -n's empty instruction, as long as `tokens`. */
  empty: Float32Array | null;
}

/** The examples as the UNet takes them (Alpha-CLIP tokens, token mask; -n: the empty instruction too). */
export async function supportTokens(models: RefLdmSegModels, shots: readonly SupportShot[], run: RunOptions): Promise<SupportTokens> {
  if (!shots.length) throw new RangeError('Ref LDM-Seg needs at least one example');
  const S = models.encoderSize;
  const pixels = new Float32Array(shots.length * 3 * S * S);
  const alpha = new Float32Array(shots.length * S * S);
  const masks = shots.map((shot, k) => {
    const box = letterbox(shot.rgb.width, shot.rgb.height);
    const x = normalisedInput(shot.rgb, box);
    pixels.set(resizeBilinearPlanes(x, 3, box.size, box.size, S, S), k * 3 * S * S);
    const m = supportMask(shot.mask, box);
    alpha.set(alphaFromMask(m, box.size, box.size, S), k * S * S);
    return m;
  });
  const { tokens, width } = await models.encodeSupport(pixels, alpha, shots.length, run);
  return {
    tokens: dropClassToken(tokens, shots.length, width), mask: supportTokenMask(masks), empty: models.variant === 'n' ? await nullTokens(models, shots.length, run) : null,
  };
}

/** [k, 1+N, D] → [k·N, D]: each shot's patch tokens, one shot after another. */
function dropClassToken(tokens: Float32Array, shots: number, width: number): Float32Array {
  const per = tokens.length / shots;
  const out = new Float32Array(tokens.length - shots * width);
  for (let k = 0; k < shots; k++) out.set(tokens.subarray(k * per + width, (k + 1) * per), k * (per - width));
  return out;
}

/**
 * -n's empty instruction (modeln.py:243-245): Alpha-CLIP tokens of a zero image (mid-grey in [−1,1]) with alpha all
 * ones, repeated for each shot so that it is as long as the instruction it stands in for.
 */
async function nullTokens(models: RefLdmSegModels, shots: number, run: RunOptions): Promise<Float32Array> {
  const S = models.encoderSize;
  const on = Math.fround(Math.fround(1 - ALPHA_MEAN) / Math.fround(ALPHA_STD));
  const { tokens, width } = await models.encodeSupport(new Float32Array(3 * S * S), new Float32Array(S * S).fill(on), 1, run);
  const one = dropClassToken(tokens, 1, width);
  const out = new Float32Array(one.length * shots);
  for (let k = 0; k < shots; k++) out.set(one, k * one.length);
  return out;
}

/** The decoded pseudo-mask image [3, 256, 256] for the query `x` (normalised, padded). */
async function pseudoMask(models: RefLdmSegModels, x: Float32Array, support: SupportTokens, s: RefLdmSegSettings, run: RefLdmSegRun): Promise<Float32Array> {
  const sf = models.scalingFactor;
  const noise = new GaussianNoise(s.seed);
  const posterior = await models.encodeImage(x, run);
  let latent: Float32Array;
  if (s.variant === 'f') {
    // A posterior sample, scaled, at t = 0: no noise is added to it.
    const eps = noise.fill(new Float32Array(posterior.mean.length));
    const sample = posterior.mean.map((m, i) => (m + posterior.std[i]! * eps[i]!) * sf);
    latent = await models.unet(sample, 1, 0, support.tokens, support.mask, run);
    run.onStep?.(1, 1);
  } else {
    const img = posterior.mean; // the mode, unscaled
    const n = img.length;
    const sched = new DDPMScheduler(SD15_SCHEDULER_CONFIG);
    sched.setTimesteps(s.steps);
    const empty = support.empty;
    if (!empty) throw new Error('Ref LDM-Seg -n needs the empty instruction: compute the support with the -n model');
    const context = concat([support.tokens, empty, empty]);
    const mask = concat([support.mask, support.mask, support.mask]);
    let z: Float32Array = noise.fill(new Float32Array(n)).map((v) => v * sched.initNoiseSigma);
    const sample = new Float32Array(3 * 2 * n); // [z ‖ img, z ‖ img, z ‖ 0]
    sample.set(img, n);
    sample.set(img, 3 * n);
    for (const [i, t] of sched.timesteps.entries()) {
      for (let b = 0; b < 3; b++) sample.set(z, 2 * b * n);
      const e = await models.unet(sample, 3, t, context, mask, run);
      const eps = imageTextGuidance({ full: e.subarray(0, n), image: e.subarray(n, 2 * n), uncond: e.subarray(2 * n, 3 * n) }, { image: s.imageGuidance, text: s.instructionGuidance });
      z = sched.step(eps, t, z, noise).prevSample;
      run.onStep?.(i + 1, sched.timesteps.length);
    }
    latent = z;
  }
  return models.decode(latent.map((v) => v / sf), run);
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, (o += p.length) - p.length);
  return out;
}

/**
 * The query's mask at its own size: Ref LDM-Seg's prediction for the examples' object (`support`: supportTokens), and
 * its score. The model was trained to paint the object (−1, 1, 0) and the rest (1, −1, 0) at (1 − mask_alpha) of full
 * strength (modelf.py's colormap), so a pixel's margin ch1 − ch0 is 2·(1 − mask_alpha) where it is sure; the score is
 * the mean margin over the mask's pixels as a share of that, clipped to [0, 1] per pixel. The reference keeps none.
 */
export async function segmentQuery(models: RefLdmSegModels, query: RgbImage, support: SupportTokens, s: RefLdmSegSettings, run: RefLdmSegRun = {}): Promise<{ mask: Rle; score: number }> {
  if (s.variant !== models.variant) throw new RangeError(`the model ${models.name} is Ref LDM-Seg -${models.variant}, not -${s.variant}`);
  const box = letterbox(query.width, query.height);
  const x = normalisedInput(query, box);
  const seg = await pseudoMask(models, x, support, s, run);
  // seg −= mask_alpha·x, then channels 0 and 1 of the image's part, resized back (metric.py:7-53).
  const S = REFLDMSEG_SIZE, w = box.resizedWidth, h = box.resizedHeight;
  const crop = new Float32Array(2 * w * h);
  for (let c = 0; c < 2; c++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) {
        const i = (c * S + y) * S + xx;
        crop[(c * h + y) * w + xx] = Math.fround(seg[i]! - Math.fround(s.maskAlpha * x[i]!));
      }
  const W = query.width, H = query.height;
  const back = resizeBilinearPlanes(crop, 2, w, h, W, H);
  const fg = new Uint8Array(W * H);
  const full = 2 * (1 - s.maskAlpha);
  let sure = 0, n = 0;
  for (let i = 0; i < W * H; i++) {
    const margin = back[W * H + i]! - back[i]!;
    if (margin <= 0) continue;
    fg[i] = 1;
    sure += Math.min(1, margin / full);
    n++;
  }
  return { mask: encode(fg, H, W), score: n ? sure / n : 0 };
}
