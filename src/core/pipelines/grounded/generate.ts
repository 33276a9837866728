// Text → image with grounding masks (Grounded diffusion, test.py): seeded start latent, one guided UNet pass per step
// (the [uncond, cond] pair as a batch of 2), the sampler's update, the decoder; on the last step the UNet's 25 taps go
// to the grounding module with each category's token embedding, and mask = sigmoid(logits) > 0.5.
import { createScheduler, GaussianNoise, classifierFreeGuidance, MAX_SEED, type SamplerName } from '../../ml/schedulers';
import type { RgbImage } from '../common/frame';
import { SD15_SCHEDULER_CONFIG } from '../refldmseg/inference';
import { GenerateInputError } from './errors';
import { CrossAttentionHeat } from '../common/crossAttention';
import { categoryPositions, diffSegLabels, snapToSegments } from './attention';
import { latentToRgb } from './latentPreview';
import { GROUNDING_IMAGE_SIZE, type GroundedModels } from './models';

/**
 * SD 1.x's scheduler config with the reference's DDIM settings: CompVis timesteps 1, 21, …, 981 are leading spacing
 * offset by 1, and the first step's ᾱ_prev is ᾱ_0 (set_alpha_to_one false). PNDM reads skip_prk_steps as SD ships it.
 */
export const GROUNDED_SCHEDULER_CONFIG = { ...SD15_SCHEDULER_CONFIG, set_alpha_to_one: false, skip_prk_steps: true } as const;

/** The samplers by the names users give them. */
export const SAMPLER_NAMES: Record<string, SamplerName> = { ddim: 'ddim', pndm: 'pndm', dpmpp: 'dpmpp_2m' };
/** DDIM's 50 is the reference's; DPM-Solver++ reaches the same quality in about half the steps. */
export const DEFAULT_STEPS: Record<SamplerName, number> = { ddim: 50, pndm: 50, dpmpp_2m: 25, ddpm: 1000 };

/** Model calls one image takes with `sampler` at `steps` (PNDM: one more than its steps). */
export function callsPerImage(sampler: SamplerName, steps: number): number {
  const scheduler = createScheduler(sampler, GROUNDED_SCHEDULER_CONFIG);
  scheduler.setTimesteps(steps);
  return scheduler.timesteps.length;
}

export interface GenerateSettings {
  prompt: string;
  /** The unconditional half's text ('' as the reference). */
  negativePrompt: string;
  /** The objects to ground, one mask each; decoded together (they attend to each other, as in training). */
  categories: readonly string[];
  /**
   * 'module': the grounding module on the last step's taps (the reference). 'attention': the categories'
   * cross-attention over all steps snapped to DiffSeg segments (attention.ts), for bundles without the module.
   */
  grounding: 'module' | 'attention';
  width: number;
  height: number;
  sampler: SamplerName;
  steps: number;
  /** Classifier-free guidance scale (7.5). */
  scale: number;
  seed: number;
}

export interface GenerateContext {
  signal?: AbortSignal;
  /** After every model call: calls done, calls in all. */
  onStep?(done: number, total: number): void;
  /**
   * Every `previewEvery` calls (not after the last): the sampler's current estimate of the clean image, from its
   * estimate x̂0 of the clean latent. Awaited, so previews are handed on in step order.
   */
  onPreview?(image: RgbImage, done: number, total: number): void | Promise<void>;
  previewEvery?: number;
  /** 'latent' (default): x̂0 through the bundle's linear latent → RGB map at the latent's size, no model run. 'decoder': x̂0 through the VAE decoder at the image's size, one decoder run each. */
  preview?: PreviewKind;
}

export type PreviewKind = 'latent' | 'decoder';

/** Calls between previews: the linear map costs well under 1 % of a step; a decoder run costs 2–3 UNet passes on a CPU. */
export const PREVIEW_EVERY: Record<PreviewKind, number> = { latent: 2, decoder: 10 };

