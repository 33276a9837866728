// Training-free grounding (the DAAM idea) for a bundle without the grounding module: each category's cross-attention
// over its tokens in the prompt, summed over the sampling steps and the layers (common/crossAttention.ts), normalised
// by its maximum, thresholded, and snapped to the generated image's DiffSeg segments: a
// segment belongs to the category when its mean heat reaches the threshold.
import type { ClipTokenizer } from '../../ml/tokenizer';
import { aggregateAttention } from '../diffseg/aggregate';
import { proposalsToLabels } from '../diffseg/labels';
import { mergeProposals } from '../diffseg/merge';
import type { DiffSegModels } from '../diffseg/models';
import { preprocess, stableParams } from '../diffseg/pipeline';
import type { RgbImage } from '../common/frame';
import { HEAT_SIDE as SIDE, tokenPositions } from '../common/crossAttention';
import { GenerateInputError } from './errors';

/** DAAM's threshold on the normalised heat map (τ = 0.4). */
export const HEAT_THRESHOLD = 0.4;

/** Where `category`'s BPE tokens sit in the prompt's token row (0 is the start token); refused when absent. */
export function categoryPositions(tokenizer: ClipTokenizer, prompt: string, category: string): number[] {
  const at = tokenPositions(tokenizer, prompt, category);
  if (!at) throw new GenerateInputError(`attention grounding reads the prompt's own words: "${category}" is not in "${prompt}"`);
  return at;
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
