// DiffSeg end to end for one image: pixels -> 512² letterbox -> VAE mean × scaling -> UNet self-attention ->
// aggregation -> merged proposals -> label map at the ORIGINAL image size (outlines guided by the image's colours
// unless params.guided is false) -> one RLE mask per segment. The runner (../run.ts) stores them as a run plus
// proposal annotations (one undoable edit). See docs/diffseg.md for the decisions.
//
// Preprocessing (decided: letterbox, not the reference's centre crop, so every pixel of the image gets a label): the
// image is padded to a square of side L = max(w, h), edge pixels repeated (a flat colour would become a segment of its
// own and attract the blended pixels along object outlines), resized to 512² and scaled to [-1,1]. The label map is
// computed on the L×L square (or a 1024² grid for larger images, sampled nearest; the guide image is that square too)
// and the image is cut out of it exactly (../common/frame.ts, ../common/masks.ts). Segments only in the padding vanish.
import { area, type Rle } from '../../../shared/masks';
import type { RunPriority } from '../../ml/runtime';
import { StoreError, type ProjectStore } from '../../project';
import { frameImage, letterbox, type Letterbox, type RgbImage } from '../common/frame';
import { cutOutRles } from '../common/masks';
import { runOnImage } from '../run';
import type { ImageInput, PipelineSession } from '../types';
import { aggregateAttention } from './aggregate';
import type { TensorCache } from '../common/tensorCache';
import { attentionCacheKey } from './cache';
import { proposalsToLabels, type LabelGuide } from './labels';
import { mergeDetailed, type MergeResult } from './merge';
import { DIFFSEG_IMAGE_SIZE, type DiffSegModels } from './models';
import { DEFAULT_DIFFSEG_PARAMS, resolveParams, type DiffSegParams } from './params';

/** Recorded with cached attention and runs: bump when preprocessing changes so old caches are not reused. */
export const PREPROCESSING = 'letterbox-edge-bilinear-512/t300/empty-prompt/v1';
/** Largest label-map side computed directly; bigger images sample it (nearest). */
export const MAX_LABEL_SIDE = 1024;
/** Segments smaller than this fraction of the image are dropped (speckles at boundaries). */
export const DEFAULT_MIN_AREA_FRACTION = 0.001;
/** What DiffSeg's runs are called, and the undo label of their proposals. */
export const DIFFSEG_RUNS = { id: 'diffseg', runLabel: 'segment everything' } as const;

/** [1,3,512,512] float32 in [-1,1] (channel-major) of the letterboxed image. */
export async function preprocess(rgb: RgbImage): Promise<Float32Array> {
  const N = DIFFSEG_IMAGE_SIZE;
  const px = await frameImage(rgb, letterbox(rgb.width, rgb.height), N);
  const out = new Float32Array(3 * N * N);
  for (let i = 0, n = N * N; i < n; i++) {
    out[i] = px[3 * i]! / 127.5 - 1;
    out[n + i] = px[3 * i + 1]! / 127.5 - 1;
    out[2 * n + i] = px[3 * i + 2]! / 127.5 - 1;
  }
  return out;
}

/** Side of the square label map of an image (its letterbox side, at most MAX_LABEL_SIDE). */
export function labelSide(box: Letterbox): number {
  return Math.min(box.side, MAX_LABEL_SIDE);
}

export function stableParams(p: Partial<DiffSegParams> = {}): DiffSegParams {
  const r = resolveParams({ ...DEFAULT_DIFFSEG_PARAMS, ...p, ...(Array.isArray(p.tau) && p.iterations === undefined ? { iterations: p.tau.length } : {}) });
  return { tau: r.tau, iterations: r.iterations, grid: r.grid, refine: r.refine, guided: r.guided };
}

export interface PipelineContext {
  models: DiffSegModels;
  cache?: TensorCache;
  signal?: AbortSignal;
  /** Inference queue priority: 'interactive' for clicks, 'batch' for segment-everything over images. */
  priority?: RunPriority;
  /** From the cache only (the click tool's hover): refused rather than running the models. */
  cachedOnly?: boolean;
}

function imageCacheKey(image: ImageInput, models: DiffSegModels): string {
  const r = image.row;
  return attentionCacheKey(r.sha1 ?? `${r.path}|${r.bytes}|${r.mtimeMs}`, models.id, PREPROCESSING);
}

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw Object.assign(new Error('cancelled'), { name: 'AbortError' });
}

/** Aggregated 64²×64² attention of an image: from the cache, or by running the models (then cached). */
export async function aggregatedAttention(image: ImageInput, ctx: PipelineContext): Promise<{ agg: Float32Array; key: string; cached: boolean }> {
  const key = imageCacheKey(image, ctx.models);
  const hit = ctx.cache ? await ctx.cache.get(key) : null;
  if (hit) return { agg: hit, key, cached: true };
  if (ctx.cachedOnly) throw new StoreError('conflict', `${image.row.path} has not been segmented yet: a click runs the model on it first`);
  const rgb = await image.rgb();
  checkAborted(ctx.signal);
  const input = await preprocess(rgb);
  const run = { signal: ctx.signal, priority: ctx.priority };
  const latent = await ctx.models.encode(input, run);
  const scaled = new Float32Array(latent.length);
  for (let i = 0; i < latent.length; i++) scaled[i] = latent[i]! * ctx.models.scalingFactor;
  const maps = await ctx.models.attention(scaled, run);
  checkAborted(ctx.signal);
  const agg = await aggregateAttention(maps);
  ctx.cache?.put(key, agg);
  return { agg, key, cached: false };
}

