// The back end behind the contract: validates every payload, runs the method against the open project,
// and pushes events. Electron IPC and the web server both call `dispatch`; neither holds logic of its own.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import {
  isProposal,
  methods,
  type Annotation,
  type Example,
  type PipelineInfo,
  type EditResult,
  type EventName,
  type EventPayload,
  type Image,
  type MethodName,
  type MethodOutput,
  type ProjectInfo,
  type ProjectVocabulary,
  type ShapeGeometry,
} from '../../shared/contract';
import { exportCoco, writeCocoFile } from '../formats/coco/export';
import { writePanoptic } from '../formats/coco/panoptic-export';
import { importCoco, importCocoFile } from '../formats/coco/import';
import { exportDataset, importDataset } from '../formats/dataset';
import { requireInside } from '../formats/files';
import { JobManager } from '../jobs/manager';
import { connectedComponents, fromCocoRle, fromCompressedString, maskFields, subtract, toCompressedString, unionAll, type Rle } from '../../shared/masks';
import {
  ProjectOpenError,
  ProjectStore,
  StoreError,
  indexFolder,
  missingImageMessage,
  type AnnotationRow,
  type CategoryRow,
  type EditOp,
  type Example as ExampleRow,
  type ImageRow,
} from '../project';
import { availability, modelEnvName } from '../pipelines/common/bundles';
import { inferenceStatus } from '../pipelines/common/inference';
import { getPipeline, listPipelines } from '../pipelines/registry';
import { checkPrompt, parseParams, PipelineInputError, PipelineService, recentPrompts } from '../pipelines/run';
import type { Pipeline } from '../pipelines/types';
import { vocabularyEntries } from '../pipelines/common/vocabulary';
import { ApiError, knownApiError } from './errors';
import { GenerateService } from './generate';
import { ModelManager } from './models';

/** The project setting that holds its vocabulary. */
const VOCABULARY_SETTING = 'vocabulary';

type Handlers = { [M in MethodName]: (input: z.output<(typeof methods)[M]['input']>) => Promise<MethodOutput<M>> | MethodOutput<M> };
export type EventSink = <E extends EventName>(event: E, payload: EventPayload<E>) => void;

export interface BackendOptions {
  shell: 'electron' | 'web';
  version?: string;
  /** Native folder picker (Electron); absent in web mode. */
  pickFolder?: () => Promise<string | null>;
  /** Native file picker offering files with these extensions (Electron); absent in web mode. */
  pickFile?: (extensions?: string[]) => Promise<string | null>;
}

export class Backend {
  private store: ProjectStore | null = null;
  private readonly listeners = new Set<EventSink>();
  readonly jobs = new JobManager({
    progress: (job, preview) =>
      this.emit('job.progress', {
        jobId: job.id, kind: job.kind, done: job.done, total: job.total, message: job.message,
        ...(preview && 'mask' in preview ? { preview: { imageId: preview.imageId, mask: { size: [preview.mask.h, preview.mask.w], counts: toCompressedString(preview.mask) } } } : {}),
        ...(preview && 'sample' in preview ? { sample: preview.sample } : {}),
      }),
    finished: (job) => this.emit('job.finished', job),
  });

  private pipelineService: PipelineService | null = null;
  private readonly models: ModelManager;
  private readonly generator: GenerateService;

  constructor(private readonly options: BackendOptions) {
    this.models = new ModelManager({
      jobs: this.jobs, web: options.shell === 'web', projectFolder: () => this.store?.folder ?? null, changed: () => this.emit('models.changed', {}),
    });
    this.generator = new GenerateService({ jobs: this.jobs, models: this.models, emit: (event, payload) => this.emit(event, payload) });
  }

  /** The open project's pipeline sessions and caches; made on first use. */
  private pipelines(): PipelineService {
    const store = this.need();
    if (this.pipelineService?.store !== store) this.pipelineService = new PipelineService(store);
    return this.pipelineService;
  }

  private pipeline(id: string): Pipeline {
    const p = getPipeline(id);
    if (!p) throw new ApiError('bad_request', `no pipeline "${id}" (there are: ${listPipelines().map((x) => x.id).join(', ')})`, [{ path: 'pipeline', message: 'unknown pipeline' }]);
    return p;
  }

