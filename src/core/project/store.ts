// The project store: typed access to one project's SQLite database. Every mutating method runs in one
// transaction and returns after the commit (synchronous=FULL), so an edit that returned survives a crash.
import type Database from 'better-sqlite3';
import { isProposal } from '../../shared/contract';
import { synonymsOf } from '../../shared/vocabulary';
import { StoreError } from './errors';
import { classifyStorageError, openProjectDatabase, type OpenDatabaseOptions } from './open-database';
import { pickColor } from './palette';
import {
  ATTRIBUTE_TYPES,
  IMAGE_STATUSES,
  PROMPT_KINDS,
  RUN_STATUSES,
  type Annotation,
  type AnnotationFilter,
  type AnnotationInput,
  type AnnotationPatch,
  type AttributeDef,
  type AttributeDefInput,
  type AttributeValue,
  type AttributeValues,
  type Category,
  type CategoryInput,
  type CategoryPatch,
  type EditOp,
  type HistoryState,
  type Example,
  type ExampleInput,
  type ImageFilter,
  type ImageListOptions,
  type ImageRow,
  type ImageStatus,
  type IndexedImage,
  type ProjectStats,
  type Prompt,
  type PromptInput,
  type PromptKind,
  type Run,
  type RunInput,
  type RunRecord,
  type RunStatus,
} from './types';

type Row = Record<string, any>;

// Image rows carry their annotation count (the image list shows it); annotations_image makes it an index lookup.
const IMAGE_COLUMNS = 'images.*, (SELECT count(*) FROM annotations WHERE image_id = images.id) AS annotation_count';
/** An annotation row that is a proposal (the contract's isProposal): unassigned, made by a run that proposes. */
const PROPOSAL_SQL = 'category_id IS NULL AND EXISTS (SELECT 1 FROM runs WHERE runs.id = annotations.run_id AND runs.proposes = 1)';
const COLOR_RE = /^#[0-9a-f]{6}$/i;
/** Undo steps kept per image; older ones are dropped. */
export const HISTORY_LIMIT = 200;
// COCO compressed RLE uses the characters 48..111 ('0'..'o').
const RLE_RE = /^[\x30-\x6f]+$/;

/** What the indexer needs to know about an indexed file to decide whether to re-read it. */
export interface IndexEntry {
  id: number;
  path: string;
  bytes: number;
  mtimeMs: number;
  sha1: string | null;
  width: number;
  height: number;
  status: ImageStatus;
  missingSince: number | null;
}

/** What became of images whose file is gone: kept as missing (they carry a labeler's work) or removed. */
export interface RetiredImages {
  missing: number[];
  removed: number[];
}

/** What saving one indexed file did to its masks. */
export interface SavedImage {
  id: number;
  /** The image's size before, when it changed. */
  was: { width: number; height: number } | null;
  /** Masks moved to set_aside because they no longer fit, and masks brought back because they fit again. */
  setAside: number;
  restored: number;
}

/** Why a missing image cannot be edited (also the API's conflict message). */
export function missingImageMessage(img: Pick<ImageRow, 'path' | 'missingSince'>): string {
  const since = new Date(img.missingSince ?? 0).toISOString();
  return `${img.path} is missing (its file is gone since ${since}); its masks are kept: put the file back and index the folder again to edit it`;
}

export class ProjectStore {
  readonly folder: string;
  readonly dbPath: string;
  readonly schemaVersion: number;
  /** Opened without write access (stats, export): every write is refused. */
  readonly readonly: boolean;
  private readonly db: Database.Database;
  /** Prepared statements by SQL text: preparing costs more than running the small queries that edits, export
   * and import repeat per row. */
  private readonly statements = new Map<string, Database.Statement>();

  private readonly cleanup: () => void;

  private constructor(db: Database.Database, folder: string, dbPath: string, schemaVersion: number, readonly: boolean, cleanup: () => void) {
    this.db = db;
    this.cleanup = cleanup;
    this.folder = folder;
    this.dbPath = dbPath;
    this.schemaVersion = schemaVersion;
    this.readonly = readonly;
  }

  /** Creates or opens `<folder>/.difflabel/project.sqlite`. Throws ProjectOpenError when refused. */
  static open(folder: string, opts: OpenDatabaseOptions = {}): ProjectStore {
    const o = openProjectDatabase(folder, opts);
    return new ProjectStore(o.db, o.folder, o.dbPath, o.schemaVersion, o.readonly, o.cleanup);
  }

  private sql(text: string): Database.Statement {
    let st = this.statements.get(text);
    if (!st) this.statements.set(text, (st = this.db.prepare(text)));
    return st;
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  close(): void {
    if (!this.db.open) return;
    this.db.close();
    this.cleanup();
  }

  /**
   * Runs fn in one transaction (nested calls become savepoints); rolls back if it throws. BEGIN IMMEDIATE takes the
   * write lock first, so a second process waits for it (busy timeout) instead of failing at its first write after a
   * read. A storage failure (disk full, lock held too long, read-only, I/O) becomes a StoreError saying nothing was saved.
   */
  transaction<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (e) {
      throw storageFailure(e) ?? e;
    }
  }

  /** `PRAGMA integrity_check` result lines ('ok' when healthy). */
  integrityCheck(): string[] {
    return (this.db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check);
  }

  // ---------------------------------------------------------------- images

  listImages(opts: ImageListOptions = {}): ImageRow[] {
    const { where, params } = imageWhere(opts);
    const limit = opts.limit ?? -1;
    const offset = opts.offset ?? 0;
    checkInt('limit', limit, -1);
    checkInt('offset', offset, 0);
    return this.sql(`SELECT ${IMAGE_COLUMNS} FROM images ${where} ORDER BY path, id LIMIT ? OFFSET ?`)
      .all(...params, limit, offset)
      .map((r) => toImage(r as Row));
  }

  /** Index of image `id` in listImages(filter) order (by path, then id), or null when the filter leaves it out. */
  imagePosition(id: number, filter: ImageFilter = {}): number | null {
    const { where, params } = imageWhere(filter);
    const and = where ? `${where} AND` : 'WHERE';
    const path = this.sql(`SELECT path FROM images ${and} id = ?`).get(...params, id) as Row | undefined;
    if (!path) return null;
    // A missing image may share its path with the file indexed there since: the id orders them.
    return (this.sql(`SELECT count(*) AS n FROM images ${and} (path < ? OR (path = ? AND id < ?))`)
      .get(...params, path.path, path.path, id) as Row).n as number;
  }

  countImages(filter: ImageFilter = {}): number {
    const { where, params } = imageWhere(filter);
    return (this.sql(`SELECT count(*) AS n FROM images ${where}`).get(...params) as Row).n;
  }

