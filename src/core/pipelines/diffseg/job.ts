// Batch DiffSeg over a project (the `diffseg.segment` job and `difflabel segment`), and DiffSegService: what the
// back end holds per open project (model instances, the attention cache) so API handlers stay one-liners.
import { join } from 'node:path';
import { PROJECT_DIR, StoreError, missingImageMessage, type Annotation, type ProjectStore } from '../../project';
import { DiffSegCache } from './cache';
import { acceptClickSegment, clickSegment, type ClickPoint, type ClickResult } from './interactive';
import { resolveDiffSegModels, type DiffSegModels } from './models';
import { errorMessage, runParams, segmentAndStore, stableParams, DEFAULT_MIN_AREA_FRACTION } from './pipeline';
import type { DiffSegParams } from './params';

export interface BatchOptions {
  /** Default: every image that is not in error. */
  imageIds?: number[];
  params?: Partial<DiffSegParams>;
  models: DiffSegModels;
  cache?: DiffSegCache;
  signal?: AbortSignal;
  minAreaFraction?: number;
  onProgress?: (done: number, total: number, message: string) => void;
  /** After each image's proposals are stored. */
  onImage?: (imageId: number) => void;
}

export interface BatchReport {
  model: string;
  params: DiffSegParams;
  total: number;
  /** Images segmented in this run. */
  segmented: number;
  /** Images skipped: a finished diffseg run with the same model and params exists (resume). */
  skipped: number;
  proposals: number;
  failed: { imageId: number; path: string; error: string }[];
  cancelled: boolean;
}

const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));

/** Runs DiffSeg over images, one run each; resumable (finished images with the same model + params are skipped). */
export async function runDiffSegBatch(store: ProjectStore, o: BatchOptions): Promise<BatchReport> {
  const params = stableParams(o.params);
  const wanted = canonical(runParams(params, o.models, o.minAreaFraction ?? DEFAULT_MIN_AREA_FRACTION));
  // Unreadable and missing images have no pixels to segment.
  const ids = o.imageIds ?? store.listImages({ missing: false }).filter((i) => i.status !== 'error').map((i) => i.id);
  const report: BatchReport = { model: o.models.name, params, total: ids.length, segmented: 0, skipped: 0, proposals: 0, failed: [], cancelled: false };
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
    const done = store
      .listRuns({ imageId: id, pipeline: 'diffseg', status: 'done' })
      .some((r) => r.modelBundle === o.models.name && canonical(r.params) === wanted);
    if (done) {
      report.skipped++;
      continue;
    }
    try {
      const r = await segmentAndStore(store, id, params, { models: o.models, cache: o.cache, signal: o.signal, minAreaFraction: o.minAreaFraction, priority: 'batch' });
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

export interface ServiceOptions {
  /** Model spec used when a call names none: 'fixture', a bundle folder or name (default: env DIFFLABEL_DIFFSEG_MODEL, else the first installed bundle). */
  defaultModel?: string;
  memoryBytes?: number;
  diskBytes?: number;
}

/** Per-project DiffSeg state for the back end: models (opened once per spec) and the attention cache. */
export class DiffSegService {
  readonly cache: DiffSegCache;
  private readonly models = new Map<string, Promise<DiffSegModels>>();

  constructor(readonly store: ProjectStore, private readonly opts: ServiceOptions = {}) {
    this.cache = new DiffSegCache({ diskDir: join(store.folder, PROJECT_DIR, 'cache', 'diffseg'), memoryBytes: opts.memoryBytes, diskBytes: opts.diskBytes });
  }

  /** Opens (once) the model for a spec; throws ModelNotFoundError with conversion instructions when none is installed. */
  model(spec?: string): Promise<DiffSegModels> {
    const key = spec ?? this.opts.defaultModel ?? process.env['DIFFLABEL_DIFFSEG_MODEL'] ?? '';
    let m = this.models.get(key);
    if (!m) {
      m = resolveDiffSegModels(key || undefined);
      m.catch(() => this.models.delete(key));
      this.models.set(key, m);
    }
    return m;
  }

  async click(imageId: number, points: ClickPoint[], params?: Partial<DiffSegParams>, model?: string): Promise<ClickResult> {
    const image = this.image(imageId);
    return clickSegment(this.store, image, points, stableParams(params), { models: await this.model(model), cache: this.cache, priority: 'interactive' });
  }

  async acceptClick(imageId: number, points: ClickPoint[], categoryId: number | null, params?: Partial<DiffSegParams>, model?: string): Promise<Annotation> {
    const image = this.image(imageId);
    return acceptClickSegment(this.store, image, points, categoryId, stableParams(params), { models: await this.model(model), cache: this.cache, priority: 'interactive' });
  }

  async batch(o: Omit<BatchOptions, 'models' | 'cache'> & { model?: string }): Promise<BatchReport> {
    return runDiffSegBatch(this.store, { ...o, models: await this.model(o.model), cache: this.cache });
  }

  private image(id: number) {
    const image = this.store.getImage(id);
    if (!image) throw new RangeError(`no image with id ${id}`);
    if (image.status === 'error') throw new RangeError(`image ${image.path} could not be read: ${image.error}`);
    if (image.missingSince !== null) throw new StoreError('conflict', missingImageMessage(image));
    return image;
  }

  async dispose(): Promise<void> {
    await this.cache.flush();
    for (const m of this.models.values()) await (await m.catch(() => null))?.dispose();
    this.models.clear();
  }
}