  onEvent(listener: EventSink): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit<E extends EventName>(event: E, payload: EventPayload<E>): void {
    for (const l of this.listeners) l(event, payload);
  }

  get project(): ProjectStore | null {
    return this.store;
  }

  openProject(folder: string): ProjectInfo {
    let store: ProjectStore;
    try {
      store = ProjectStore.open(expandHome(folder));
    } catch (e) {
      if (e instanceof ProjectOpenError) throw new ApiError('project_refused', e.message);
      throw e;
    }
    this.store?.close();
    this.store = store;
    void this.pipelineService?.dispose();
    this.pipelineService = null;
    this.emit('project.changed', { what: 'project' });
    return this.info(store);
  }

  async close(): Promise<void> {
    await this.jobs.cancelAll();
    await this.pipelineService?.dispose();
    this.pipelineService = null;
    this.store?.close();
    this.store = null;
  }

  /** Validates `rawInput` against the contract, runs the method, and returns its output. */
  async dispatch(method: string, rawInput: unknown): Promise<unknown> {
    if (!Object.hasOwn(methods, method)) throw new ApiError('not_found', `unknown method "${method}"`);
    const m = method as MethodName;
    const parsed = methods[m].input.safeParse(rawInput ?? {});
    if (!parsed.success) {
      // A list of many wrong entries is an issue each: the answer names the first 20.
      const all = parsed.error.issues;
      const issues = all.slice(0, 20).map((i) => ({ path: i.path.join('.'), message: i.message }));
      const more = all.length > issues.length ? `; and ${all.length - issues.length} more` : '';
      throw new ApiError('bad_request', `invalid payload for ${m}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}${more}`, issues);
    }
    try {
      return await (this.handlers[m] as (i: unknown) => unknown)(parsed.data);
    } catch (e) {
      // The caller's mistakes become 4xx answers; anything else is ours and stays as it is for the transport to log.
      throw knownApiError(e) ?? e;
    }
  }

  private need(): ProjectStore {
    if (!this.store) throw new ApiError('no_project', 'no project is open: open a folder first');
    return this.store;
  }

  private info(store: ProjectStore): ProjectInfo {
    return { folder: store.folder, dbPath: store.dbPath, schemaVersion: store.schemaVersion, stats: store.stats() };
  }

  private image(id: number): ImageRow {
    const img = this.need().getImage(id);
    if (!img) throw new ApiError('not_found', `no image with id ${id}`);
    return img;
  }

  private annotationRow(id: number): AnnotationRow {
    const a = this.need().getAnnotation(id);
    if (!a) throw new ApiError('not_found', `no annotation with id ${id}`);
    return a;
  }

  /** Decodes and checks a mask from the API against its image, and derives what the store keeps. */
  private maskFields(mask: unknown, img: ImageRow) {
    const rle = fromCocoRle(mask);
    if (rle.h !== img.height || rle.w !== img.width)
      throw new ApiError('bad_request', `mask size ${rle.h}×${rle.w} (h×w) does not match image ${img.height}×${img.width}`);
    return maskFields(rle);
  }

  /** An image whose masks and status may change: not one that cannot be read or whose file is missing. */
  private editableImage(id: number): ImageRow {
    const img = this.image(id);
    if (img.status === 'error') throw new ApiError('conflict', `image ${img.path} could not be read: ${img.error}`);
    if (img.missingSince !== null) throw new ApiError('conflict', missingImageMessage(img));
    return img;
  }