  getImage(id: number): ImageRow | undefined {
    const r = this.sql(`SELECT ${IMAGE_COLUMNS} FROM images WHERE id = ?`).get(id) as Row | undefined;
    return r && toImage(r);
  }

  /** The image at `path`: the one whose file is there, else a missing one last seen there. */
  getImageByPath(path: string): ImageRow | undefined {
    const r = this.sql(`SELECT ${IMAGE_COLUMNS} FROM images WHERE path = ? ORDER BY missing_since IS NOT NULL, id LIMIT 1`)
      .get(path) as Row | undefined;
    return r && toImage(r);
  }

  setImageStatus(id: number, status: ImageStatus): ImageRow {
    return this.transaction(() => {
      const img = this.requireEditable(id);
      if (!IMAGE_STATUSES.includes(status)) throw new StoreError('invalid', `unknown image status '${status}'`);
      if (img.status === 'error' || status === 'error') {
        // 'error' belongs to the indexer: it means the file cannot be read.
        if (img.status !== status) throw new StoreError('invalid', `image ${id}: status 'error' is set only by indexing`);
      }
      this.sql('UPDATE images SET status = ? WHERE id = ?').run(status, id);
      return { ...img, status };
    });
  }

  // ---------------------------------------------------------------- categories

  listCategories(): Category[] {
    return this.sql('SELECT * FROM categories ORDER BY id').all().map((r) => toCategory(r as Row));
  }

  getCategory(id: number): Category | undefined {
    const r = this.sql('SELECT * FROM categories WHERE id = ?').get(id) as Row | undefined;
    return r && toCategory(r);
  }

  getCategoryByName(name: string): Category | undefined {
    const r = this.sql('SELECT * FROM categories WHERE name = ?').get(name) as Row | undefined;
    return r && toCategory(r);
  }

  addCategory(input: CategoryInput): Category {
    return this.transaction(() => {
      const name = checkName(input.name);
      if (this.getCategoryByName(name)) throw new StoreError('conflict', `category '${name}' already exists`);
      if (input.id !== undefined) {
        checkInt('category id', input.id, 1);
        if (this.getCategory(input.id)) throw new StoreError('conflict', `category id ${input.id} is already used`);
      }
      const used = (this.sql('SELECT color FROM categories').all() as Row[]).map((r) => r.color as string);
      const color = input.color === undefined ? pickColor(used) : checkColor(input.color);
      const supercategory = checkText('supercategory', input.supercategory ?? '');
      const isthing = input.isthing ?? true;
      if (typeof isthing !== 'boolean') throw new StoreError('invalid', 'isthing must be a boolean');
      const info = this.sql('INSERT INTO categories (id, name, supercategory, color, isthing) VALUES (?, ?, ?, ?, ?)')
        .run(input.id ?? null, name, supercategory, color, isthing ? 1 : 0);
      return { id: Number(info.lastInsertRowid), name, supercategory, color, isthing };
    });
  }

  updateCategory(id: number, patch: CategoryPatch): Category {
    return this.transaction(() => {
      const cur = this.getCategory(id);
      if (!cur) throw new StoreError('not-found', `category ${id} does not exist`);
      const next: Category = { ...cur };
      if (patch.name !== undefined) {
        next.name = checkName(patch.name);
        const other = this.getCategoryByName(next.name);
        if (other && other.id !== id) throw new StoreError('conflict', `category '${next.name}' already exists`);
      }
      if (patch.supercategory !== undefined) next.supercategory = checkText('supercategory', patch.supercategory ?? '');
      if (patch.color !== undefined) next.color = checkColor(patch.color);
      if (patch.isthing !== undefined) {
        if (typeof patch.isthing !== 'boolean') throw new StoreError('invalid', 'isthing must be a boolean');
        next.isthing = patch.isthing;
      }
      this.sql('UPDATE categories SET name = ?, supercategory = ?, color = ?, isthing = ? WHERE id = ?')
        .run(next.name, next.supercategory, next.color, next.isthing ? 1 : 0, id);
      return next;
    });
  }

  /** Every category with how many annotations it has and on how many images, in id order. */
  categoryCounts(): Array<{ id: number; annotations: number; images: number }> {
    return this.sql(
      `SELECT c.id, count(a.id) AS annotations, count(DISTINCT a.image_id) AS images
       FROM categories c LEFT JOIN annotations a ON a.category_id = c.id GROUP BY c.id ORDER BY c.id`,
    ).all() as Array<{ id: number; annotations: number; images: number }>;
  }

  /** Deletes a category; its annotations become unassigned. Returns how many were unassigned. */
  deleteCategory(id: number): number {
    return this.transaction(() => {
      if (!this.getCategory(id)) throw new StoreError('not-found', `category ${id} does not exist`);
      const now = Date.now();
      // An unassigned mask has no category to define attributes: its values go with the category.
      const n = this.sql("UPDATE annotations SET category_id = NULL, attributes = '{}', updated_at = ? WHERE category_id = ?")
        .run(now, id).changes;
      this.sql('DELETE FROM categories WHERE id = ?').run(id);
      return n;
    });
  }

  /** Moves every annotation of category `from` to `into` and deletes `from`, in one transaction. */
  mergeCategory(from: number, into: number): Category {
    return this.transaction(() => {
      if (from === into) throw new StoreError('invalid', 'cannot merge a category into itself');
      if (!this.getCategory(from)) throw new StoreError('not-found', `category ${from} does not exist`);
      const target = this.getCategory(into);
      if (!target) throw new StoreError('not-found', `category ${into} does not exist`);
      const defs = this.listAttributeDefs(into);
      const set = this.sql('UPDATE annotations SET category_id = ?, attributes = ?, updated_at = ? WHERE id = ?');
      const now = Date.now();
      for (const r of this.sql('SELECT id, attributes FROM annotations WHERE category_id = ?').all(from) as Row[]) {
        // Values of attributes that `into` does not define (or whose value it does not accept) go.
        set.run(into, JSON.stringify(fitAttributes(JSON.parse(r.attributes), defs).kept), now, r.id);
      }
      this.sql('DELETE FROM categories WHERE id = ?').run(from);
      return target;
    });
  }

  // ---------------------------------------------------------------- attributes

  /** The attributes defined for a category (every category's without one), in the order they were defined. */
  listAttributeDefs(categoryId?: number): AttributeDef[] {
    const rows = categoryId === undefined
      ? this.sql('SELECT * FROM attribute_defs ORDER BY category_id, id').all()
      : this.sql('SELECT * FROM attribute_defs WHERE category_id = ? ORDER BY id').all(categoryId);
    return rows.map((r) => toAttributeDef(r as Row));
  }