/** The guide for image-guided labels (the letterbox square at labelSide), kept with the cached attention. */
function imageGuide(image: ImageInput, key: string, ctx: PipelineContext): Promise<Uint8Array> {
  const { width, height } = image.row;
  const compute = async () => frameImage(await image.rgb(), letterbox(width, height), labelSide(letterbox(width, height)));
  return ctx.cache ? ctx.cache.derived(key, 'guide', compute) : compute();
}

/**
 * The cutOutRles clean-up area for guided labels: fragments smaller than one attention cell (in label-map pixels) carry
 * nothing of the model's, only texture. 0 (no clean-up) for the reference's plain labels.
 */
export function cleanArea(labels: SquareLabels, cells = 64): number {
  return labels.guide ? Math.floor((labels.side / cells) ** 2) : 0;
}

export interface SquareLabels {
  /** Row-major side×side proposal indices of the image's letterbox square (side = labelSide). */
  labels: Int32Array;
  side: number;
  /** The guide they were drawn with (params.guided), for masks that must agree with them. */
  guide?: LabelGuide;
}

/**
 * Segment-everything label map of the image's letterbox square for `proposals` (those of `params`; cached with the
 * attention). Guided (params.guided): outlines follow the image (cut it out with cleanArea to drop fragments);
 * otherwise the reference's plain upsampling.
 */
export function squareLabels(image: ImageInput, proposals: Float32Array[], params: DiffSegParams, key: string, ctx: PipelineContext): Promise<SquareLabels> {
  const compute = async (): Promise<SquareLabels> => {
    const side = labelSide(letterbox(image.row.width, image.row.height));
    if (!params.guided) return { labels: await proposalsToLabels(proposals, side, side), side };
    const guide = { rgb: await imageGuide(image, key, ctx) };
    return { labels: await proposalsToLabels(proposals, side, side, { guide }), side, guide };
  };
  return ctx.cache ? ctx.cache.derived(key, `labels|${JSON.stringify(params)}`, compute) : compute();
}

/** Segment-everything merge (proposals + stages) for a parameter set, cached with the attention. */
export function mergeFor(agg: Float32Array, key: string, params: DiffSegParams, cache?: TensorCache): Promise<MergeResult> {
  const compute = () => mergeDetailed(agg, params);
  return cache ? cache.derived(key, `merge|${JSON.stringify(params)}`, compute) : compute();
}

export interface SegmentResult {
  /** One mask per kept segment, at the image size. */
  masks: Rle[];
  proposals: number;
  dropped: number;
  cached: boolean;
}

/** Segment everything on one image (no storage). */
export async function segmentEverything(
  image: ImageInput,
  params: DiffSegParams,
  ctx: PipelineContext & { minAreaFraction?: number },
): Promise<SegmentResult> {
  const { agg, key, cached } = await aggregatedAttention(image, ctx);
  checkAborted(ctx.signal);
  const { proposals } = await mergeFor(agg, key, params, ctx.cache);
  const sq = await squareLabels(image, proposals, params, key, ctx);
  const { width, height } = image.row;
  const rles = cutOutRles(sq.labels, sq.side, letterbox(width, height), proposals.length, cleanArea(sq));
  const minArea = Math.max(1, Math.ceil((ctx.minAreaFraction ?? DEFAULT_MIN_AREA_FRACTION) * width * height));
  const masks = rles.filter((r): r is Rle => r !== null && area(r) >= minArea);
  // Largest first: the order proposals appear in the labeler's list.
  masks.sort((a, b) => area(b) - area(a));
  return { masks, proposals: proposals.length, dropped: rles.filter(Boolean).length - masks.length, cached };
}

/** What a diffseg run records as its params (compared on resume). */
export function runParams(params: DiffSegParams, models: DiffSegModels, minAreaFraction = DEFAULT_MIN_AREA_FRACTION) {
  return { ...params, minAreaFraction, preprocessing: PREPROCESSING, model: models.id };
}

/** Segment everything as a session's run (definition.ts adds the click preview). */
export function everythingSession(
  ctx: Pick<PipelineContext, 'models' | 'cache'> & { minAreaFraction?: number },
): Pick<PipelineSession<DiffSegParams>, 'model' | 'recorded' | 'run'> {
  const minAreaFraction = ctx.minAreaFraction ?? DEFAULT_MIN_AREA_FRACTION;
  return {
    model: ctx.models.name,
    recorded: (params, use) => runParams(params, ctx.models, use === 'run' ? minAreaFraction : 0),
    run: async (image, params, _prompt, run) => {
      const r = await segmentEverything(image, params, { ...ctx, minAreaFraction, signal: run.signal, priority: run.priority });
      return r.masks.map((mask) => ({ mask }));
    },
  };
}

/**
 * Segments one image and stores the result as the runner does for the `diffseg` pipeline: a run (model, params;
 * 'done', or 'failed' with the error, or 'cancelled') with its proposals (categoryId null, source 'diffseg', runId) as
 * ONE undoable edit, in one transaction. Errors are recorded on the run and rethrown.
 */
export function segmentAndStore(
  store: ProjectStore,
  imageId: number,
  params: DiffSegParams,
  ctx: PipelineContext & { minAreaFraction?: number },
) {
  return runOnImage(store, DIFFSEG_RUNS, everythingSession(ctx), imageId, params, null, { signal: ctx.signal, priority: ctx.priority ?? 'batch' });
}
