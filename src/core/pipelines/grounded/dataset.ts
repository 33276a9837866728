// Making training data: prompts × N images, each written into a subfolder of the project as a PNG that carries how
// it was made, indexed, and given its grounding masks as annotations of the named categories, with a run recording
// the prompt, seed, sampler, steps, scale and bundle.
//
// Not a pipeline on the runner: a generator has no input image. Each image is one unit of work: the PNG is written
// atomically first, then its index row, the categories it needs, its run and its masks go in ONE transaction. A kill
// leaves at most a PNG without a row, which the next call writes again (same settings, same bytes) and records.
// Resume: an image's file name is its identity (a hash of everything that decides its pixels and masks), so an
// image whose file is indexed with a finished run is not generated again. With `review` (the app) an image is held
// instead (review.ts) and joins the project, as here, when it is kept.
import { createHash } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import sharp from 'sharp';
import { encode, maskFields, type Rle } from '../../../shared/masks';
import { writeFileAtomic } from '../../formats/atomic-file';
import type { ProjectStore } from '../../project';
import { makeThumbnail } from '../../project/image-source';
import { writeThumbnail } from '../../project/thumbnails';
import type { RgbImage } from '../common/frame';
import { generateImage, GenerateInputError, PREVIEW_EVERY, settingsProblem, type GenerateSettings, type PreviewKind } from './generate';
import type { GroundedModels } from './models';
import { encodePng } from './png';
import { holdForReview, isHeld } from './review';

/** The runs' pipeline and the masks' source. */
export const GROUNDED_SOURCE = 'grounded';

export interface DatasetRequest extends Omit<GenerateSettings, 'prompt' | 'seed'> {
  prompts: readonly string[];
  /** Images per prompt: image j of every prompt has seed `seed + j`. */
  count: number;
  seed: number;
  /** The project subfolder the images go to ('/'-separated, inside the project). */
  subfolder: string;
  /** Hold the images for review (review.ts) instead of adding them to the project at once. */
  review?: boolean;
}

export interface DatasetImage {
  path: string;
  imageId: number;
  seed: number;
  prompt: string;
  /** Annotations made, one per category whose mask is not empty. */
  masks: number;
}

export interface DatasetReport {
  model: string;
  generated: DatasetImage[];
  /** Images held for review (with `review`): they join the project when kept. */
  held: Omit<DatasetImage, 'imageId'>[];
  /** Images already there from an earlier call with the same settings. */
  skipped: number;
  cancelled: boolean;
}

export interface DatasetContext {
  signal?: AbortSignal;
  /** Images done (generated or skipped) of all, and the model calls of the one under way. */
  onProgress?(p: { done: number; total: number; step: number; steps: number; path: string }): void;
  /** Every few model calls of image `index` (of the request's, from 0): its preview (generate.ts `onPreview`). */
  onPreview?(p: { index: number; path: string; image: RgbImage; step: number; steps: number }): void | Promise<void>;
  /** How previews are made (default 'latent'). */
  preview?: PreviewKind;
}

/** A subfolder name as the project stores paths, or why it is not one. */
export function checkSubfolder(sub: string): string {
  const norm = posix.normalize(sub.replace(/\\/g, '/')).replace(/\/+$/, '');
  if (!norm || norm === '.' || norm.startsWith('/') || /^[A-Za-z]:/.test(norm) || norm.split('/').includes('..'))
    throw new GenerateInputError(`the output subfolder must be a relative path inside the project, not "${sub}"`);
  if (norm.split('/').some((p) => p.startsWith('.'))) throw new GenerateInputError(`the output subfolder may not be hidden (the indexer skips it): "${sub}"`);
  return norm;
}

/** A file name for an image: a readable part of the prompt, the seed, and a hash of all that decides the image. */
export function imageFileName(s: GenerateSettings, model: string): string {
  const identity = JSON.stringify({
    prompt: s.prompt, negativePrompt: s.negativePrompt, categories: s.categories, grounding: s.grounding, width: s.width, height: s.height, sampler: s.sampler, steps: s.steps, scale: s.scale, seed: s.seed, model,
  });
  const hash = createHash('sha1').update(identity).digest('hex').slice(0, 12);
  const slug = s.prompt.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40) || 'image';
  return `${slug}-s${s.seed}-${hash}.png`;
}

/** The images a request makes, each with its settings, and the subfolder they go to; a GenerateInputError says why it cannot run. */
export function planDataset(req: DatasetRequest): { sub: string; jobs: GenerateSettings[] } {
  const sub = checkSubfolder(req.subfolder);
  if (!req.prompts.length || req.prompts.some((p) => !p.trim())) throw new GenerateInputError('give at least one prompt, none empty');
  if (!req.categories.length) throw new GenerateInputError('give at least one category to mask');
  if (!Number.isInteger(req.count) || req.count < 1) throw new GenerateInputError(`the image count must be an integer ≥ 1, not ${req.count}`);
  const jobs = req.prompts.flatMap((prompt) => Array.from({ length: req.count }, (_, j): GenerateSettings => ({ ...req, prompt, seed: req.seed + j })));
  for (const s of jobs) {
    const problem = settingsProblem(s);
    if (problem) throw new GenerateInputError(problem);
  }
  return { sub, jobs };
}