export interface Generated {
  image: RgbImage;
  /** Per category, row-major at the image's size, 1 = the object. */
  masks: Uint8Array[];
}

export { GenerateInputError };

/** Why the settings cannot run (null: they can). Sizes are multiples of 64 (the latent is an eighth, the UNet halves it 3 times). */
export function settingsProblem(s: GenerateSettings): string | null {
  for (const [k, v] of [['width', s.width], ['height', s.height]] as const) {
    if (!Number.isInteger(v) || v < 64 || v % 64) return `${k} must be a multiple of 64, not ${v}`;
  }
  if (s.categories.length && (s.width !== GROUNDING_IMAGE_SIZE || s.height !== GROUNDING_IMAGE_SIZE))
    return s.grounding === 'module'
      ? `the grounding module masks ${GROUNDING_IMAGE_SIZE}×${GROUNDING_IMAGE_SIZE} images only (as it was trained), not ${s.width}×${s.height}`
      : `attention grounding snaps to DiffSeg segments of ${GROUNDING_IMAGE_SIZE}×${GROUNDING_IMAGE_SIZE} images only, not ${s.width}×${s.height}`;
  if (s.categories.some((c) => !c.trim())) return 'a category name is empty';
  if (!Number.isInteger(s.steps) || s.steps < 1 || s.steps > 1000) return `steps must be an integer from 1 to 1000, not ${s.steps}`;
  try {
    callsPerImage(s.sampler, s.steps);
  } catch (e) {
    // The scheduler's own limit (with SD's steps offset, 1000 DDIM steps would need timestep 1000).
    if (e instanceof RangeError) return `${s.sampler} cannot take ${s.steps} steps with this model (${e.message}): use fewer steps`;
    throw e;
  }
  if (!Number.isFinite(s.scale) || s.scale < 0) return `the guidance scale must be a number ≥ 0, not ${s.scale}`;
  if (!Number.isSafeInteger(s.seed) || s.seed < 0 || s.seed > MAX_SEED) return `a seed must be an integer from 0 to ${MAX_SEED}, not ${s.seed}`;
  return null;
}

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw Object.assign(new Error('cancelled'), { name: 'AbortError' });
}

/**
 * The reference's class query (test.py:341-353): "a <the prompt's second word> of a <category>" ("a photo of a
 * lion"); a one-word prompt takes training's "photograph". Its tokens 5 … n (n: the query's BPE tokens), which are
 * the category's when "a X of a" is 4 tokens, as the reference assumes.
 */
export function classQuery(prompt: string, category: string): string {
  const second = prompt.split(/\s+/).filter(Boolean)[1] ?? 'photograph';
  return `a ${second} of a ${category.trim()}`;
}

/** The class token: the mean of the query's hidden states at positions 5 … n (position 0 is the start token). */
export async function classToken(models: GroundedModels, prompt: string, category: string, signal?: AbortSignal): Promise<Float32Array> {
  const query = classQuery(prompt, category);
  const n = models.tokenizer.encode(query).length;
  if (n < 5) throw new GenerateInputError(`the class query "${query}" has no tokens after "a … of a"`);
  const hidden = await models.encodeText(query, { signal });
  const width = hidden.length / models.contextLength;
  const out = new Float32Array(width);
  for (let p = 5; p <= n; p++) for (let j = 0; j < width; j++) out[j]! += hidden[p * width + j]!;
  return out.map((v) => v / (n - 4));
}