  /**
   * The edits that take `mask`'s pixels from the image's other masks (all but `keep`): those it overlaps lose them,
   * those it covers whole are deleted. Only masks whose box meets the mask's box are decoded.
   */
  private withoutOverlap(imageId: number, mask: ReturnType<typeof maskFields>, keep?: number | ReadonlySet<number>): EditOp[] {
    const cut = fromCompressedString(mask.rle, mask.height, mask.width);
    const [x, y, w, h] = mask.bbox;
    const ops: EditOp[] = [];
    for (const row of this.need().listAnnotations({ imageId })) {
      const [bx, by, bw, bh] = row.bbox;
      if (row.id === keep || (typeof keep === 'object' && keep.has(row.id)) || row.shape !== 'mask' || bx >= x + w || by >= y + h || bx + bw <= x || by + bh <= y) continue;
      const rest = subtract(rleOf(row), cut);
      const left = maskFields(rest);
      if (left.area === row.area) continue;
      ops.push(left.area === 0 ? { kind: 'delete', id: row.id } : { kind: 'update', id: row.id, patch: left });
    }
    return ops;
  }

  /**
   * A merged or split mask under "no overlap": the mask less the `locked` masks' pixels (they keep theirs, as an
   * added mask leaves them out), refused when nothing is left.
   */
  private lessLocked(imageId: number, mask: Rle, locked: readonly number[], own: ReadonlySet<number>): Rle {
    const keep = locked.filter((id) => !own.has(id)).map((id) => this.annotationRow(id));
    const stray = keep.find((r) => r.imageId !== imageId);
    if (stray) throw new ApiError('bad_request', `locked annotation ${stray.id} belongs to another image (${stray.imageId})`);
    if (!keep.length) return mask;
    const rest = subtract(mask, unionAll(keep.map(rleOf)));
    if (maskFields(rest).area === 0) throw new ApiError('bad_request', 'the mask lies under locked masks only: unlock one to take its pixels');
    return rest;
  }

  /** One undoable step on an image's annotations; announces the change. */
  /**
   * Indexes the folder before an import matches its entries to images, so images added since the last index get
   * their masks (a running index is waited for, not run twice).
   */
  private async indexForImport(): Promise<void> {
    const running = this.jobs.list().find((j) => j.kind === 'index' && j.state === 'running');
    if (running) await this.jobs.wait(running.id);
    const report = await indexFolder(this.need());
    if (report.added || report.updated || report.moved.length || report.returned.length || report.removed) this.emit('project.changed', { what: 'images' });
  }

  private edit(imageId: number, label: string, ops: EditOp[]): Array<AnnotationRow | null> {
    this.editableImage(imageId);
    const out = this.need().edit(imageId, label, ops);
    this.emit('project.changed', { what: 'annotations', imageId });
    return out;
  }

  private editResult(imageId: number): EditResult {
    const store = this.need();
    return {
      annotations: store.listAnnotations({ imageId }).map(this.toApi),
      history: { imageId, ...store.historyState(imageId) },
    };
  }

  /** An annotation as the API gives it: with whether its run proposed it and, for a proposal, the category its run was asked to find. */
  private readonly toApi = (a: AnnotationRow): Annotation => {
    const store = this.need();
    const proposed = store.runProposes(a.runId);
    return toAnnotation(a, proposed, isProposal({ categoryId: a.categoryId, proposed }) ? (store.suggestedCategory(a.id) ?? this.askedCategory(a.runId!)) : null);
  };

  /**
   * The category a run was asked to find (a proposal's own, found as a named category, comes first: store
   * suggestedCategory): any pipeline's run whose stored prompt carries an example records the example's category
   * with it (pipelines/run.ts promptRow); a text prompt may name one. Null when it names none, or one deleted since.
   */
  private askedCategory(runId: number): number | null {
    const store = this.need();
    const payload = store.listPrompts({ runId })[0]?.payload as { example?: { categoryId?: unknown }; categoryId?: unknown } | undefined;
    const id = payload?.example?.categoryId ?? payload?.categoryId;
    return typeof id === 'number' && store.getCategory(id) ? id : null;
  }

  /** An example as the API gives it: with its image's path, and its mask's category and box. */
  private toExample(e: ExampleRow): Example {
    const store = this.need();
    const a = store.getAnnotation(e.annotationId)!; // deleting a mask deletes its examples (foreign key, cascade)
    return { id: e.id, annotationId: e.annotationId, label: e.label, imageId: e.imageId, imagePath: store.getImage(e.imageId)!.path, categoryId: a.categoryId, bbox: a.bbox };
  }

