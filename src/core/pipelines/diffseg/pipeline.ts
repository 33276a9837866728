// DiffSeg end to end for one image: pixels -> 512² letterbox -> VAE mean × scaling -> UNet self-attention ->
// aggregation -> merged proposals -> label map at the ORIGINAL image size (outlines guided by the image's colours
// unless params.guided is false) -> one RLE mask per segment, stored as
// a run plus proposal annotations (one undoable edit). See docs/diffseg.md for the decisions.
//
// Preprocessing (decided: letterbox, not the reference's centre crop, so every pixel of the image gets a label):
// the image is padded to a square of side L = max(w, h) — padX = ⌊(L−w)/2⌋ columns left, padY = ⌊(L−h)/2⌋ rows
// on top, filled by repeating the edge pixels (not a flat colour: a grey band would become a segment of its own
// and attract the blended pixels along object outlines) — and that square is resized to 512² (bilinear, antialiased when shrinking),
// then scaled to [-1,1]. Because the padding is added in original pixels, mapping back is exact: the label map is
// computed on the L×L square (or a 1024² grid for larger images, sampled nearest; the guide image is that square too) and the image's rectangle
// [padX, padX+w) × [padY, padY+h) is cut out. Segments that lie only in the padding vanish there.
import sharp from 'sharp';
import { area, bbox, mergeSmallRegions, toCompressedString, type Rle } from '../../../shared/masks';
import type { RunPriority } from '../../ml/runtime';
import { PROPOSAL_SOURCE, readImageRgb, type Annotation, type ImageRow, type ProjectStore, type Run } from '../../project';
import { aggregateAttention } from './aggregate';
import { attentionCacheKey, type DiffSegCache } from './cache';
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

export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface Letterbox {
  width: number;
  height: number;
  /** L = max(width, height): the padded square, in original pixels. */
  side: number;
  padX: number;
  padY: number;
}

export function letterbox(width: number, height: number): Letterbox {
  if (!(width > 0 && height > 0)) throw new RangeError(`image size ${width}×${height} is empty`);
  const side = Math.max(width, height);
  return { width, height, side, padX: Math.floor((side - width) / 2), padY: Math.floor((side - height) / 2) };
}

/** The letterboxed square of an image (edges repeated) resized to side², row-major RGB bytes. */
export async function squareImage(rgb: RgbImage, side: number): Promise<Uint8Array> {
  const box = letterbox(rgb.width, rgb.height);
  const raw = { width: rgb.width, height: rgb.height, channels: 3 as const };
  let square = Buffer.from(rgb.data.buffer, rgb.data.byteOffset, rgb.data.byteLength);
  // sharp applies extend after resize within one pipeline, so pad first, then resize in a second pass.
  if (box.width !== box.height) {
    square = await sharp(square, { raw })
      .extend({ top: box.padY, bottom: box.side - box.height - box.padY, left: box.padX, right: box.side - box.width - box.padX, extendWith: 'copy' })
      .raw()
      .toBuffer();
  }
  const px =
    box.side === side
      ? square
      : await sharp(square, { raw: { width: box.side, height: box.side, channels: 3 } }).resize(side, side, { kernel: 'linear', fit: 'fill' }).raw().toBuffer();
  if (px.length !== side * side * 3) throw new Error(`letterbox: expected ${side * side * 3} bytes, got ${px.length}`);
  return new Uint8Array(px.buffer, px.byteOffset, px.length);
}

/** [1,3,512,512] float32 in [-1,1] (channel-major) of the letterboxed image. */
export async function preprocess(rgb: RgbImage): Promise<Float32Array> {
  const N = DIFFSEG_IMAGE_SIZE;
  const px = await squareImage(rgb, N);
  const out = new Float32Array(3 * N * N);
  for (let i = 0, n = N * N; i < n; i++) {
    out[i] = px[3 * i]! / 127.5 - 1;
    out[n + i] = px[3 * i + 1]! / 127.5 - 1;
    out[2 * n + i] = px[3 * i + 2]! / 127.5 - 1;
  }
  return out;
}