  addAttributeDef(input: AttributeDefInput): AttributeDef {
    return this.transaction(() => {
      checkInt('categoryId', input.categoryId, 1);
      const category = this.getCategory(input.categoryId);
      if (!category) throw new StoreError('not-found', `category ${input.categoryId} does not exist`);
      const name = checkName(input.name);
      if (!ATTRIBUTE_TYPES.includes(input.type)) {
        throw new StoreError('invalid', `attribute type must be one of ${ATTRIBUTE_TYPES.join(', ')}, got '${String(input.type)}'`);
      }
      const options = input.options ?? [];
      if (!Array.isArray(options) || !options.every((o) => typeof o === 'string' && o.trim())) {
        throw new StoreError('invalid', 'options must be non-empty strings');
      }
      if (new Set(options).size !== options.length) throw new StoreError('invalid', 'options must differ from each other');
      if (input.type === 'select' && options.length === 0) throw new StoreError('invalid', `attribute '${name}' of type select needs options`);
      if (input.type !== 'select' && options.length > 0) throw new StoreError('invalid', `only a select attribute has options, '${name}' is ${input.type}`);
      const def: AttributeDef = { id: 0, categoryId: category.id, name, type: input.type, options, default: false };
      def.default = input.default ?? (input.type === 'boolean' ? false : input.type === 'text' ? '' : options[0]!);
      const problem = attributeProblem(def, def.default);
      if (problem) throw new StoreError('invalid', `default of '${name}': ${problem}`);
      if (this.sql('SELECT 1 FROM attribute_defs WHERE category_id = ? AND name = ?').get(category.id, name)) {
        throw new StoreError('conflict', `category '${category.name}' already has an attribute '${name}'`);
      }
      const info = this.sql('INSERT INTO attribute_defs (category_id, name, type, options, default_value) VALUES (?, ?, ?, ?, ?)')
        .run(category.id, name, def.type, JSON.stringify(options), JSON.stringify(def.default));
      return { ...def, id: Number(info.lastInsertRowid) };
    });
  }

  /** Deletes an attribute definition and its values on the category's masks (not undoable); returns how many masks had one. */
  deleteAttributeDef(id: number): number {
    return this.transaction(() => {
      const r = this.sql('SELECT * FROM attribute_defs WHERE id = ?').get(id) as Row | undefined;
      if (!r) throw new StoreError('not-found', `attribute ${id} does not exist`);
      const path = `$.${JSON.stringify(r.name)}`;
      const n = this.sql('UPDATE annotations SET attributes = json_remove(attributes, ?), updated_at = ? WHERE category_id = ? AND json_type(attributes, ?) IS NOT NULL')
        .run(path, Date.now(), r.category_id, path).changes;
      this.sql('DELETE FROM attribute_defs WHERE id = ?').run(id);
      return n;
    });
  }

  // ---------------------------------------------------------------- annotations

  listAnnotations(filter: AnnotationFilter = {}): Annotation[] {
    const conds: string[] = [];
    const params: unknown[] = [];
    if (filter.imageId !== undefined) (conds.push('image_id = ?'), params.push(filter.imageId));
    if (filter.categoryId === null) conds.push('category_id IS NULL');
    else if (filter.categoryId !== undefined) (conds.push('category_id = ?'), params.push(filter.categoryId));
    if (filter.runId !== undefined) (conds.push('run_id = ?'), params.push(filter.runId));
    const where = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
    return this.sql(`SELECT * FROM annotations ${where} ORDER BY id`)
      .all(...params)
      .map((r) => toAnnotation(r as Row));
  }

  countAnnotations(filter: { imageId?: number } = {}): number {
    const r = (filter.imageId === undefined
      ? this.sql('SELECT count(*) AS n FROM annotations').get()
      : this.sql('SELECT count(*) AS n FROM annotations WHERE image_id = ?').get(filter.imageId)) as Row;
    return r.n;
  }

  getAnnotation(id: number): Annotation | undefined {
    const r = this.sql('SELECT * FROM annotations WHERE id = ?').get(id) as Row | undefined;
    return r && toAnnotation(r);
  }

  addAnnotation(input: AnnotationInput): Annotation {
    return this.transaction(() => this.insertAnnotation(input));
  }

  /** Adds all or nothing, in one transaction (import). */
  addAnnotations(list: readonly AnnotationInput[]): Annotation[] {
    return this.transaction(() => list.map((a, i) => {
      try {
        return this.insertAnnotation(a);
      } catch (e) {
        if (e instanceof StoreError) throw new StoreError(e.code, `annotation #${i}: ${e.message}`);
        throw e;
      }
    }));
  }

  updateAnnotation(id: number, patch: AnnotationPatch): Annotation {
    return this.transaction(() => {
      const cur = this.getAnnotation(id);
      if (!cur) throw new StoreError('not-found', `annotation ${id} does not exist`);
      const maskKeys = (['rle', 'area', 'bbox'] as const).filter((k) => patch[k] !== undefined);
      if (maskKeys.length > 0 && maskKeys.length < 3) {
        throw new StoreError('invalid', 'a new mask needs rle, area and bbox together');
      }
      const next: Annotation = { ...cur, updatedAt: Math.max(Date.now(), cur.updatedAt) };
      for (const k of ['categoryId', 'rle', 'height', 'width', 'area', 'iscrowd', 'source', 'runId', 'score'] as const) {
        if (patch[k] !== undefined) (next as any)[k] = patch[k];
      }
      if (patch.bbox !== undefined) next.bbox = [...patch.bbox] as Annotation['bbox'];
      if (patch.attributes !== undefined) next.attributes = { ...patch.attributes };
      else if (next.categoryId !== cur.categoryId) {
        // Another category: the values of attributes it defines too are kept, the others go (the API says which).
        next.attributes = next.categoryId === null ? {} : fitAttributes(cur.attributes, this.listAttributeDefs(next.categoryId)).kept;
      }
      this.checkAnnotation(next);
      this.sql(
          `UPDATE annotations SET category_id = ?, rle = ?, height = ?, width = ?, area = ?, bbox_x = ?, bbox_y = ?,
             bbox_w = ?, bbox_h = ?, iscrowd = ?, source = ?, run_id = ?, score = ?, attributes = ?, updated_at = ? WHERE id = ?`,
        )
        .run(next.categoryId, next.rle, next.height, next.width, next.area, ...next.bbox, next.iscrowd, next.source,
          next.runId, next.score, JSON.stringify(next.attributes), next.updatedAt, id);
      this.noteLabelling(next);
      return next;
    });
  }

