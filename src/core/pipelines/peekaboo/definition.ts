// Peekaboo as a pipeline: a text prompt → one mask, by optimising an alpha image so that the image composited on
// random colours "looks like" the prompt to Stable Diffusion (score distillation through the VAE encoder). See
// docs/peekaboo.md for the procedure, constants and decisions.
//
// Preprocessing (decided: letterbox, not the reference's centre crop, so no edge of the image is lost): the image is
// padded to a square of side max(w, h), edge pixels repeated, and resized to the alpha side; the alpha image covers
// that square and the image is cut out of it exactly (../common/frame.ts, ../common/masks.ts).
import { area, decode, fromCocoRle, MaskFormatError, unionAll, type Rle } from '../../../shared/masks';
import type { BundleManifest } from '../../ml/bundle';
import type { InferenceHost } from '../../ml/runtime';
import { frameImage, letterbox, type Letterbox } from '../common/frame';
import { probabilityMapToRle } from '../common/masks';
import { BundleModels } from '../diffseg/models';
import { PipelineInputError } from '../run';
import type { ImageInput, Pipeline, PipelineSession, RunContext } from '../types';
import { noCrossAttention, vocabularySession, VocabularyParamsSchema, type VocabularyParams } from '../vocabulary/definition';
import { ensurePeekabooFixtureBundle } from './fixture';
import { PEEKABOO_COMPONENTS, PeekabooModels } from './models';
import { optimiseAlpha } from './optimise';
import { PeekabooParamsSchema, type InitialMask, type PeekabooParams } from './params';

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
  open: ({ bundle, host }) => peekabooSession(new PeekabooModels(bundle!.dir, bundle!.manifest, host), () => promptSegmenter(bundle!, host)),
};

/**
 * The vocabulary mode on the same bundle (DiffSeg's segments named by the prompt's cross-attention), for start
 * 'segment' without an initial mask; a PipelineInputError saying why when the bundle cannot give it.
 */
function promptSegmenter(bundle: { dir: string; manifest: BundleManifest }, host: InferenceHost): PipelineSession<VocabularyParams> {
  const refused = noCrossAttention(bundle.manifest);
  if (refused)
    throw new PipelineInputError(`start 'segment' without an initial mask needs DiffSeg's UNet with cross-attention: ${refused}; give params.initialMask or start 'blank'`, [{ path: 'params.start', message: 'no segmenter in this bundle' }]);
  return vocabularySession(new BundleModels(bundle.dir, bundle.manifest, host));
}

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

/**
 * The start mask over the alpha's square [S²] (0/1): the image's pixel nearest each alpha pixel's centre, 0 in the
 * letterbox's padding.
 */
export function maskToFrame(mask: Uint8Array, frame: Letterbox, size: number): Float32Array {
  const out = new Float32Array(size * size);
  const at = (k: number, pad: number) => Math.floor(((k + 0.5) * frame.side) / size) - pad;
  for (let i = 0; i < size; i++) {
    const y = at(i, frame.padY);
    if (y < 0 || y >= frame.height) continue;
    for (let j = 0; j < size; j++) {
      const x = at(j, frame.padX);
      if (x >= 0 && x < frame.width) out[i * size + j] = mask[y * frame.width + x]!;
    }
  }
  return out;
}

/** The caller's initial mask decoded at the image's size; a PipelineInputError when it is not a mask of this image. */
function givenMask(m: InitialMask, image: ImageInput): Uint8Array {
  const { width: W, height: H } = image.row;
  const wrong = (why: string) => new PipelineInputError(`params.initialMask ${why}`, [{ path: 'params.initialMask', message: why }]);
  if (m.size[0] !== H || m.size[1] !== W) throw wrong(`is ${m.size[1]}×${m.size[0]}, the image ${W}×${H}`);
  try {
    return decode(fromCocoRle(m));
  } catch (e) {
    if (e instanceof MaskFormatError) throw wrong(`is not a mask: ${e.message}`);
    throw e;
  }
}

export function peekabooSession(models: PeekabooModels, segmenter?: () => PipelineSession<VocabularyParams>): PipelineSession<PeekabooParams> {
  let segments: PipelineSession<VocabularyParams> | null = null;
  /** The mask Peekaboo starts from at the image's size: the caller's, else the union of the segments the prompt names. */
  const startMask = async (image: ImageInput, prompts: string[], p: PeekabooParams, ctx: RunContext): Promise<Uint8Array> => {
    if (p.initialMask) return givenMask(p.initialMask, image);
    if (!segmenter) throw new PipelineInputError("start 'segment' needs params.initialMask: no segmenter was given to this session", [{ path: 'params.initialMask', message: 'required' }]);
    segments ??= segmenter();
    const named = await segments.run(image, VocabularyParamsSchema.parse({}), { kind: 'vocabulary', names: [prompts.join(', ')] }, ctx);
    if (!named.length) throw new PipelineInputError(`DiffSeg's cross-attention names no segment of this image "${prompts.join(' | ')}": give params.initialMask or start 'blank'`);
    return decode(unionAll(named.map((s) => s.mask)));
  };
  return {
    model: models.name,
    recorded: (p) => ({ ...p, model: models.id, preprocessing: PREPROCESSING }),
    async run(image, p, prompt, ctx) {
      if (prompt?.kind !== 'text') throw new RangeError(`Peekaboo takes a text prompt, not ${prompt ? `a ${prompt.kind} prompt` : 'none'}`);
      const prompts = splitPrompts(prompt.text);
      const { guide, frame } = await guideImage(await image.rgb(), p.size);
      const start = p.start === 'segment' ? maskToFrame(await startMask(image, prompts, p, ctx), frame, p.size) : undefined;
      const toMask = (alpha: Float32Array): Rle => probabilityMapToRle(alpha, p.size, frame, { threshold: p.threshold });
      const { alpha, iterations } = await optimiseAlpha(models, guide, prompts, p, {
        signal: ctx.signal,
        priority: ctx.priority,
        onIteration: (done, a) => {
          const live = done % LIVE_EVERY === 0 || done === p.iterations;
          ctx.onProgress?.({ fraction: done / p.iterations, message: `iteration ${done} of ${p.iterations}`, ...(live ? { mask: toMask(a) } : {}) });
        },
      }, start);
      const mask = toMask(alpha);
      if (iterations < p.iterations) ctx.onProgress?.({ fraction: 1, message: `stopped at iteration ${iterations}: the mask no longer changes`, mask });
      return area(mask) > 0 ? [{ mask, score: null }] : [];
    },
    dispose: async () => {
      await segments?.dispose();
      await models.dispose();
    },
  };
}
