// The one runner every pipeline goes through: resolve the bundle → run the session on an image → store the run, its
// prompt and its proposals in ONE transaction (ProjectStore.recordRun; no run is ever left 'running'); resume skips
// images with a finished run of the same pipeline, model, params and prompt; previews and their acceptance likewise.
// PipelineService is what the back end and the CLI hold per open project: sessions per (pipeline, model), and each
// pipeline's tensor cache.
import { join } from 'node:path';
import { Prompt as PromptSchema, type BatchReport, type Prompt } from '../../shared/contract';
import { area, fromCompressedString, maskFields, toCompressedString, type Rle } from '../../shared/masks';
import { PROJECT_DIR, StoreError, missingImageMessage, readImageRgb, type Annotation, type EditOp, type ImageRow, type ProjectStore, type Run } from '../project';
import { modelEnvName, resolveBundle } from './common/bundles';
import { sharedInferenceHost } from './common/inference';
import type { TensorCache } from './common/tensorCache';
import type { RgbImage } from './common/frame';
import type { ExampleInput, ImageInput, Pipeline, PipelineSession, RunContext } from './types';

/** The caller's mistake (bad params, a prompt of the wrong kind, nothing selected): the API's bad_request. */
export class PipelineInputError extends RangeError {
  override name = 'PipelineInputError';
  constructor(message: string, readonly issues: { path: string; message: string }[] = []) {
    super(message);
  }
}

/** An image of a project, its pixels decoded once, on first use. */
export function imageInput(store: ProjectStore, row: ImageRow): ImageInput {
  let rgb: Promise<RgbImage> | null = null;
  return {
    row,
    rgb: () => {
      rgb ??= readImageRgb(store, row.id);
      rgb.catch(() => (rgb = null));
      return rgb;
    },
  };
}

/** `raw` checked against the pipeline's schema, defaults filled in; a PipelineInputError naming each field otherwise. */
export function parseParams<P>(p: Pipeline<P>, raw: unknown = {}): P {
  const r = p.params.safeParse(raw);
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 20).map((i) => ({ path: ['params', ...i.path].join('.'), message: i.message }));
  throw new PipelineInputError(`invalid ${p.title} parameters: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
}

/**
 * The prompt a call needs, or a PipelineInputError. Previews take the pipeline's prompt kind. Runs over images take it
 * too (a text, an example, a vocabulary applies to every image), except clicks: points belong to one image, so a
 * points pipeline runs over images without a prompt (DiffSeg's segment everything).
 */
export function checkPrompt(p: Pipeline, prompt: Prompt | null | undefined, use: 'run' | 'preview'): Prompt | null {
  if (use === 'preview' && !p.preview) throw new PipelineInputError(`${p.title} has no interactive preview`);
  const kind = use === 'run' && p.prompt === 'points' ? 'none' : p.prompt;
  if (kind === 'none') {
    if (prompt) throw new PipelineInputError(`${p.title} takes no prompt ${use === 'run' ? 'to run over images' : ''}`.trim(), [{ path: 'prompt', message: 'not taken' }]);
    return null;
  }
  if (!prompt) throw new PipelineInputError(`${p.title} needs a ${kind} prompt`, [{ path: 'prompt', message: `a ${kind} prompt is needed` }]);
  if (prompt.kind !== kind) throw new PipelineInputError(`${p.title} takes a ${kind} prompt, not ${prompt.kind}`, [{ path: 'prompt.kind', message: `must be ${kind}` }]);
  if (prompt.kind === 'points' && !prompt.points.length && !prompt.box) {
    throw new PipelineInputError(`${p.title} needs a click or a box`, [{ path: 'prompt.points', message: 'at least one click, or a box' }]);
  }
  if (prompt.kind === 'points' && prompt.box && !(prompt.box[2] > 0 && prompt.box[3] > 0)) {
    throw new PipelineInputError(`the box [${prompt.box.join(', ')}] has no area`, [{ path: 'prompt.box', message: 'width and height must be > 0' }]);
  }
  return prompt;
}

/** The annotation an example prompt names, with its image; a PipelineInputError when it cannot serve as one. */
export function exampleInput(store: ProjectStore, annotationId: number): ExampleInput {
  const a = store.getAnnotation(annotationId);
  if (!a) throw new PipelineInputError(`the example annotation ${annotationId} does not exist`, [{ path: 'prompt.annotationId', message: 'no such annotation' }]);
  const image = store.getImage(a.imageId)!;
  if (image.status === 'error' || image.missingSince !== null)
    throw new PipelineInputError(`the example's image ${image.path} cannot be read${image.error ? `: ${image.error}` : ''}`, [{ path: 'prompt.annotationId', message: 'its image cannot be read' }]);
  return { annotationId, categoryId: a.categoryId, mask: fromCompressedString(a.rle, a.height, a.width), image: imageInput(store, image) };
}