/** The 64×64 attention cell under an image pixel (x, y) (clamped into the image). */
export function pixelToCell(box: Letterbox, x: number, y: number, side = 64): { x: number; y: number } {
  const cx = Math.min(box.width - 1, Math.max(0, x)) + box.padX + 0.5;
  const cy = Math.min(box.height - 1, Math.max(0, y)) + box.padY + 0.5;
  return { x: Math.min(side - 1, Math.floor((cx * side) / box.side)), y: Math.min(side - 1, Math.floor((cy * side) / box.side)) };
}

/** Side of the square label map of an image (its letterbox side, at most MAX_LABEL_SIDE). */
export function labelSide(box: Letterbox): number {
  return Math.min(box.side, MAX_LABEL_SIDE);
}

/**
 * One RLE per label 0..n-1 (null when absent) of the image's rectangle [padX, padX+w) × [padY, padY+h) of a
 * row-major side×side map of its letterbox square, at the image size (nearest when side < L). With minArea, pieces
 * smaller than that (in map pixels) join their largest neighbour first, within the rectangle, so the cut leaves no
 * sliver of a region lying mostly in the padding. Runs are written straight from the map (no image-size array).
 */
export function cutOutRles(square: Int32Array | Uint8Array, side: number, box: Letterbox, n: number, minArea = 0): Array<Rle | null> {
  const { width: w, height: h } = box;
  const f = side / box.side;
  const at = (v: number) => Math.min(side - 1, Math.floor(v * f));
  // The square's pixels the image samples: columns at(padX + 0.5) … at(padX + w − 0.5), rows likewise.
  const x0 = at(box.padX + 0.5), y0 = at(box.padY + 0.5);
  const cw = at(box.padX + w - 0.5) - x0 + 1, ch = at(box.padY + h - 0.5) - y0 + 1;
  const crop = new (square.constructor as new (k: number) => Int32Array | Uint8Array)(cw * ch);
  for (let y = 0; y < ch; y++) crop.set(square.subarray((y0 + y) * side + x0, (y0 + y) * side + x0 + cw), y * cw);
  if (minArea > 1) mergeSmallRegions(crop, cw, ch, minArea);
  const cols = Int32Array.from({ length: w }, (_, x) => at(x + box.padX + 0.5) - x0);
  const rowStart = new Int32Array(ch + 1).fill(h);
  for (let y = h - 1; y >= 0; y--) rowStart[at(y + box.padY + 0.5) - y0] = y;
  return scaledLabelRles(crop, cw, ch, cols, rowStart, h, n);
}

/** One RLE per label value 0..n-1 of a row-major h×w label map (empty labels: null). */
export function labelMapToRles(labels: Int32Array, h: number, w: number, n: number): Array<Rle | null> {
  return scaledLabelRles(labels, w, h, Int32Array.from({ length: w }, (_, x) => x), Int32Array.from({ length: h + 1 }, (_, y) => y), h, n);
}

/**
 * Column-major runs per label of a mw×mh map shown at h rows × cols.length columns: image column x shows map
 * column cols[x]; image rows [rowStart[r], rowStart[r+1]) show map row r (monotone; empty blocks allowed).
 */