export async function generateDataset(store: ProjectStore, models: GroundedModels, req: DatasetRequest, ctx: DatasetContext = {}): Promise<DatasetReport> {
  const { sub, jobs } = planDataset(req);
  const model = `${models.name}@${models.manifest.createdAt}`;
  const report: DatasetReport = { model: models.name, generated: [], held: [], skipped: 0, cancelled: false };
  const { onPreview, preview = 'latent' } = ctx;
  for (const [i, s] of jobs.entries()) {
    const path = `${sub}/${imageFileName(s, model)}`;
    const progress = (step: number, steps: number) => ctx.onProgress?.({ done: i, total: jobs.length, step, steps, path });
    if (ctx.signal?.aborted) {
      report.cancelled = true;
      break;
    }
    if (isRecorded(store, path) || (req.review && isHeld(store, path))) {
      report.skipped++;
      continue;
    }
    const startedAt = Date.now();
    let made;
    try {
      made = await generateImage(models, s, {
        signal: ctx.signal, onStep: progress, preview, previewEvery: onPreview ? PREVIEW_EVERY[preview] : 0,
        onPreview: onPreview && ((image, step, steps) => onPreview({ index: i, path, image, step, steps })),
      });
    } catch (e) {
      if ((e as Error).name !== 'AbortError') throw e;
      report.cancelled = true;
      break;
    }
    const recorded = { prompt: s.prompt, negativePrompt: s.negativePrompt, categories: s.categories, grounding: s.grounding, width: s.width, height: s.height, sampler: s.sampler, steps: s.steps, scale: s.scale, seed: s.seed };
    const png = await encodePng(made.image, {
      prompt: s.prompt, negative_prompt: s.negativePrompt, categories: s.categories.join(', '), grounding: s.grounding, seed: String(s.seed), sampler: s.sampler, steps: String(s.steps), scale: String(s.scale), model: models.name, Software: 'DiffLabel',
    });
    const masks = made.masks.map((m, k) => ({ category: s.categories[k]!, rle: encode(m, s.height, s.width) })).filter(({ rle }) => maskFields(rle).area > 0);
    const image: MadeImage = { path, png, width: s.width, height: s.height, params: recorded, model: models.name, categories: s.categories, masks, startedAt };
    if (req.review) {
      await holdForReview(store, image);
      report.held.push({ path, seed: s.seed, prompt: s.prompt, masks: masks.length });
    } else report.generated.push({ path, imageId: await recordImage(store, image), seed: s.seed, prompt: s.prompt, masks: masks.length });
    ctx.onProgress?.({ done: i + 1, total: jobs.length, step: 0, steps: 0, path });
  }
  return report;
}

/** A generated image and its masks, ready to join the project (or to wait for review). */
export interface MadeImage {
  /** Where it goes in the project. */
  path: string;
  png: Buffer;
  width: number;
  height: number;
  /** The run's params: how it was made. */
  params: Record<string, unknown>;
  model: string;
  categories: readonly string[];
  /** The non-empty masks, each of a named category. */
  masks: { category: string; rle: Rle }[];
  startedAt: number;
}

/** Whether the image at `path` is in the project with its finished run (kept, or generated without review). */
export function isRecorded(store: ProjectStore, path: string): boolean {
  const known = store.getImageByPath(path);
  return Boolean(known && store.listRuns({ imageId: known.id, pipeline: GROUNDED_SOURCE, status: 'done' }).length);
}

/**
 * Adds an image to the project: the PNG written atomically at its path, then its index row, its categories, its run
 * and its masks in one transaction. Returns the image's id.
 */
export async function recordImage(store: ProjectStore, image: MadeImage): Promise<number> {
  const { path, png } = image;
  const abs = join(store.folder, ...path.split('/'));
  mkdirSync(dirname(abs), { recursive: true });
  await writeFileAtomic(abs, [png]);
  const imageId = store.transaction(() => {
    const [saved] = store.saveIndexedImages([
      { path, width: image.width, height: image.height, bytes: png.length, mtimeMs: statSync(abs).mtimeMs, sha1: createHash('sha1').update(png).digest('hex'), format: 'png', error: null },
    ]);
    // Every named category exists afterwards, also one whose mask is empty on this image.
    const ids = new Map(image.categories.map((c) => c.trim()).map((name) => [name, (store.getCategoryByName(name) ?? store.addCategory({ name })).id]));
    store.recordRun({
      pipeline: GROUNDED_SOURCE, modelBundle: image.model, params: image.params, imageId: saved!.id, startedAt: image.startedAt, status: 'done',
      masks: { label: 'generate', add: image.masks.map(({ category, rle }) => ({ ...maskFields(rle), categoryId: ids.get(category.trim())!, source: GROUNDED_SOURCE })) },
    });
    return saved!.id;
  });
  writeThumbnail(store, imageId, await makeThumbnail(sharp(png)));
  return imageId;
}