  private readonly handlers: Handlers = {
    'app.info': () => ({
      version: this.options.version ?? '0.0.0',
      shell: this.options.shell,
      project: this.store ? this.info(this.store) : null,
    }),
    'app.pickFolder': async () => ({ folder: this.options.pickFolder ? await this.options.pickFolder() : null }),
    'runtime.status': () => inferenceStatus(),
    'app.pickFile': async ({ extensions }) => ({ file: this.options.pickFile ? await this.options.pickFile(extensions) : null }),
    'models.list': () => this.models.list(),
    'models.add': (input) => this.models.add(input),
    'models.verify': ({ dir }) => this.models.verify(dir),
    'models.remove': ({ dir }) => this.models.remove(dir),
    'project.open': ({ folder }) => this.openProject(folder),
    'project.stats': () => this.need().stats(),
    'project.index': () => {
      const store = this.need();
      const running = this.jobs.list().find((j) => j.kind === 'index' && j.state === 'running');
      if (running) return { jobId: running.id };
      const job = this.jobs.start('index', async (ctx) => {
        const report = await indexFolder(store, {
          signal: ctx.signal,
          onProgress: (done, total, path) => ctx.progress(done, total, path),
        });
        this.emit('project.changed', { what: 'images' });
        return report;
      });
      return { jobId: job.id };
    },
    'jobs.list': () => this.jobs.list(),
    'jobs.cancel': ({ id }) => {
      const job = this.jobs.cancel(id);
      if (!job) throw new ApiError('not_found', `no job ${id}`);
      return job;
    },
    'images.position': ({ id, ...filter }) => {
      this.image(id); // not-found for an unknown id
      const store = this.need();
      return { index: store.imagePosition(id, filter), total: store.countImages(filter) };
    },
    'images.list': ({ offset, limit, ...filter }) => {
      const store = this.need();
      return {
        total: store.countImages(filter),
        items: store.listImages({ ...filter, offset, limit }).map(toImage),
      };
    },
    'images.get': ({ id }) => toImage(this.image(id)),
    'images.setStatus': ({ id, status }) => {
      this.editableImage(id);
      this.need().setImageStatus(id, status);
      this.emit('project.changed', { what: 'images', imageId: id });
      return toImage(this.image(id));
    },
    'categories.list': () => this.need().listCategories().map(toCategory),
    'vocabulary.get': () => {
      const store = this.need();
      const cats = store.listCategories();
      return (store.getSetting(VOCABULARY_SETTING) as ProjectVocabulary | undefined) ?? { names: cats.map((c) => c.name), stuff: cats.filter((c) => !c.isthing).map((c) => c.name) };
    },
    'vocabulary.set': (v) => {
      const store = this.need();
      // Refused by the rules a run's prompt is checked by (a word in two entries, stuff that is no entry): what is stored runs.
      try {
        vocabularyEntries(v);
      } catch (e) {
        if (e instanceof PipelineInputError) throw new ApiError('bad_request', e.message); // without its issues: they name a prompt's fields
        throw e;
      }
      store.setSetting(VOCABULARY_SETTING, v);
      this.emit('project.changed', { what: 'vocabulary' });
      return v;
    },
    'categories.add': (input) => {
      const store = this.need();
      if (store.getCategoryByName(input.name)) throw new ApiError('conflict', `a category named "${input.name}" exists`);
      const c = store.addCategory(input);
      this.emit('project.changed', { what: 'categories' });
      return toCategory(c);
    },
    'categories.update': ({ id, ...patch }) => {
      const store = this.need();
      if (patch.name !== undefined) {
        const other = store.getCategoryByName(patch.name);
        if (other && other.id !== id) throw new ApiError('conflict', `a category named "${patch.name}" exists`);
      }
      const c = store.updateCategory(id, patch);
      if (!c) throw new ApiError('not_found', `no category with id ${id}`);
      this.emit('project.changed', { what: 'categories' });
      return toCategory(c);
    },
    'categories.merge': ({ from, into }) => {
      const c = this.need().mergeCategory(from, into);
      this.emit('project.changed', { what: 'categories' });
      this.emit('project.changed', { what: 'annotations' });
      return toCategory(c);
    },
    'categories.counts': () => this.need().categoryCounts(),
    'categories.delete': ({ id }) => {
      this.need().deleteCategory(id); // not-found for an unknown id; a category no mask uses is deleted all the same
      this.emit('project.changed', { what: 'categories' });
      return { deleted: true };
    },
    'annotations.list': ({ imageId }) => {
      this.image(imageId);
      return this.need().listAnnotations({ imageId }).map(this.toApi);
    },
    'annotations.add': ({ imageId, categoryId, mask, source, label, exclusive }) => {
      const input = { categoryId, source: source ?? 'manual', ...this.maskFields(mask, this.image(imageId)) };
      const others = exclusive ? this.withoutOverlap(imageId, input) : [];
      return this.toApi(this.edit(imageId, label ?? 'add', [{ kind: 'add', input }, ...others])[0]!);
    },
    'annotations.update': ({ id, categoryId, mask, label, exclusive }) => {
      const current = this.annotationRow(id);
      if (exclusive && mask === undefined) throw new ApiError('bad_request', 'exclusive needs a mask: it takes that mask\'s pixels from the others');
      const fields = mask !== undefined ? this.maskFields(mask, this.image(current.imageId)) : undefined;
      const patch = { ...(categoryId !== undefined ? { categoryId } : {}), ...fields };
      const others = exclusive && fields ? this.withoutOverlap(current.imageId, fields, id) : [];
      const what = label ?? (mask !== undefined ? 'edit mask' : 'change category');
      const next = this.edit(current.imageId, what, [{ kind: 'update', id, patch }, ...others])[0]!;
      return { ...this.toApi(next), droppedAttributes: Object.keys(current.attributes).filter((k) => !(k in next.attributes)) };
    },
    'annotations.setAttributes': ({ id, values, label }) => {
      const current = this.annotationRow(id);
      const attributes = { ...current.attributes };
      for (const [name, value] of Object.entries(values)) {
        if (value === null) delete attributes[name];
        else attributes[name] = value;
      }
      return this.toApi(this.edit(current.imageId, label ?? 'set attributes', [{ kind: 'update', id, patch: { attributes } }])[0]!);
    },
    'attributes.list': ({ categoryId }) => {
      const store = this.need();
      if (categoryId !== undefined && !store.getCategory(categoryId)) throw new ApiError('not_found', `no category with id ${categoryId}`);
      return store.listAttributeDefs(categoryId);
    },
    'attributes.define': (input) => {
      const def = this.need().addAttributeDef(input);
      this.emit('project.changed', { what: 'categories' });
      return def;
    },
    'attributes.delete': ({ id }) => {
      const cleared = this.need().deleteAttributeDef(id);
      this.emit('project.changed', { what: 'categories' });
      if (cleared > 0) this.emit('project.changed', { what: 'annotations' });
      return { deleted: true, cleared };
    },
    'annotations.delete': ({ id, label }) => {
      const current = this.need().getAnnotation(id);
      if (!current) return { deleted: false };
      this.edit(current.imageId, label ?? 'delete', [{ kind: 'delete', id }]);
      return { deleted: true };
    },
    'annotations.deleteMany': ({ imageId, ids, label }) => {
      this.image(imageId);
      const store = this.need();
      // Masks deleted meanwhile (another window) are skipped, as annotations.delete answers them; a mask of another
      // image is the caller's mistake, and nothing is deleted.
      const rows = [...new Set(ids)].map((id) => store.getAnnotation(id)).filter((r) => r !== undefined);
      const stray = rows.find((r) => r.imageId !== imageId);
      if (stray) throw new ApiError('bad_request', `annotation ${stray.id} belongs to another image (${stray.imageId}), not to image ${imageId}`);
      if (rows.length) this.edit(imageId, label ?? 'delete', rows.map((r) => ({ kind: 'delete' as const, id: r.id })));
      return this.editResult(imageId);
    },
    'annotations.merge': ({ ids, categoryId, exclusive, locked }) => {
      const rows = [...new Set(ids)].map((id) => this.annotationRow(id));
      if (rows.length < 2) throw new ApiError('bad_request', 'merge needs at least two different annotations');
      const imageId = rows[0]!.imageId;
      if (rows.some((r) => r.imageId !== imageId)) throw new ApiError('bad_request', 'only masks of one image can be merged');
      const own = new Set(rows.map((r) => r.id));
      const union = unionAll(rows.map(rleOf));
      const merged = maskFields(exclusive ? this.lessLocked(imageId, union, locked ?? [], own) : union);
      const [keep, ...rest] = rows;
      const patch = { ...merged, ...(categoryId !== undefined ? { categoryId } : {}) };
      // No overlap: the merged mask takes its pixels from the image's other masks in the same undo step.
      const others = exclusive ? this.withoutOverlap(imageId, merged, own) : [];
      this.edit(imageId, 'merge', [{ kind: 'update', id: keep!.id, patch }, ...rest.map((r) => ({ kind: 'delete' as const, id: r.id })), ...others]);
      return this.editResult(imageId);
    },
    'annotations.split': ({ id, exclusive, locked }) => {
      const row = this.annotationRow(id);
      const own = new Set([id]);
      const parts = connectedComponents(exclusive ? this.lessLocked(row.imageId, rleOf(row), locked ?? [], own) : rleOf(row));
      if (parts.length > 1) {
        const [first, ...rest] = parts;
        const extra = { categoryId: row.categoryId, source: row.source, iscrowd: row.iscrowd, runId: row.runId, score: row.score };
        // No overlap: the parts (together the mask less any locked pixels) take their pixels from the others.
        const others = exclusive ? this.withoutOverlap(row.imageId, maskFields(unionAll(parts)), own) : [];
        this.edit(row.imageId, 'split', [
          { kind: 'update', id, patch: maskFields(first!) },
          ...rest.map((p) => ({ kind: 'add' as const, input: { ...extra, ...maskFields(p) } })),
          ...others,
        ]);
      }
      return this.editResult(row.imageId);
    },
    'examples.add': ({ annotationId, label }) => {
      const a = this.annotationRow(annotationId);
      rleOf(a); // an example is a mask
      const store = this.need();
      // A mask is one example however often it is marked (two windows, a double press).
      const known = store.listExamples({ imageId: a.imageId }).find((e) => e.annotationId === annotationId);
      if (known) return this.toExample(known);
      const e = this.toExample(store.addExample({ imageId: a.imageId, annotationId, label }));
      this.emit('project.changed', { what: 'examples' });
      return e;
    },
    'examples.list': ({ categoryId }) =>
      this.need()
        .listExamples()
        .map((e) => this.toExample(e))
        .filter((e) => categoryId === undefined || e.categoryId === categoryId),
    'examples.delete': ({ id }) => {
      try {
        this.need().deleteExample(id);
      } catch (e) {
        // One already gone (with its mask, or from another window) is answered as annotations.delete answers a mask.
        if (e instanceof StoreError && e.code === 'not-found') return { deleted: false };
        throw e;
      }
      this.emit('project.changed', { what: 'examples' });
      return { deleted: true };
    },
    'history.state': ({ imageId }) => {
      this.image(imageId);
      return { imageId, ...this.need().historyState(imageId) };
    },
    'history.undo': ({ imageId }) => {
      this.editableImage(imageId);
      if (this.need().undo(imageId)) this.emit('project.changed', { what: 'annotations', imageId });
      return this.editResult(imageId);
    },
    'history.redo': ({ imageId }) => {
      this.editableImage(imageId);
      if (this.need().redo(imageId)) this.emit('project.changed', { what: 'annotations', imageId });
      return this.editResult(imageId);
    },
    'coco.export': async ({ kind, format, forcePolygons, tolerance, out }) => {
      const store = this.need();
      const opts = { format, forcePolygons, tolerance };
      if (out === undefined) {
        // Panoptic is a JSON and a folder of PNGs: there is no single document to hand back.
        if (kind === 'panoptic') throw new ApiError('bad_request', 'a panoptic export is a JSON and a folder of PNGs: give out, the JSON path', [{ path: 'out', message: 'required for panoptic' }]);
        return exportCoco(store, opts);
      }
      // Web mode writes only in the project's folder; the desktop app's paths come from native dialogs.
      if (this.options.shell === 'web') await requireInside(out, store.folder);
      return { report: kind === 'panoptic' ? await writePanoptic(store, out) : await writeCocoFile(store, out, opts), path: out };
    },
    'coco.import': async ({ file, document, kind }) => {
      const store = this.need();
      if (kind === 'panoptic' && file === undefined)
        throw new ApiError('bad_request', 'a COCO panoptic import reads a JSON and its folder of PNGs: give file, the JSON path', [{ path: 'file', message: 'required for panoptic' }]);
      if (file !== undefined && this.options.shell === 'web') await requireInside(file, store.folder);
      await this.indexForImport();
      const report = file === undefined ? importCoco(store, document) : await importCocoFile(store, file, kind);
      this.emit('project.changed', { what: 'annotations' });
      return report;
    },
    'formats.export': async ({ format, out, copyImages }) => {
      const store = this.need();
      if (this.options.shell === 'web') await requireInside(out, store.folder);
      return { report: await exportDataset(store, format, out, undefined, { copyImages }), path: out };
    },
    'formats.import': async ({ folder, format }) => {
      const store = this.need();
      if (this.options.shell === 'web') await requireInside(folder, store.folder);
      await this.indexForImport();
      const report = await importDataset(store, folder, format);
      this.emit('project.changed', { what: 'annotations' });
      return report;
    },
    'pipelines.list': ({ model }) => listPipelines().map((p): PipelineInfo => ({
      id: p.id,
      title: p.title,
      description: p.description,
      prompt: p.prompt,
      preview: p.preview?.name ?? null,
      runLabel: p.runLabel,
      params: z.toJSONSchema(p.params, { io: 'input' }) as Record<string, unknown>,
      components: [...p.components],
      fixture: Boolean(p.models?.fixture),
      ...availability(p, model ?? process.env[modelEnvName(p)]),
    })),
    'pipelines.run': async ({ pipeline, imageIds, params, prompt, model }) => {
      const p = this.pipeline(pipeline);
      const parsed = parseParams(p, params);
      const checked = checkPrompt(p, prompt, 'run');
      // No model, an example that is gone, params the model refuses: refused here, not as a job that fails at once.
      const batch = await this.pipelines().prepareBatch(p, parsed, checked, model);
      // Proposals found as a named category create it when the project lacks it: the app must list it to offer them.
      // Category ids are AUTOINCREMENT, never reused, so a higher newest id means one was created.
      const store = this.need();
      const newestCategory = () => Math.max(0, ...store.listCategories().map((c) => c.id));
      let newest = newestCategory();
      const job = this.jobs.start(p.id, (ctx) =>
        batch.run({
          imageIds, signal: ctx.signal,
          onProgress: (done, total, message, preview) => ctx.progress(done, total, message, preview),
          onImage: (imageId) => {
            this.emit('project.changed', { what: 'annotations', imageId });
            const now = newestCategory();
            if (now > newest) this.emit('project.changed', { what: 'categories' });
            newest = now;
          },
        }),
      );
      if (batch.model) this.models.claim(job.id, { name: batch.model }); // not removed while it runs
      return { jobId: job.id };
    },
    'pipelines.preview': async ({ pipeline, imageId, prompt, params, model, cachedOnly }) => {
      const p = this.pipeline(pipeline);
      this.image(imageId);
      const parsed = parseParams(p, params);
      const r = await callerErrors(async () => this.pipelines().preview(p, imageId, parsed, checkPrompt(p, prompt, 'preview')!, model, cachedOnly));
      return { mask: { size: [r.mask.h, r.mask.w], counts: toCompressedString(r.mask) }, area: r.area, cached: r.cached, ms: r.ms };
    },
    'pipelines.accept': async ({ pipeline, imageId, prompt, categoryId, params, model, exclusive, locked }) => {
      const p = this.pipeline(pipeline);
      this.image(imageId);
      const parsed = parseParams(p, params);
      const shared = exclusive
        ? { limit: (m: Rle) => this.lessLocked(imageId, m, locked ?? [], new Set()), others: (m: ReturnType<typeof maskFields>) => this.withoutOverlap(imageId, m) }
        : undefined;
      const a = await callerErrors(async () => this.pipelines().accept(p, imageId, parsed, checkPrompt(p, prompt, 'preview')!, categoryId, model, shared));
      this.emit('project.changed', { what: 'annotations', imageId });
      return this.toApi(a);
    },
    'annotations.addShape': ({ imageId, categoryId, shape, source, label }) => {
      const img = this.image(imageId);
      const input = { categoryId, source: source ?? 'manual', height: img.height, width: img.width, ...shapeFields(shape) };
      return this.toApi(this.edit(imageId, label ?? `add ${shape.kind}`, [{ kind: 'add', input }])[0]!);
    },
    'annotations.setShape': ({ id, shape, label }) => {
      const current = this.annotationRow(id);
      if (current.shape !== shape.kind) throw new ApiError('bad_request', `annotation ${id} is a ${current.shape}, not a ${shape.kind}`);
      const { bbox, area } = shapeFields(shape);
      return this.toApi(this.edit(current.imageId, label ?? `move ${shape.kind}`, [{ kind: 'update', id, patch: { bbox, area } }])[0]!);
    },
    'prompts.list': ({ pipeline, limit }) => recentPrompts(this.need(), this.pipeline(pipeline), limit),
    'generate.start': (input) => this.generator.start(this.need(), input),
    'generate.held': () => this.generator.held(this.need()),
    'generate.keep': ({ paths }) => this.generator.keep(this.need(), paths),
    'generate.discard': ({ paths }) => this.generator.discard(this.need(), paths),
  };
}