/** One image and its masks. Throws an AbortError between steps when `ctx.signal` aborts. */
export async function generateImage(models: GroundedModels, s: GenerateSettings, ctx: GenerateContext = {}): Promise<Generated> {
  const problem = settingsProblem(s);
  if (problem) throw new GenerateInputError(problem);
  const { signal } = ctx;
  const attention = s.categories.length > 0 && s.grounding === 'attention';
  if (s.categories.length && !attention && !models.hasModule) throw new GenerateInputError(`model bundle ${models.name} has no grounding module: use attention grounding`);
  const heat = attention ? new CrossAttentionHeat(s.categories.map((c) => categoryPositions(models.tokenizer, s.prompt, c.trim())), models.contextLength) : undefined;
  const h = s.height / 8, w = s.width / 8;
  const [uncond, cond] = [await models.encodeText(s.negativePrompt, { signal }), await models.encodeText(s.prompt, { signal })];
  const context = new Float32Array(uncond.length * 2);
  context.set(uncond);
  context.set(cond, uncond.length);
  const scheduler = createScheduler(s.sampler, GROUNDED_SCHEDULER_CONFIG);
  scheduler.setTimesteps(s.steps);
  let x = new GaussianNoise(s.seed).fill(new Float32Array(4 * h * w));
  const calls = scheduler.timesteps;
  let taps: Map<string, Float32Array> | undefined;
  for (let i = 0; i < calls.length; i++) {
    checkAborted(signal);
    const t = calls[i]!;
    const last = i === calls.length - 1 && s.categories.length > 0 && !attention;
    const out = await models.unet(x, h, w, t, context, { taps: last, crossAttention: attention }, { signal });
    if (heat) heat.add(out.crossAttention!);
    const n = x.length;
    const guided = classifierFreeGuidance(out.noise.subarray(0, n), out.noise.subarray(n, 2 * n), s.scale);
    const stepped = scheduler.step(guided, t, x);
    const sample = x;
    x = stepped.prevSample;
    if (last) taps = out.taps;
    ctx.onStep?.(i + 1, calls.length);
    const every = ctx.previewEvery ?? 0;
    if (ctx.onPreview && every > 0 && (i + 1) % every === 0 && i + 1 < calls.length) {
      const x0 = stepped.predOriginalSample ?? predictedOriginal(scheduler.schedule.alphasCumprod[t]!, sample, guided);
      const image = ctx.preview === 'decoder'
        ? toRgb(await models.decode(x0.map((v) => v / models.scalingFactor), h, w, { signal }), s.width, s.height)
        : latentToRgb(x0, h, w, models.latentRgb);
      await ctx.onPreview(image, i + 1, calls.length);
    }
  }
  checkAborted(signal);
  const decoded = await models.decode(x.map((v) => v / models.scalingFactor), h, w, { signal });
  const image = toRgb(decoded, s.width, s.height);
  if (heat) return { image, masks: snapToSegments(heat.normalised(), await diffSegLabels(models.diffSeg(), image, signal), s.width, s.height) };
  if (!taps) return { image, masks: [] };
  const tokens = new Float32Array(s.categories.length * (cond.length / models.contextLength));
  for (const [i, c] of s.categories.entries()) tokens.set(await classToken(models, s.prompt, c, signal), (i * tokens.length) / s.categories.length);
  const masks = await models.ground(taps, tokens, s.categories.length, { signal });
  return { image, masks };
}

/**
 * x̂0 = (x_t − √(1 − ᾱ_t)·ε)/√ᾱ_t, for a sampler that does not give its own (PNDM): the noisy sample x_t itself is
 * mostly noise in the first steps, x̂0 shows the layout from the first steps on.
 */
function predictedOriginal(alphaCumprod: number, sample: Float32Array, eps: Float32Array): Float32Array {
  const a = Math.sqrt(alphaCumprod), b = Math.sqrt(1 - alphaCumprod);
  return sample.map((v, i) => (v - b * eps[i]!) / a);
}

/** [1, 3, H, W] in [-1, 1] → RGB bytes: clamp((x + 1)/2, 0, 1)·255, truncated as numpy's astype(uint8) (test.py:331-339). */
function toRgb(planes: Float32Array, width: number, height: number): RgbImage {
  const n = width * height;
  const data = new Uint8Array(n * 3);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) data[i * 3 + c] = Math.floor(255 * Math.min(1, Math.max(0, (planes[c * n + i]! + 1) / 2)));
  }
  return { data, width, height };
}
