// Combining the noise predictions of one UNet batch. Pass subarray views of the batched output (no copies): with
// diffusers' layout the SD batch is [uncond, cond], Ref LDM-Seg's is [text+image, image, neither].
import type { NoiseSchedule } from './schedule';

function sameLength(what: string, ...xs: Float32Array[]): number {
  const n = xs[0]!.length;
  if (xs.some((x) => x.length !== n)) throw new Error(`${what}: the predictions differ in size (${xs.map((x) => x.length).join(', ')})`);
  return n;
}

/** Classifier-free guidance: ε_u + s·(ε_c − ε_u) (the SD pipeline; Peekaboo with s = 100). */
export function classifierFreeGuidance(uncond: Float32Array, cond: Float32Array, scale: number): Float32Array {
  const n = sameLength('classifier-free guidance', uncond, cond);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = uncond[i]! + scale * (cond[i]! - uncond[i]!);
  return out;
}

/**
 * InstructPix2Pix's guidance as Ref LDM-Seg writes it (prompter.py:61-65):
 * ε_u + s_text·(ε_full − ε_image) + s_image·(ε_image − ε_u), where ε_full sees the image and the instruction,
 * ε_image only the image, ε_u neither. Ref LDM-Seg's defaults: s_image 1.5, s_text 7.
 */
export function imageTextGuidance(
  e: { full: Float32Array; image: Float32Array; uncond: Float32Array },
  scale: { image: number; text: number },
): Float32Array {
  const n = sameLength('image and text guidance', e.full, e.image, e.uncond);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = e.uncond[i]!, im = e.image[i]!;
    out[i] = u + scale.text * (e.full[i]! - im) + scale.image * (im - u);
  }
  return out;
}

/** Score distillation's weight at timestep t: 1 − ᾱ_t (Peekaboo's w(t)). */
export const scoreDistillationWeight = (t: number, schedule: NoiseSchedule): number => 1 - schedule.alphaCumprod(t);

/**
 * Score distillation's gradient at the latent (Peekaboo, stable_diffusion.py:115-119): (1 − ᾱ_t)·(ε̂ − ε), where ε̂
 * is the guided prediction for the latent noised with ε at timestep t.
 */
export function scoreDistillationGradient(guided: Float32Array, noise: Float32Array, t: number, schedule: NoiseSchedule): Float32Array {
  const n = sameLength('score distillation', guided, noise);
  const w = scoreDistillationWeight(t, schedule);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = w * (guided[i]! - noise[i]!);
  return out;
}
