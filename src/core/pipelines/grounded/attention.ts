// Training-free grounding (the DAAM idea) for a bundle without the grounding module: each category's cross-attention
// over its tokens in the prompt, summed over the sampling steps and the layers (each map upsampled to the latent's
// 64² first), normalised by its maximum, thresholded, and snapped to the generated image's DiffSeg segments: a
// segment belongs to the category when its mean heat reaches the threshold.
import type { ClipTokenizer } from '../../ml/tokenizer';
import { aggregateAttention } from '../diffseg/aggregate';
import { proposalsToLabels } from '../diffseg/labels';
import { mergeProposals } from '../diffseg/merge';
import type { DiffSegModels } from '../diffseg/models';
import { preprocess, stableParams } from '../diffseg/pipeline';
import type { RgbImage } from '../common/frame';
import { resizeBilinearPlanes } from '../refldmseg/resize';
import { GenerateInputError } from './errors';

/** DAAM's threshold on the normalised heat map (τ = 0.4). */
export const HEAT_THRESHOLD = 0.4;
const SIDE = 64;

/** Where `category`'s BPE tokens sit in the prompt's token row (0 is the start token); refused when absent. */
export function categoryPositions(tokenizer: ClipTokenizer, prompt: string, category: string): number[] {
  const p = tokenizer.encode(prompt);
  const c = tokenizer.encode(category);
  for (let i = 0; c.length && i + c.length <= p.length; i++) {
    if (c.every((id, k) => p[i + k] === id)) return c.map((_, k) => i + k + 1);
  }
  throw new GenerateInputError(`attention grounding reads the prompt's own words: "${category}" is not in "${prompt}"`);
}

/** The categories' heat maps at 64², summed over every call and layer it is given. */
export class CrossAttentionHeat {
  private readonly sums: Float32Array[];

  constructor(private readonly positions: number[][], private readonly contextLength: number) {
    this.sums = positions.map(() => new Float32Array(SIDE * SIDE));
  }

  /** One call's maps, each [2, S², L] (the guidance pair: only the conditional half, the prompt's, is read). */
  add(maps: Float32Array[]): void {
    const L = this.contextLength;
    for (const m of maps) {
      const cells = m.length / (2 * L);
      const side = Math.round(Math.sqrt(cells));
      if (side * side !== cells) throw new Error(`a cross-attention map of ${cells} cells is not square`);
      this.positions.forEach((pos, c) => {
        const plane = new Float32Array(cells);
        for (let q = 0; q < cells; q++) for (const j of pos) plane[q]! += m[(cells + q) * L + j]!;
        const up = side === SIDE ? plane : resizeBilinearPlanes(plane, 1, side, side, SIDE, SIDE);
        const sum = this.sums[c]!;
        for (let i = 0; i < sum.length; i++) sum[i]! += up[i]!;
      });
    }
  }

  /** Each category's heat divided by its maximum (0 … 1). */
  normalised(): Float32Array[] {
    return this.sums.map((s) => {
      const max = s.reduce((a, v) => Math.max(a, v), 0);
      return max > 0 ? s.map((v) => v / max) : s.slice();
    });
  }
}

/**
 * The image's DiffSeg segments as a label map at its size, with DiffSeg's default parameters (outlines guided by the
 * image's colour edges): square images only (512², where the letterbox is the image itself).
 */
export async function diffSegLabels(models: DiffSegModels, image: RgbImage, signal?: AbortSignal): Promise<Int32Array> {
  const latent = await models.encode(await preprocess(image), { signal });
  const maps = await models.attention(latent.map((v) => v * models.scalingFactor), { signal });
  const params = stableParams();
  const proposals = await mergeProposals(await aggregateAttention(maps), params);
  return proposalsToLabels(proposals, image.height, image.width, params.guided ? { guide: { rgb: image.data } } : {});
}

/** Per category, the union of the segments whose mean heat (at the pixel's latent cell) reaches the threshold. */
export function snapToSegments(heat: Float32Array[], labels: Int32Array, width: number, height: number): Uint8Array[] {
  const segments = labels.reduce((a, v) => Math.max(a, v + 1), 0);
  return heat.map((h) => {
    const sum = new Float64Array(segments), count = new Float64Array(segments);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const l = labels[y * width + x]!;
        sum[l]! += h[Math.floor((y * SIDE) / height) * SIDE + Math.floor((x * SIDE) / width)]!;
        count[l]!++;
      }
    }
    const keep = Array.from(sum, (s, l) => count[l]! > 0 && s / count[l]! >= HEAT_THRESHOLD);
    return Uint8Array.from(labels, (l) => (keep[l] ? 1 : 0));
  });
}