/** A pipeline's argument errors (RangeError: nothing selected, a bad combination of parameters) are the caller's: bad_request. */
async function callerErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof RangeError && !knownApiError(e)) throw new ApiError('bad_request', e.message);
    throw e;
  }
}

/** A typed `~` or `~/…` is the home folder, as in a shell (`~name` is left alone: another user's home is not ours to guess). */
function expandHome(folder: string): string {
  return /^~(?=$|[\\/])/.test(folder) ? join(homedir(), folder.slice(1)) : folder;
}

/** The annotation's mask; a box or a point has none (merge, split, no overlap and examples take masks). */
function rleOf(a: AnnotationRow): Rle {
  if (a.shape !== 'mask') throw new ApiError('bad_request', `annotation ${a.id} is a ${a.shape}, not a mask`);
  return fromCompressedString(a.rle, a.height, a.width);
}

function toImage(r: ImageRow): Image {
  return {
    id: r.id, path: r.path, width: r.width, height: r.height, bytes: r.bytes, format: r.format, status: r.status, error: r.error,
    annotations: r.annotationCount ?? 0, missing: r.missingSince !== null,
  };
}

function toCategory(c: CategoryRow) {
  return { id: c.id, name: c.name, supercategory: c.supercategory, color: c.color, isthing: Boolean(c.isthing) };
}

function toAnnotation(a: AnnotationRow, proposed: boolean, suggestedCategoryId: number | null): Annotation {
  return {
    id: a.id,
    imageId: a.imageId,
    categoryId: a.categoryId,
    mask: { size: [a.height, a.width], counts: a.rle },
    area: a.area,
    bbox: a.bbox,
    iscrowd: Boolean(a.iscrowd),
    source: a.source,
    runId: a.runId,
    score: a.score,
    proposed,
    suggestedCategoryId,
    attributes: a.attributes,
    shape: a.shape,
  };
}

/** The store's fields of a box or a point. */
function shapeFields(g: ShapeGeometry): { shape: 'box' | 'point'; rle: ''; bbox: [number, number, number, number]; area: number } {
  return g.kind === 'box'
    ? { shape: 'box', rle: '', bbox: g.bbox, area: g.bbox[2] * g.bbox[3] }
    : { shape: 'point', rle: '', bbox: [g.x, g.y, 0, 0], area: 0 };
}
