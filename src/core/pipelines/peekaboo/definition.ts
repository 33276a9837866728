// Peekaboo as a pipeline: a text prompt → one mask, by optimising an alpha image so that the image composited on
// random colours "looks like" the prompt to Stable Diffusion (score distillation through the VAE encoder). See
// docs/peekaboo.md for the procedure, constants and decisions.
//
// Preprocessing (decided: letterbox, not the reference's centre crop, so no edge of the image is lost): the image is
// padded to a square of side max(w, h), edge pixels repeated, and resized to the alpha side; the alpha image covers
// that square and the image is cut out of it exactly (../common/frame.ts, ../common/masks.ts).
import { area, type Rle } from '../../../shared/masks';
import { frameImage, letterbox, type Letterbox } from '../common/frame';
import { probabilityMapToRle } from '../common/masks';
import type { Pipeline, PipelineSession } from '../types';
import { ensurePeekabooFixtureBundle } from './fixture';
import { PEEKABOO_COMPONENTS, PeekabooModels } from './models';
import { optimiseAlpha } from './optimise';
import { PeekabooParamsSchema, type PeekabooParams } from './params';

/** Recorded with runs: bump when preprocessing changes. */
export const PREPROCESSING = 'letterbox-edge-linear/v1';
/** The live mask is sent every this many iterations (and at the end). */
const LIVE_EVERY = 10;

export const peekaboo: Pipeline<PeekabooParams> = {
  id: 'peekaboo',
  title: 'Peekaboo',
  description: 'Type what to segment: an alpha mask is optimised until the image, cut out by it, looks like the prompt to Stable Diffusion',
  params: PeekabooParamsSchema,
  prompt: 'text',
  components: PEEKABOO_COMPONENTS,
  models: {
    hint: 'Convert a Stable Diffusion 1.x checkpoint once with `npx difflabel models convert <diffusers folder | v1-5-pruned-emaonly.safetensors> --out <models folder>/sd15`',
    fixture: () => ensurePeekabooFixtureBundle(),
  },
  runLabel: 'segment by text',
  open: ({ bundle, host }) => peekabooSession(new PeekabooModels(bundle!.dir, bundle!.manifest, host)),
};

/**
 * The prompts of a text: several separated by "|" are averaged (the reference's MeanLabel), e.g. "cow | the brown
 * cow". Empty pieces are dropped.
 */
export function splitPrompts(text: string): string[] {
  const prompts = text.split('|').map((s) => s.trim()).filter(Boolean);
  if (!prompts.length) throw new RangeError('Peekaboo needs a text prompt');
  return prompts;
}

/** [3, S, S] channel-major RGB in [0, 1] of the letterboxed image resized to S². */
export async function guideImage(rgb: { data: Uint8Array; width: number; height: number }, size: number): Promise<{ guide: Float32Array; frame: Letterbox }> {
  const frame = letterbox(rgb.width, rgb.height);
  const px = await frameImage(rgb, frame, size);
  const n = size * size;
  const guide = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) guide[c * n + i] = px[3 * i + c]! / 255;
  return { guide, frame };
}

export function peekabooSession(models: PeekabooModels): PipelineSession<PeekabooParams> {
  return {
    model: models.name,
    recorded: (p) => ({ ...p, model: models.id, preprocessing: PREPROCESSING }),
    async run(image, p, prompt, ctx) {
      if (prompt?.kind !== 'text') throw new RangeError(`Peekaboo takes a text prompt, not ${prompt ? `a ${prompt.kind} prompt` : 'none'}`);
      const prompts = splitPrompts(prompt.text);
      const { guide, frame } = await guideImage(await image.rgb(), p.size);
      const toMask = (alpha: Float32Array): Rle => probabilityMapToRle(alpha, p.size, frame, { threshold: p.threshold });
      const { alpha, iterations } = await optimiseAlpha(models, guide, prompts, p, {
        signal: ctx.signal,
        priority: ctx.priority,
        onIteration: (done, a) => {
          const live = done % LIVE_EVERY === 0 || done === p.iterations;
          ctx.onProgress?.({ fraction: done / p.iterations, message: `iteration ${done} of ${p.iterations}`, ...(live ? { mask: toMask(a) } : {}) });
        },
      });
      const mask = toMask(alpha);
      if (iterations < p.iterations) ctx.onProgress?.({ fraction: 1, message: `stopped at iteration ${iterations}: the mask no longer changes`, mask });
      return area(mask) > 0 ? [{ mask, score: null }] : [];
    },
    dispose: () => models.dispose(),
  };
}