  deleteAnnotation(id: number): void {
    this.transaction(() => {
      const a = this.getAnnotation(id);
      if (!a) throw new StoreError('not-found', `annotation ${id} does not exist`);
      this.requireEditable(a.imageId);
      this.sql('DELETE FROM annotations WHERE id = ?').run(id);
    });
  }

  // ---------------------------------------------------------------- undo/redo

  /**
   * Applies `ops` to one image's annotations as ONE undoable step, recorded in the same transaction, so an
   * edit and its history entry are durable together. A new step drops the image's redo branch.
   */
  edit(imageId: number, label: string, ops: readonly EditOp[]): Array<Annotation | null> {
    return this.transaction(() => {
      this.requireEditable(imageId);
      const changes: Array<{ before: Annotation | null; after: Annotation | null }> = [];
      for (const op of ops) {
        if (op.kind === 'add') {
          changes.push({ before: null, after: this.insertAnnotation({ ...op.input, imageId }) });
          continue;
        }
        const before = this.getAnnotation(op.id);
        if (!before || before.imageId !== imageId) throw new StoreError('not-found', `annotation ${op.id} does not exist on image ${imageId}`);
        if (op.kind === 'update') changes.push({ before, after: this.updateAnnotation(op.id, op.patch) });
        else {
          this.deleteAnnotation(op.id);
          changes.push({ before, after: null });
        }
      }
      this.sql('DELETE FROM history WHERE image_id = ? AND undone = 1').run(imageId);
      this.sql('INSERT INTO history (image_id, label, changes, created_at) VALUES (?, ?, ?, ?)')
        .run(imageId, checkName(label, 'label'), JSON.stringify(changes), Date.now());
      this.sql('DELETE FROM history WHERE image_id = ? AND id <= (SELECT id FROM history WHERE image_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)')
        .run(imageId, imageId, HISTORY_LIMIT);
      return changes.map((c) => c.after);
    });
  }

  /** Reverts the image's latest step; false when there is none. */
  undo(imageId: number): boolean {
    return this.transaction(() => {
      this.requireEditable(imageId);
      const h = this.sql('SELECT id, changes FROM history WHERE image_id = ? AND undone = 0 ORDER BY id DESC LIMIT 1').get(imageId) as Row | undefined;
      if (!h) return false;
      const changes = JSON.parse(h.changes) as Array<{ before: Annotation | null; after: Annotation | null }>;
      for (const c of changes.reverse()) this.putAnnotation((c.after ?? c.before)!.id, c.before);
      this.sql('UPDATE history SET undone = 1 WHERE id = ?').run(h.id);
      return true;
    });
  }

  /** Repeats the image's earliest undone step; false when there is none. */
  redo(imageId: number): boolean {
    return this.transaction(() => {
      this.requireEditable(imageId);
      const h = this.sql('SELECT id, changes FROM history WHERE image_id = ? AND undone = 1 ORDER BY id LIMIT 1').get(imageId) as Row | undefined;
      if (!h) return false;
      const changes = JSON.parse(h.changes) as Array<{ before: Annotation | null; after: Annotation | null }>;
      for (const c of changes) this.putAnnotation((c.after ?? c.before)!.id, c.after);
      this.sql('UPDATE history SET undone = 0 WHERE id = ?').run(h.id);
      return true;
    });
  }

  historyState(imageId: number): HistoryState {
    const undo = this.sql('SELECT label FROM history WHERE image_id = ? AND undone = 0 ORDER BY id DESC LIMIT 1').get(imageId) as Row | undefined;
    const redo = this.sql('SELECT label FROM history WHERE image_id = ? AND undone = 1 ORDER BY id LIMIT 1').get(imageId) as Row | undefined;
    return { canUndo: Boolean(undo), canRedo: Boolean(redo), undoLabel: undo?.label ?? null, redoLabel: redo?.label ?? null };
  }

  /**
   * Puts an annotation back to a recorded state (null = absent), keeping its id. An upsert, not REPLACE, so
   * rows that reference the annotation (examples) survive. A category or run deleted since is left unset, and so
   * are attribute values its category no longer defines (steps and set-aside masks recorded before version 5 have none).
   */
  private putAnnotation(id: number, a: Annotation | null): void {
    if (!a) {
      this.sql('DELETE FROM annotations WHERE id = ?').run(id);
      return;
    }
    const categoryId = a.categoryId !== null && this.getCategory(a.categoryId) ? a.categoryId : null;
    const runId = a.runId !== null && this.getRun(a.runId) ? a.runId : null;
    const attributes = categoryId === null ? {} : fitAttributes(a.attributes ?? {}, this.listAttributeDefs(categoryId)).kept;
    this.sql(
        `INSERT INTO annotations (id, image_id, category_id, rle, height, width, area, bbox_x, bbox_y, bbox_w, bbox_h,
           iscrowd, source, run_id, score, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET category_id = excluded.category_id, rle = excluded.rle, height = excluded.height,
           width = excluded.width, area = excluded.area, bbox_x = excluded.bbox_x, bbox_y = excluded.bbox_y,
           bbox_w = excluded.bbox_w, bbox_h = excluded.bbox_h, iscrowd = excluded.iscrowd, source = excluded.source,
           run_id = excluded.run_id, score = excluded.score, attributes = excluded.attributes, updated_at = excluded.updated_at`,
      )
      .run(id, a.imageId, categoryId, a.rle, a.height, a.width, a.area, ...a.bbox, a.iscrowd, a.source, runId, a.score,
        JSON.stringify(attributes), a.createdAt, Date.now());
    this.noteLabelling(a);
  }

  /** Whether the run made its masks as proposals (false for no run, or one that is gone). */
  runProposes(runId: number | null): boolean {
    return runId !== null && (this.sql('SELECT proposes FROM runs WHERE id = ?').get(runId) as Row | undefined)?.proposes === 1;
  }

  /** A labeler's mask (anything but a proposal) moves an unlabeled image to in progress; proposals leave it as it is. */
  private noteLabelling(a: Annotation): void {
    if (isProposal({ categoryId: a.categoryId, proposed: this.runProposes(a.runId) })) return;
    this.sql("UPDATE images SET status = 'in_progress' WHERE id = ? AND status = 'unlabeled'").run(a.imageId);
  }

  // ---------------------------------------------------------------- prompts, runs, examples

