// A cheap look at an image while it is sampled: the sampler's estimate of the clean latent x̂0 mapped to RGB by a
// fixed linear map per latent channel, at the latent's size (64² for 512²). No model runs: on a CPU the VAE decoder
// costs as much as 2–3 UNet passes, so a decoded preview every few steps would slow sampling by a large share.
import type { RgbImage } from '../common/frame';

/** RGB = matrix · latent + bias, per latent cell, in [-1, 1] as the decoder's output; the latent as the sampler holds it (scaled). */
export interface LatentRgbMap {
  /** 3 rows (R, G, B) of one weight per latent channel. */
  matrix: readonly (readonly number[])[];
  bias: readonly number[];
}

/**
 * SD 1.x (its VAE, 4 channels): the widely used linear approximation, fitted empirically on real images (as
 * ComfyUI publishes it in `latent_formats.SD15`), no bias. Not checked here against the real decoder (no weights on
 * the machines that wrote it); docs/grounded.md says how to check it.
 */
export const SD1_LATENT_RGB: LatentRgbMap = {
  matrix: [
    [0.3512, 0.325, -0.2829, -0.212],
    [0.2297, 0.4974, 0.1762, -0.2616],
    [0.3227, 0.235, 0.2721, -0.7177],
  ],
  bias: [0, 0, 0],
};

/** Why `value` is not a map for `channels` latent channels (null: it is one). */
export function latentRgbProblem(value: unknown, channels: number): string | null {
  const m = value as Partial<LatentRgbMap> | null;
  const numbers = (a: unknown, n: number) => Array.isArray(a) && a.length === n && a.every((v) => typeof v === 'number' && Number.isFinite(v));
  if (!m || typeof m !== 'object' || !Array.isArray(m.matrix) || m.matrix.length !== 3 || !m.matrix.every((row) => numbers(row, channels)) || !numbers(m.bias, 3))
    return `a latent → RGB map is { matrix: 3 rows of ${channels} numbers, bias: 3 numbers }`;
  return null;
}

/** `latent` [C, h, w] → RGB bytes at h×w: clamp((RGB + 1)/2, 0, 1)·255, rounded. */
export function latentToRgb(latent: Float32Array, h: number, w: number, map: LatentRgbMap): RgbImage {
  const n = h * w;
  const channels = map.matrix[0]!.length;
  if (latent.length !== channels * n) throw new RangeError(`latent → RGB: ${latent.length} values are not ${channels}×${h}×${w}`);
  const data = new Uint8Array(n * 3);
  for (let c = 0; c < 3; c++) {
    const row = map.matrix[c]!;
    const bias = map.bias[c]!;
    for (let i = 0; i < n; i++) {
      let v = bias;
      for (let k = 0; k < channels; k++) v += row[k]! * latent[k * n + i]!;
      data[i * 3 + c] = Math.round(255 * Math.min(1, Math.max(0, (v + 1) / 2)));
    }
  }
  return { data, width: w, height: h };
}