function scaledLabelRles(map: Int32Array | Uint8Array, mw: number, mh: number, cols: Int32Array, rowStart: Int32Array, h: number, n: number): Array<Rle | null> {
  const w = cols.length;
  const runs: number[][] = Array.from({ length: n }, () => []);
  const start = new Float64Array(n).fill(-1);
  const end = new Float64Array(n);
  for (let x = 0; x < w; x++) {
    const c = cols[x]!;
    for (let r = 0; r < mh; r++) {
      const len = rowStart[r + 1]! - rowStart[r]!;
      if (len <= 0) continue;
      const l = map[r * mw + c]!;
      if (l < 0 || l >= n) continue;
      const i = x * h + rowStart[r]!;
      if (start[l]! >= 0 && end[l] === i) {
        end[l]! += len;
        continue;
      }
      const run = runs[l]!;
      if (start[l]! >= 0) run.push(end[l]! - start[l]!, i - end[l]!);
      else run.push(i);
      start[l] = i;
      end[l] = i + len;
    }
  }
  const total = h * w;
  return runs.map((run, l) => {
    if (start[l]! < 0) return null;
    run.push(end[l]! - start[l]!);
    if (end[l]! < total) run.push(total - end[l]!);
    return { h, w, counts: Uint32Array.from(run) };
  });
}

/** Symmetric KL 0.5·KL(x‖y) + 0.5·KL(y‖x) of two maps (clamped away from 0). */
export function symmetricKl(x: Float32Array, y: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.max(x[i]!, 1e-12), b = Math.max(y[i]!, 1e-12);
    s += (a - b) * (Math.log(a) - Math.log(b));
  }
  return 0.5 * s;
}

export function stableParams(p: Partial<DiffSegParams> = {}): DiffSegParams {
  const r = resolveParams({ ...DEFAULT_DIFFSEG_PARAMS, ...p, ...(Array.isArray(p.tau) && p.iterations === undefined ? { iterations: p.tau.length } : {}) });
  return { tau: r.tau, iterations: r.iterations, grid: r.grid, refine: r.refine, guided: r.guided };
}

export interface PipelineContext {
  models: DiffSegModels;
  cache?: DiffSegCache;
  signal?: AbortSignal;
  /** Inference queue priority: 'interactive' for clicks, 'batch' for segment-everything over images. */
  priority?: RunPriority;
}

export function imageCacheKey(image: ImageRow, models: DiffSegModels): string {
  return attentionCacheKey(image.sha1 ?? `${image.path}|${image.bytes}|${image.mtimeMs}`, models.id, PREPROCESSING);
}

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw Object.assign(new Error('cancelled'), { name: 'AbortError' });
}

/**
 * Aggregated 64²×64² attention of an image: from the cache, or by running the models (then cached). `rgb` is the
 * decoded image when it had to be read (for imageGuide, so the file is decoded once).
 */
export async function aggregatedAttention(
  store: ProjectStore,
  image: ImageRow,
  ctx: PipelineContext,
): Promise<{ agg: Float32Array; key: string; cached: boolean; rgb?: RgbImage }> {
  const key = imageCacheKey(image, ctx.models);
  const hit = ctx.cache ? await ctx.cache.get(key) : null;
  if (hit) return { agg: hit, key, cached: true };
  const rgb = await readImageRgb(store, image.id);
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
  return { agg, key, cached: false, rgb };
}