  addPrompt(input: PromptInput): Prompt {
    return this.transaction(() => {
      this.requireImage(input.imageId);
      if (!PROMPT_KINDS.includes(input.kind)) throw new StoreError('invalid', `unknown prompt kind '${input.kind}'`);
      const runId = input.runId ?? null;
      if (runId !== null) this.requireRun(runId);
      const payload = toJson('payload', input.payload);
      const createdAt = Date.now();
      const info = this.sql('INSERT INTO prompts (image_id, kind, payload, run_id, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(input.imageId, input.kind, payload, runId, createdAt);
      return { id: Number(info.lastInsertRowid), imageId: input.imageId, kind: input.kind, payload: JSON.parse(payload), runId, createdAt };
    });
  }

  /**
   * The category a proposal is offered in, which accepting it gives: its run's example's category (pipelines/run.ts
   * promptRow), or the project's category named like the vocabulary class its run labelled it with (the same name, or
   * the same first synonym in any case: "Car" and "car, automobile"). Null when there is none, or it was deleted since.
   */
  suggestedCategoryFor(a: { id: number; runId: number }): number | null {
    const payload = this.listPrompts({ runId: a.runId })[0]?.payload as { example?: { categoryId?: unknown }; classes?: Record<string, unknown> } | undefined;
    const id = payload?.example?.categoryId;
    if (typeof id === 'number') return this.getCategory(id) ? id : null;
    const name = payload?.classes?.[String(a.id)];
    if (typeof name !== 'string') return null;
    const exact = this.getCategoryByName(name);
    if (exact) return exact.id;
    const first = (n: string) => synonymsOf(n)[0]?.toLowerCase();
    return this.listCategories().find((c) => first(c.name) === first(name))?.id ?? null;
  }

  listPrompts(filter: { imageId?: number; kind?: PromptKind; runId?: number } = {}): Prompt[] {
    const conds: string[] = [];
    const params: unknown[] = [];
    if (filter.imageId !== undefined) (conds.push('image_id = ?'), params.push(filter.imageId));
    if (filter.kind !== undefined) (conds.push('kind = ?'), params.push(filter.kind));
    if (filter.runId !== undefined) (conds.push('run_id = ?'), params.push(filter.runId));
    const where = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
    return this.sql(`SELECT * FROM prompts ${where} ORDER BY id`)
      .all(...params)
      .map((r) => {
        const x = r as Row;
        return { id: x.id, imageId: x.image_id, kind: x.kind, payload: JSON.parse(x.payload), runId: x.run_id, createdAt: x.created_at };
      });
  }

  addRun(input: RunInput): Run {
    return this.transaction(() => this.insertRun(input, Date.now()));
  }

  private insertRun(input: RunInput, startedAt: number): Run {
    const pipeline = checkName(input.pipeline, 'pipeline');
    const imageId = input.imageId ?? null;
    if (imageId !== null) this.requireImage(imageId);
    const params = toJson('params', input.params ?? {});
    const info = this.sql('INSERT INTO runs (pipeline, model_bundle, params, image_id, started_at, proposes) VALUES (?, ?, ?, ?, ?, ?)')
      .run(pipeline, input.modelBundle ?? null, params, imageId, startedAt, input.proposes ? 1 : 0);
    return this.requireRun(Number(info.lastInsertRowid));
  }

  /**
   * Stores a run that has ended together with its prompt and its masks (one undoable step), in ONE transaction: a
   * crash leaves either all of it or nothing, and no run is ever left 'running'.
   */
  recordRun(r: RunRecord): { run: Run; annotations: Annotation[] } {
    return this.transaction(() => {
      const run = this.insertRun(r, r.startedAt);
      const ops = (r.masks?.add ?? []).map((input): EditOp => ({ kind: 'add', input: { ...input, runId: run.id } }));
      const annotations = ops.length ? (this.edit(r.imageId, r.masks!.label, ops) as Annotation[]) : [];
      if (r.prompt) this.addPrompt({ imageId: r.imageId, kind: r.prompt.kind, payload: withProposalClasses(r.prompt.payload, annotations, r.proposalClasses), runId: run.id });
      return { run: this.finishRun(run.id, { status: r.status, error: r.error }), annotations };
    });
  }

  finishRun(id: number, result: { status: Exclude<RunStatus, 'running'>; error?: string | null }): Run {
    return this.transaction(() => {
      const run = this.requireRun(id);
      if (run.status !== 'running') throw new StoreError('invalid', `run ${id} already finished (${run.status})`);
      if (!RUN_STATUSES.includes(result.status) || (result.status as RunStatus) === 'running') {
        throw new StoreError('invalid', `a run cannot finish with status '${result.status}'`);
      }
      this.sql('UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ?')
        .run(result.status, result.error ?? null, Math.max(Date.now(), run.startedAt), id);
      return this.requireRun(id);
    });
  }

  getRun(id: number): Run | undefined {
    const r = this.sql('SELECT * FROM runs WHERE id = ?').get(id) as Row | undefined;
    return r && toRun(r);
  }

  listRuns(filter: { imageId?: number; pipeline?: string; status?: RunStatus } = {}): Run[] {
    const conds: string[] = [];
    const params: unknown[] = [];
    if (filter.imageId !== undefined) (conds.push('image_id = ?'), params.push(filter.imageId));
    if (filter.pipeline !== undefined) (conds.push('pipeline = ?'), params.push(filter.pipeline));
    if (filter.status !== undefined) (conds.push('status = ?'), params.push(filter.status));
    const where = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
    return this.sql(`SELECT * FROM runs ${where} ORDER BY id`)
      .all(...params)
      .map((r) => toRun(r as Row));
  }

  addExample(input: ExampleInput): Example {
    return this.transaction(() => {
      this.requireImage(input.imageId);
      const ann = this.getAnnotation(input.annotationId);
      if (!ann) throw new StoreError('not-found', `annotation ${input.annotationId} does not exist`);
      if (ann.imageId !== input.imageId) {
        throw new StoreError('invalid', `annotation ${input.annotationId} belongs to image ${ann.imageId}, not ${input.imageId}`);
      }
      const label = checkText('label', input.label ?? '');
      const info = this.sql('INSERT INTO examples (image_id, annotation_id, label) VALUES (?, ?, ?)')
        .run(input.imageId, input.annotationId, label);
      return { id: Number(info.lastInsertRowid), imageId: input.imageId, annotationId: input.annotationId, label };
    });
  }

  listExamples(filter: { imageId?: number; label?: string } = {}): Example[] {
    const conds: string[] = [];
    const params: unknown[] = [];
    if (filter.imageId !== undefined) (conds.push('image_id = ?'), params.push(filter.imageId));
    if (filter.label !== undefined) (conds.push('label = ?'), params.push(filter.label));
    const where = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
    return this.sql(`SELECT id, image_id AS imageId, annotation_id AS annotationId, label FROM examples ${where} ORDER BY id`)
      .all(...params) as Example[];
  }

  deleteExample(id: number): void {
    this.transaction(() => {
      if (this.sql('DELETE FROM examples WHERE id = ?').run(id).changes === 0) {
        throw new StoreError('not-found', `example ${id} does not exist`);
      }
    });
  }

  // ---------------------------------------------------------------- stats

  stats(): ProjectStats {
    const byStatus: ProjectStats['byStatus'] = { unlabeled: 0, in_progress: 0, done: 0, error: 0 };
    let images = 0;
    let bytes = 0;
    for (const r of this.sql('SELECT status, count(*) AS n, total(bytes) AS b FROM images GROUP BY status').all() as Row[]) {
      byStatus[r.status as ImageStatus] = r.n;
      images += r.n;
      bytes += r.b;
    }
    const annotations = (this.sql('SELECT count(*) AS n FROM annotations').get() as Row).n;
    const categories = (this.sql('SELECT count(*) AS n FROM categories').get() as Row).n;
    const missing = (this.sql('SELECT count(*) AS n FROM images WHERE missing_since IS NOT NULL').get() as Row).n;
    const setAside = (this.sql('SELECT count(*) AS n FROM set_aside').get() as Row).n;
    return { images, byStatus, annotations, categories, bytes, missing, setAside };
  }

  // ---------------------------------------------------------------- used by the indexer

  /** Every indexed file (missing ones too) with what decides whether it must be re-read or was moved. */
  listIndexEntries(): IndexEntry[] {
    return this.sql(
      `SELECT id, path, bytes, mtime_ms AS mtimeMs, sha1, width, height, status, missing_since AS missingSince
       FROM images ORDER BY id`,
    ).all() as IndexEntry[];
  }

  /**
   * Inserts new files and updates changed ones (the present image at the path) in one transaction. An image that
   * changed size sets aside the masks that no longer fit and gets back those set aside at its new size.
   */
  saveIndexedImages(items: readonly IndexedImage[]): SavedImage[] {
    const now = Date.now();
    const find = this.sql('SELECT id, status, width, height FROM images WHERE path = ? AND missing_since IS NULL');
    const insert = this.sql(
      `INSERT INTO images (path, width, height, bytes, mtime_ms, sha1, format, status, error, indexed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const update = this.sql(
      `UPDATE images SET width = ?, height = ?, bytes = ?, mtime_ms = ?, sha1 = ?, format = ?, status = ?, error = ?,
         indexed_at = ? WHERE id = ?`,
    );
    const labelled = this.sql(`SELECT EXISTS (SELECT 1 FROM annotations WHERE image_id = ? AND NOT (${PROPOSAL_SQL})) AS yes`);
    return this.transaction(() =>
      items.map((it): SavedImage => {
        const old = find.get(it.path) as Row | undefined;
        if (!old) {
          const status: ImageStatus = it.error ? 'error' : 'unlabeled';
          const info = insert.run(it.path, it.width, it.height, it.bytes, it.mtimeMs, it.sha1, it.format, status, it.error, now);
          return { id: Number(info.lastInsertRowid), was: null, setAside: 0, restored: 0 };
        }
        const id = old.id as number;
        const resized = !it.error && (old.width !== it.width || old.height !== it.height);
        const was = resized ? { width: old.width as number, height: old.height as number } : null;
        let status = old.status as ImageStatus;
        let setAside = 0;
        let restored = 0;
        if (it.error) status = 'error';
        else {
          if (was) {
            setAside = this.setAsideMisfits(id, it.width, it.height, `image is now ${it.width}×${it.height}, was ${was.width}×${was.height}`, now);
            restored = this.restoreFitting(id, it.width, it.height);
          }
          if (status === 'error') status = 'unlabeled';
          if (status === 'unlabeled' && (labelled.get(id) as Row).yes) status = 'in_progress';
          // Its masks no longer describe the file: the labeler has to look again.
          if (status === 'done' && setAside > 0) status = 'in_progress';
        }
        update.run(it.width, it.height, it.bytes, it.mtimeMs, it.sha1, it.format, status, it.error, now, id);
        return { id, was, setAside, restored };
      }),
    );
  }

  /** Records a new mtime for a file whose content did not change. */
  touchIndexedImage(id: number, mtimeMs: number): void {
    this.transaction(() => this.sql('UPDATE images SET mtime_ms = ? WHERE id = ?').run(mtimeMs, id));
  }

  /**
   * Images whose file is gone: one that carries a labeler's work (masks, a status, prompts, runs, examples,
   * history, set-aside masks) is kept as missing with all of it; one without is removed.
   */
  retireImages(ids: readonly number[]): RetiredImages {
    const work = this.sql(
      `SELECT status IN ('in_progress', 'done')
         OR EXISTS (SELECT 1 FROM annotations WHERE image_id = $id) OR EXISTS (SELECT 1 FROM prompts WHERE image_id = $id)
         OR EXISTS (SELECT 1 FROM runs WHERE image_id = $id) OR EXISTS (SELECT 1 FROM examples WHERE image_id = $id)
         OR EXISTS (SELECT 1 FROM history WHERE image_id = $id) OR EXISTS (SELECT 1 FROM set_aside WHERE image_id = $id)
       AS work FROM images WHERE id = $id`,
    );
    const markMissing = this.sql('UPDATE images SET missing_since = coalesce(missing_since, ?) WHERE id = ?');
    const del = this.sql('DELETE FROM images WHERE id = ?');
    const now = Date.now();
    return this.transaction(() => {
      const out: RetiredImages = { missing: [], removed: [] };
      for (const id of ids) {
        const r = work.get({ id }) as Row | undefined;
        if (!r) continue;
        if (r.work) {
          markMissing.run(now, id);
          out.missing.push(id);
        } else {
          del.run(id);
          out.removed.push(id);
        }
      }
      return out;
    });
  }

  /**
   * Gives images found again their (new) path: the row keeps its id, masks and history. All in one transaction,
   * so names can be exchanged (a↔b); no image that stays present may hold a target path.
   */
  relinkImages(moves: ReadonlyArray<{ id: number; path: string; mtimeMs: number }>): void {
    const now = Date.now();
    const park = this.sql('UPDATE images SET missing_since = coalesce(missing_since, ?) WHERE id = ?');
    const move = this.sql('UPDATE images SET path = ?, mtime_ms = ?, missing_since = NULL, indexed_at = ? WHERE id = ?');
    this.transaction(() => {
      // Out of the unique path index first (it covers present images only), then into the new places.
      for (const m of moves) park.run(now, m.id);
      for (const m of moves) move.run(m.path, m.mtimeMs, now, m.id);
    });
  }

  // ---------------------------------------------------------------- internals

  private requireImage(id: number): ImageRow {
    const img = this.getImage(id);
    if (!img) throw new StoreError('not-found', `image ${id} does not exist`);
    return img;
  }

  /** Moves the image's masks that are not w×h to set_aside (with their examples); drops undo steps of other sizes. */
  private setAsideMisfits(imageId: number, w: number, h: number, reason: string, now: number): number {
    const misfits = this.sql('SELECT * FROM annotations WHERE image_id = ? AND (width != ? OR height != ?) ORDER BY id')
      .all(imageId, w, h) as Row[];
    const examples = this.sql('SELECT id, label FROM examples WHERE annotation_id = ? ORDER BY id');
    const keep = this.sql(
      `INSERT INTO set_aside (image_id, width, height, annotation, examples, reason, set_aside_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    for (const r of misfits) {
      keep.run(imageId, r.width, r.height, JSON.stringify(toAnnotation(r)), JSON.stringify(examples.all(r.id)), reason, now);
      this.sql('DELETE FROM annotations WHERE id = ?').run(r.id); // its examples go with it (kept above)
    }
    // Undoing a step recorded at another size would put masks of that size back.
    this.sql(
      `DELETE FROM history WHERE image_id = ? AND EXISTS (SELECT 1 FROM json_each(history.changes) c
         WHERE coalesce(json_extract(c.value, '$.before.width'), json_extract(c.value, '$.after.width')) != ?
            OR coalesce(json_extract(c.value, '$.before.height'), json_extract(c.value, '$.after.height')) != ?)`,
    ).run(imageId, w, h);
    return misfits.length;
  }

  /** Brings back the image's set-aside masks that are w×h, with their ids and examples. */
  private restoreFitting(imageId: number, w: number, h: number): number {
    const rows = this.sql('SELECT id, annotation, examples FROM set_aside WHERE image_id = ? AND width = ? AND height = ? ORDER BY id')
      .all(imageId, w, h) as Row[];
    const example = this.sql('INSERT INTO examples (id, image_id, annotation_id, label) VALUES (?, ?, ?, ?)');
    for (const r of rows) {
      const a = JSON.parse(r.annotation) as Annotation;
      this.putAnnotation(a.id, a);
      for (const e of JSON.parse(r.examples) as Array<{ id: number; label: string }>) example.run(e.id, imageId, a.id, e.label);
      this.sql('DELETE FROM set_aside WHERE id = ?').run(r.id);
    }
    return rows.length;
  }

  /** The image, refused (conflict) while its file is missing: its masks wait unchanged for the file. */
  private requireEditable(id: number): ImageRow {
    const img = this.requireImage(id);
    if (img.missingSince !== null) throw new StoreError('conflict', missingImageMessage(img));
    return img;
  }

  private requireRun(id: number): Run {
    const run = this.getRun(id);
    if (!run) throw new StoreError('not-found', `run ${id} does not exist`);
    return run;
  }

  private insertAnnotation(input: AnnotationInput): Annotation {
    const now = Date.now();
    const a: Annotation = {
      id: 0,
      imageId: input.imageId,
      categoryId: input.categoryId,
      rle: input.rle,
      height: input.height,
      width: input.width,
      area: input.area,
      bbox: Array.isArray(input.bbox) ? ([...input.bbox] as Annotation['bbox']) : input.bbox,
      iscrowd: input.iscrowd ?? 0,
      source: input.source,
      runId: input.runId ?? null,
      score: input.score ?? null,
      attributes: { ...input.attributes },
      createdAt: now,
      updatedAt: now,
    };
    this.checkAnnotation(a);
    const info = this.sql(
        `INSERT INTO annotations (image_id, category_id, rle, height, width, area, bbox_x, bbox_y, bbox_w, bbox_h,
           iscrowd, source, run_id, score, attributes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(a.imageId, a.categoryId, a.rle, a.height, a.width, a.area, ...a.bbox, a.iscrowd, a.source, a.runId, a.score,
        JSON.stringify(a.attributes), a.createdAt, a.updatedAt);
    this.noteLabelling(a);
    return { ...a, id: Number(info.lastInsertRowid) };
  }

  /** Each value names an attribute the annotation's category defines and suits its type. */
  private checkAttributes(a: Annotation): void {
    const values = a.attributes;
    if (typeof values !== 'object' || values === null || Array.isArray(values)) throw new StoreError('invalid', 'attributes must be an object of values by name');
    const names = Object.keys(values);
    if (names.length === 0) return;
    if (a.categoryId === null) throw new StoreError('invalid', 'an unassigned mask has no attributes: give it a category first');
    const defs = new Map(this.listAttributeDefs(a.categoryId).map((d) => [d.name, d]));
    for (const name of names) {
      const def = defs.get(name);
      if (!def) throw new StoreError('invalid', `category '${this.getCategory(a.categoryId)!.name}' has no attribute '${name}'`);
      const problem = attributeProblem(def, values[name]);
      if (problem) throw new StoreError('invalid', `attribute '${name}': ${problem}`);
    }
  }

  /** Checks an annotation against its image, category and run; returns the image. */
  private checkAnnotation(a: Annotation): ImageRow {
    checkInt('imageId', a.imageId, 1);
    const img = this.requireEditable(a.imageId);
    if (img.status === 'error') throw new StoreError('invalid', `image ${img.id} (${img.path}) could not be read: ${img.error}`);
    checkInt('width', a.width, 1);
    checkInt('height', a.height, 1);
    if (a.width !== img.width || a.height !== img.height) {
      throw new StoreError('invalid',
        `mask size ${a.width}×${a.height} does not match image ${img.id} (${img.path}), which is ${img.width}×${img.height}`);
    }
    if (a.categoryId !== null) {
      checkInt('categoryId', a.categoryId, 1);
      if (!this.getCategory(a.categoryId)) throw new StoreError('not-found', `category ${a.categoryId} does not exist`);
    }
    if (a.runId !== null) {
      checkInt('runId', a.runId, 1);
      this.requireRun(a.runId);
    }
    if (typeof a.rle !== 'string' || !RLE_RE.test(a.rle)) {
      throw new StoreError('invalid', 'rle must be a non-empty COCO compressed RLE string');
    }
    checkInt('area', a.area, 0);
    if (a.area > a.width * a.height) throw new StoreError('invalid', `area ${a.area} exceeds the image's ${a.width * a.height} pixels`);
    const b = a.bbox;
    if (!Array.isArray(b) || b.length !== 4 || !b.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new StoreError('invalid', 'bbox must be [x, y, w, h] with finite numbers');
    }
    if (b[0] < 0 || b[1] < 0 || b[2] < 0 || b[3] < 0 || b[0] + b[2] > a.width || b[1] + b[3] > a.height) {
      throw new StoreError('invalid', `bbox [${b.join(', ')}] lies outside the ${a.width}×${a.height} image`);
    }
    if (a.iscrowd !== 0 && a.iscrowd !== 1) throw new StoreError('invalid', 'iscrowd must be 0 or 1');
    checkName(a.source, 'source');
    if (a.score !== null && (typeof a.score !== 'number' || !Number.isFinite(a.score))) {
      throw new StoreError('invalid', 'score must be a finite number or null');
    }
    this.checkAttributes(a);
    return img;
  }
}

// ---------------------------------------------------------------- helpers

const STORAGE_MESSAGES = {
  'disk-full': 'the disk holding the project is full: the change was not saved (free some space and try again)',
  locked: 'the project is busy in another process (another DiffLabel or the command line held its write lock too long): the change was not saved, try again',
  'read-only': 'the project is open read-only (read-only disk or no permission): the change was not saved',
  corrupt: 'SQLite reports the project database is damaged: the change was not saved',
  'io-error': 'the disk reported an error: the change was not saved',
} as const;

/** SQLite's own failures (not our validation errors) as a StoreError a user can act on; null for anything else. */
function storageFailure(e: unknown): StoreError | null {
  if (e instanceof StoreError || !String((e as { code?: unknown })?.code ?? '').startsWith('SQLITE_')) return null;
  if (String((e as { code: string }).code).startsWith('SQLITE_CONSTRAINT')) return null;
  const kind = classifyStorageError(e);
  return new StoreError(kind, `${STORAGE_MESSAGES[kind]} (${(e as Error).message})`);
}

function imageWhere(f: ImageFilter): { where: string; params: unknown[] } {
  const conds: string[] = [];
  const params: unknown[] = [];
  if (f.status !== undefined) {
    if (!IMAGE_STATUSES.includes(f.status)) throw new StoreError('invalid', `unknown image status '${f.status}'`);
    conds.push('status = ?');
    params.push(f.status);
  }
  if (f.missing !== undefined) conds.push(f.missing ? 'missing_since IS NOT NULL' : 'missing_since IS NULL');
  if (f.proposals !== undefined) {
    conds.push(`${f.proposals ? '' : 'NOT '}EXISTS (SELECT 1 FROM annotations WHERE image_id = images.id AND ${PROPOSAL_SQL})`);
  }
  if (f.search) {
    conds.push("path LIKE ? ESCAPE '\\'");
    params.push(`%${f.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  }
  return { where: conds.length ? `WHERE ${conds.join(' AND ')}` : '', params };
}

function checkInt(what: string, v: unknown, min: number): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new StoreError('invalid', `${what} must be an integer ≥ ${min}, got ${String(v)}`);
  }
}

function checkText(what: string, v: unknown): string {
  if (typeof v !== 'string') throw new StoreError('invalid', `${what} must be a string`);
  return v;
}

function checkName(v: unknown, what = 'name'): string {
  const s = checkText(what, v).trim();
  if (!s) throw new StoreError('invalid', `${what} must not be empty`);
  return s;
}

function checkColor(v: unknown): string {
  if (typeof v !== 'string' || !COLOR_RE.test(v)) throw new StoreError('invalid', `color must be '#rrggbb', got ${String(v)}`);
  return v.toLowerCase();
}

function toJson(what: string, v: unknown): string {
  const s = JSON.stringify(v);
  if (s === undefined) throw new StoreError('invalid', `${what} must be JSON-serialisable`);
  return s;
}

function toImage(r: Row): ImageRow {
  return {
    id: r.id, path: r.path, width: r.width, height: r.height, bytes: r.bytes, mtimeMs: r.mtime_ms, sha1: r.sha1,
    format: r.format, status: r.status, error: r.error, indexedAt: r.indexed_at, missingSince: r.missing_since ?? null,
    annotationCount: r.annotation_count,
  };
}

function toCategory(r: Row): Category {
  return { id: r.id, name: r.name, supercategory: r.supercategory, color: r.color, isthing: r.isthing === 1 };
}

function toAnnotation(r: Row): Annotation {
  return {
    id: r.id, imageId: r.image_id, categoryId: r.category_id, rle: r.rle, height: r.height, width: r.width,
    area: r.area, bbox: [r.bbox_x, r.bbox_y, r.bbox_w, r.bbox_h], iscrowd: r.iscrowd, source: r.source,
    runId: r.run_id, score: r.score, attributes: JSON.parse(r.attributes), createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

function toAttributeDef(r: Row): AttributeDef {
  return { id: r.id, categoryId: r.category_id, name: r.name, type: r.type, options: JSON.parse(r.options), default: JSON.parse(r.default_value) };
}

/** Why `value` does not suit the attribute; null when it does. */
function attributeProblem(def: Pick<AttributeDef, 'type' | 'options'>, value: unknown): string | null {
  if (def.type === 'boolean') return typeof value === 'boolean' ? null : `must be true or false, got ${JSON.stringify(value)}`;
  if (typeof value !== 'string') return `must be a string, got ${JSON.stringify(value)}`;
  if (def.type === 'select' && !def.options.includes(value)) return `must be one of ${def.options.map((o) => `'${o}'`).join(', ')}, got '${value}'`;
  return null;
}

/** The values `defs` accept (by name and type) and the names of those they do not. */
function fitAttributes(values: AttributeValues, defs: readonly AttributeDef[]): { kept: AttributeValues; dropped: string[] } {
  const byName = new Map(defs.map((d) => [d.name, d]));
  const kept: AttributeValues = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    const def = byName.get(name);
    if (def && attributeProblem(def, value) === null) kept[name] = value as AttributeValue;
    else dropped.push(name);
  }
  return { kept, dropped };
}

function toRun(r: Row): Run {
  return {
    id: r.id, pipeline: r.pipeline, modelBundle: r.model_bundle, params: JSON.parse(r.params), imageId: r.image_id,
    startedAt: r.started_at, finishedAt: r.finished_at, status: r.status, error: r.error, proposes: r.proposes === 1,
  };
}

/** A run's prompt payload with the vocabulary class of each of its proposals, by annotation id (`classes`). */
function withProposalClasses(payload: unknown, annotations: readonly Annotation[], classes: readonly (string | null)[] | undefined): unknown {
  if (!classes?.some((c) => c !== null)) return payload;
  const named = annotations.flatMap((a, i) => (classes[i] ? [[String(a.id), classes[i]]] : []));
  return { ...(payload as object), classes: Object.fromEntries(named) };
}