/** `ctx` with the example its prompt names, resolved once. */
function withExample(store: ProjectStore, prompt: Prompt | null, ctx: RunContext): RunContext {
  return prompt?.kind === 'example' && !ctx.example ? { ...ctx, example: exampleInput(store, prompt.annotationId) } : ctx;
}

/**
 * What a run stores of its prompt: the prompt without its kind (that is the row's), and the pipeline; for an example,
 * also the mask and category it had: resume does not take an edited example for the same prompt, and the run's
 * proposals (unassigned, as every proposal) are offered in that category.
 */
function promptRow(p: Pick<Pipeline, 'id'>, prompt: Prompt | null, example?: ExampleInput) {
  if (!prompt) return null;
  const { kind, ...payload } = prompt;
  const used = example ? { example: { rle: toCompressedString(example.mask), categoryId: example.categoryId } } : {};
  return { kind, payload: { ...payload, pipeline: p.id, ...used } };
}

/**
 * The prompts `p`'s runs were given, each once (promptRow's payload read back; the example's mask and category as it
 * was are not part of it), the last used first, with how many runs had each.
 */
export function recentPrompts(store: ProjectStore, p: Pick<Pipeline, 'id'>, limit: number): { prompt: Prompt; usedAt: number; runs: number }[] {
  const byKey = new Map<string, { prompt: Prompt; usedAt: number; runs: number }>();
  for (const row of store.listPrompts().reverse()) {
    const { pipeline, example: _used, ...payload } = row.payload as Record<string, unknown>;
    if (pipeline !== p.id) continue;
    const parsed = PromptSchema.safeParse({ kind: row.kind, ...payload });
    if (!parsed.success) continue; // a payload an older version wrote in another shape
    const key = JSON.stringify(parsed.data);
    const seen = byKey.get(key);
    if (seen) seen.runs++;
    else byKey.set(key, { prompt: parsed.data, usedAt: row.createdAt, runs: 1 });
  }
  return [...byKey.values()].slice(0, limit);
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw Object.assign(new Error('cancelled'), { name: 'AbortError' });
}

/**
 * Runs a session on one image and stores what it made: the run (pipeline, model, recorded params; 'done', or 'failed'
 * with the error, or 'cancelled'), its prompt, and its proposals (categoryId null, source the pipeline's id) as one
 * undoable step, together. Errors are recorded on the run and rethrown; an example prompt whose annotation is gone is
 * refused before any run.
 */
export async function runOnImage<P>(
  store: ProjectStore,
  p: Pick<Pipeline<P>, 'id' | 'runLabel'>,
  session: Pick<PipelineSession<P>, 'model' | 'recorded' | 'run'>,
  imageId: number,
  params: P,
  prompt: Prompt | null,
  ctx: RunContext,
): Promise<{ run: Run; annotations: Annotation[] }> {
  const image = store.getImage(imageId);
  if (!image) throw new Error(`no image with id ${imageId}`);
  ctx = withExample(store, prompt, ctx);
  const startedAt = Date.now();
  const run = { pipeline: p.id, modelBundle: session.model, params: session.recorded(params, 'run'), imageId, startedAt, proposes: true, prompt: promptRow(p, prompt, ctx.example) };
  try {
    if (image.status === 'error') throw new Error(`${image.path} could not be read: ${image.error}`);
    const proposals = await session.run(imageInput(store, image), params, prompt, ctx);
    checkAborted(ctx.signal);
    const add = proposals.map((x) => ({
      categoryId: null, source: p.id, score: x.score ?? null, ...maskFields(x.mask),
      ...(x.category ? { suggests: { name: x.category.name, isthing: x.category.isThing } } : {}),
    }));
    return store.recordRun({ ...run, status: 'done', masks: { label: p.runLabel, add } });
  } catch (e) {
    const cancelled = ctx.signal?.aborted === true;
    try {
      store.recordRun({ ...run, status: cancelled ? 'cancelled' : 'failed', error: cancelled ? 'cancelled' : errorMessage(e) });
    } catch {
      // The project could not take even that (the disk failed): the error the caller gets is the run's own.
    }
    throw e;
  }
}

const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));

export interface BatchOptions {
  /** Default: every image whose file is there and readable. */
  imageIds?: number[];
  prompt?: Prompt | null;
  signal?: AbortSignal;
  /** `preview`: an iterative pipeline's current mask on the image it is working on, when it has a new one. */
  onProgress?: (done: number, total: number, message: string, preview?: { imageId: number; mask: Rle }) => void;
  /** After each image's proposals are stored. */
  onImage?: (imageId: number) => void;
}