/** The guide for image-guided labels (squareImage at labelSide), kept with the cached attention. */
export function imageGuide(store: ProjectStore, image: ImageRow, key: string, ctx: PipelineContext, rgb?: RgbImage): Promise<Uint8Array> {
  const compute = async () => squareImage(rgb ?? (await readImageRgb(store, image.id)), labelSide(letterbox(image.width, image.height)));
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
export function squareLabels(
  store: ProjectStore, image: ImageRow, proposals: Float32Array[], params: DiffSegParams, key: string, ctx: PipelineContext, rgb?: RgbImage,
): Promise<SquareLabels> {
  const compute = async (): Promise<SquareLabels> => {
    const side = labelSide(letterbox(image.width, image.height));
    if (!params.guided) return { labels: await proposalsToLabels(proposals, side, side), side };
    const guide = { rgb: await imageGuide(store, image, key, ctx, rgb) };
    return { labels: await proposalsToLabels(proposals, side, side, { guide }), side, guide };
  };
  return ctx.cache ? ctx.cache.derived(key, `labels|${JSON.stringify(params)}`, compute) : compute();
}

/** Segment-everything merge (proposals + stages) for a parameter set, cached with the attention. */
export function mergeFor(agg: Float32Array, key: string, params: DiffSegParams, cache?: DiffSegCache): Promise<MergeResult> {
  const compute = () => mergeDetailed(agg, params);
  return cache ? cache.derived(key, `merge|${JSON.stringify(params)}`, compute) : compute();
}

/** Segment-everything proposals for a parameter set (cached with the attention). */
export async function proposalsFor(agg: Float32Array, key: string, params: DiffSegParams, cache?: DiffSegCache): Promise<Float32Array[]> {
  return (await mergeFor(agg, key, params, cache)).proposals;
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
  store: ProjectStore,
  image: ImageRow,
  params: DiffSegParams,
  ctx: PipelineContext & { minAreaFraction?: number },
): Promise<SegmentResult> {
  const { agg, key, cached, rgb } = await aggregatedAttention(store, image, ctx);
  checkAborted(ctx.signal);
  const proposals = await proposalsFor(agg, key, params, ctx.cache);
  const sq = await squareLabels(store, image, proposals, params, key, ctx, rgb);
  const rles = cutOutRles(sq.labels, sq.side, letterbox(image.width, image.height), proposals.length, cleanArea(sq));
  const minArea = Math.max(1, Math.ceil((ctx.minAreaFraction ?? DEFAULT_MIN_AREA_FRACTION) * image.width * image.height));
  const masks = rles.filter((r): r is Rle => r !== null && area(r) >= minArea);
  // Largest first: the order proposals appear in the labeler's list.
  masks.sort((a, b) => area(b) - area(a));
  return { masks, proposals: proposals.length, dropped: rles.filter(Boolean).length - masks.length, cached };
}

export function storedMask(rle: Rle) {
  return { rle: toCompressedString(rle), height: rle.h, width: rle.w, area: area(rle), bbox: bbox(rle) };
}

/** What a diffseg run records as its params (compared on resume). */
export function runParams(params: DiffSegParams, models: DiffSegModels, minAreaFraction = DEFAULT_MIN_AREA_FRACTION) {
  return { ...params, minAreaFraction, preprocessing: PREPROCESSING, model: models.id };
}

export interface StoredSegmentation {
  run: Run;
  annotations: Annotation[];
  cached: boolean;
}

/**
 * Segments one image and stores the result: a run (pipeline 'diffseg', model, params; finished 'done', or
 * 'failed' with the error, or 'cancelled') and its proposals as annotations (categoryId null, source 'diffseg',
 * runId) added in ONE undoable edit; proposals leave the image's status as it is (project/types.ts isProposal).
 * Errors are recorded on the run and rethrown.
 */
export async function segmentAndStore(
  store: ProjectStore,
  imageId: number,
  params: DiffSegParams,
  ctx: PipelineContext & { minAreaFraction?: number },
): Promise<StoredSegmentation> {
  const image = store.getImage(imageId);
  if (!image) throw new Error(`no image with id ${imageId}`);
  const run = store.addRun({ pipeline: 'diffseg', modelBundle: ctx.models.name, params: runParams(params, ctx.models, ctx.minAreaFraction), imageId });
  try {
    if (image.status === 'error') throw new Error(`${image.path} could not be read: ${image.error}`);
    const r = await segmentEverything(store, image, params, ctx);
    checkAborted(ctx.signal);
    const added = store.edit(
      imageId,
      'segment everything',
      r.masks.map((m) => ({ kind: 'add' as const, input: { categoryId: null, source: PROPOSAL_SOURCE, runId: run.id, ...storedMask(m) } })),
    );
    return { run: store.finishRun(run.id, { status: 'done' }), annotations: added.filter((a): a is Annotation => a !== null), cached: r.cached };
  } catch (e) {
    const cancelled = ctx.signal?.aborted === true;
    store.finishRun(run.id, { status: cancelled ? 'cancelled' : 'failed', error: cancelled ? 'cancelled' : errorMessage(e) });
    throw e;
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