/** A session over images, one run each; resumable (images with a finished run of the same kind are skipped). */
export async function runBatch<P>(store: ProjectStore, p: Pipeline<P>, session: PipelineSession<P>, params: P, o: BatchOptions = {}): Promise<BatchReport> {
  return prepareBatch(store, p, session, params, o.prompt ?? null)(o);
}

/**
 * What a batch checks before it runs (the example its prompt names, params the session refuses), thrown here, so
 * that a caller starting a job can refuse the call instead; the batch itself is the function returned.
 */
export function prepareBatch<P>(store: ProjectStore, p: Pipeline<P>, session: PipelineSession<P>, params: P, prompt: Prompt | null): (o: Omit<BatchOptions, 'prompt'>) => Promise<BatchReport> {
  const { example } = withExample(store, prompt, { priority: 'batch' });
  const wanted = canonical({ params: session.recorded(params, 'run'), prompt: promptRow(p, prompt, example)?.payload ?? null });
  const sameRun = (r: Run) => r.modelBundle === session.model && canonical({ params: r.params, prompt: store.listPrompts({ runId: r.id })[0]?.payload ?? null }) === wanted;
  return (o) => batchLoop(store, p, session, params, prompt, example, sameRun, o);
}

async function batchLoop<P>(
  store: ProjectStore, p: Pipeline<P>, session: PipelineSession<P>, params: P, prompt: Prompt | null, example: ExampleInput | undefined,
  sameRun: (r: Run) => boolean, o: Omit<BatchOptions, 'prompt'>,
): Promise<BatchReport> {
  // Unreadable and missing images have no pixels to segment.
  const ids = o.imageIds ?? store.listImages({ missing: false }).filter((i) => i.status !== 'error').map((i) => i.id);
  const report: BatchReport = {
    pipeline: p.id, model: session.model, params: params as Record<string, unknown>, total: ids.length, segmented: 0, skipped: 0, proposals: 0, failed: [], cancelled: false,
  };
  for (let i = 0; i < ids.length; i++) {
    if (o.signal?.aborted) {
      report.cancelled = true;
      break;
    }
    const id = ids[i]!;
    const image = store.getImage(id);
    o.onProgress?.(i, ids.length, image?.path ?? `image ${id}`);
    if (!image) {
      report.failed.push({ imageId: id, path: '', error: `no image with id ${id}` });
      continue;
    }
    if (store.listRuns({ imageId: id, pipeline: p.id, status: 'done' }).some(sameRun)) {
      report.skipped++;
      continue;
    }
    // Progress within the image (an iterative pipeline) goes into the batch's message, its live mask with it.
    const within = ({ fraction, message, mask }: { fraction: number; message?: string; mask?: Rle }) =>
      o.onProgress?.(i, ids.length, `${image.path}: ${Math.round(fraction * 100)}%${message ? ` ${message}` : ''}`, mask && { imageId: id, mask });
    try {
      const r = await runOnImage(store, p, session, id, params, prompt, { signal: o.signal, priority: 'batch', onProgress: within, example });
      report.segmented++;
      report.proposals += r.annotations.length;
      o.onImage?.(id);
    } catch (e) {
      if (o.signal?.aborted) {
        report.cancelled = true;
        break;
      }
      report.failed.push({ imageId: id, path: image.path, error: errorMessage(e) }); // recorded on its run too
    }
  }
  if (!report.cancelled) o.onProgress?.(ids.length, ids.length, 'done');
  return report;
}

export interface PreviewResult {
  mask: Rle;
  area: number;
  cached: boolean;
  ms: number;
}

/** The mask a prompt gives on an image (not stored). */
export async function previewOn<P>(p: Pipeline<P>, session: PipelineSession<P>, image: ImageInput, params: P, prompt: Prompt, cachedOnly = false): Promise<PreviewResult> {
  if (!p.preview || !session.preview) throw new PipelineInputError(`${p.title} has no interactive preview`);
  const t0 = performance.now();
  const r = await session.preview(image, params, prompt, { priority: 'interactive', cachedOnly });
  return { mask: r.mask, area: area(r.mask), cached: r.cached, ms: performance.now() - t0 };
}

/**
 * Keeps a preview: a run (`<id>-<preview>`, model, params), the prompt of that run and the mask (that source, runId,
 * `categoryId`) as one undoable step, in ONE transaction: a failure leaves none of them.
 */
/** How an accepted mask shares its image under no overlap: what it may keep, and the edits it makes to the others. */
export interface Exclusive {
  limit(mask: Rle): Rle;
  others(mask: ReturnType<typeof maskFields>): EditOp[];
}

export async function acceptPreview<P>(
  store: ProjectStore, p: Pipeline<P>, session: PipelineSession<P>, image: ImageInput, params: P, prompt: Prompt, categoryId: number | null, exclusive?: Exclusive,
): Promise<Annotation> {
  const startedAt = Date.now();
  const r = await previewOn(p, session, image, params, prompt);
  if (r.area === 0) throw new PipelineInputError('the prompt selects no pixels: nothing to accept');
  const name = `${p.id}-${p.preview!.name}`;
  const mask = maskFields(exclusive ? exclusive.limit(r.mask) : r.mask);
  const { annotations } = store.recordRun({
    pipeline: name, modelBundle: session.model, params: session.recorded(params, 'preview'), imageId: image.row.id, startedAt, status: 'done',
    proposes: false, prompt: promptRow(p, prompt), masks: { label: p.preview!.label, add: [{ categoryId, source: name, ...mask }], others: exclusive?.others(mask) },
  });
  return annotations[0]!;
}

export interface ServiceOptions {
  /** Memory of each pipeline's tensor cache (the CLI's batch keeps none: 0). */
  memoryBytes?: number;
  diskBytes?: number;
}

/** Per open project: each pipeline's sessions (opened once per model spec) and tensor cache. */
export class PipelineService {
  private readonly sessions = new Map<string, Promise<PipelineSession>>();
  private readonly caches = new Map<string, TensorCache>();

  constructor(readonly store: ProjectStore, private readonly opts: ServiceOptions = {}) {}

  /** Opens (once) `p` on the model `model` (default: $DIFFLABEL_<ID>_MODEL, else the automatic choice). */
  session<P>(p: Pipeline<P>, model?: string): Promise<PipelineSession<P>> {
    const spec = model ?? process.env[modelEnvName(p)] ?? '';
    const key = `${p.id}\n${spec}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = (async () => p.open({ bundle: await resolveBundle(p, spec || undefined), host: sharedInferenceHost(), cache: this.cache(p) }))();
      s.catch(() => this.sessions.delete(key));
      this.sessions.set(key, s);
    }
    return s as Promise<PipelineSession<P>>;
  }

  private cache(p: Pipeline): TensorCache | null {
    if (!p.cache) return null;
    let c = this.caches.get(p.id);
    if (!c) {
      c = p.cache({ diskDir: join(this.store.folder, PROJECT_DIR, 'cache', p.id), memoryBytes: this.opts.memoryBytes, diskBytes: this.opts.diskBytes });
      this.caches.set(p.id, c);
    }
    return c;
  }

  async batch<P>(p: Pipeline<P>, params: P, o: BatchOptions & { model?: string }): Promise<BatchReport> {
    return (await this.prepareBatch(p, params, o.prompt ?? null, o.model)).run(o);
  }

  /** Opens the session and checks the batch (prepareBatch): refusals come here, before anything runs. */
  async prepareBatch<P>(p: Pipeline<P>, params: P, prompt: Prompt | null, model?: string) {
    const session = await this.session(p, model);
    return { model: session.model, run: prepareBatch(this.store, p, session, params, prompt) };
  }

  async preview<P>(p: Pipeline<P>, imageId: number, params: P, prompt: Prompt, model?: string, cachedOnly?: boolean): Promise<PreviewResult> {
    const image = this.image(imageId);
    return previewOn(p, await this.session(p, model), image, params, prompt, cachedOnly);
  }

  async accept<P>(p: Pipeline<P>, imageId: number, params: P, prompt: Prompt, categoryId: number | null, model?: string, exclusive?: Exclusive): Promise<Annotation> {
    const image = this.image(imageId);
    return acceptPreview(this.store, p, await this.session(p, model), image, params, prompt, categoryId, exclusive);
  }

  /** An image a preview can run on: its file is there and could be read. */
  private image(id: number): ImageInput {
    const image = this.store.getImage(id);
    if (!image) throw new StoreError('not-found', `no image with id ${id}`);
    if (image.status === 'error') throw new PipelineInputError(`image ${image.path} could not be read: ${image.error}`);
    if (image.missingSince !== null) throw new StoreError('conflict', missingImageMessage(image));
    return imageInput(this.store, image);
  }

  async dispose(): Promise<void> {
    await Promise.all([...this.caches.values()].map((c) => c.flush()));
    for (const s of this.sessions.values()) await (await s.catch(() => null))?.dispose();
    this.sessions.clear();
  }
}
