// COCO instances import: polygons, uncompressed and compressed RLE; a panoptic file goes to panoptic-import.ts,
// which shares the matching of categories and images below. A file whose structure is not COCO is
// refused whole; single entries that cannot be used are skipped and reported with their reason. Every entry is
// checked and every mask decoded before anything is written; what is accepted then lands in one transaction.
// Attributes (`attributes: {name: value}` on an annotation, as CVAT writes them) become attribute definitions of the
// annotation's category: boolean where every value in the file is true/false, text otherwise (numbers and other JSON
// values as their JSON text). A name the project's category already defines must fit that definition.
// An annotation without a segmentation (absent, null or [], as CVAT and Roboflow write boxes) is a box: its bbox,
// clipped to the image. One with `keypoints` [x, y, v] (v > 0) and no segmentation is a point (docs/coco-compatibility.md).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { CocoRle, type CocoImportReport } from '../../../shared/contract';
import { MaskFormatError, area, bbox, fromCocoRle, polygonsToRle, toCompressedString, type Rle } from '../../../shared/masks';
import type { AnnotationInput, AttributeDef, AttributeValues, BBox, ImageRow, ProjectStore } from '../../project';
import { isInside } from '../files';
import { JsonTextError, parseJsonBytes } from '../json-text';
import { importPanoptic } from './panoptic-import';

export class CocoFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CocoFileError';
  }
}

/** Ids go back into the report, so a string id longer than this is not taken. */
const MAX_ID_LENGTH = 256;
const CocoId = z.union([z.number().int(), z.string().min(1).max(MAX_ID_LENGTH)]);
const TopLevel = z.object({
  images: z.array(z.unknown(), { error: 'COCO "images" must be an array' }),
  annotations: z.array(z.unknown(), { error: 'COCO "annotations" must be an array' }),
  categories: z.array(z.unknown(), { error: 'COCO "categories" must be an array' }),
});
const CocoImage = z.object({
  id: CocoId,
  file_name: z.string().min(1).max(4096),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});
const Byte = z.number().int().min(0).max(255);
const CocoCategory = z.object({
  id: CocoId,
  // As categories.add accepts.
  name: z.string().trim().min(1).max(200),
  supercategory: z.string().max(200).optional().nullable(),
  isthing: z.union([z.literal(0), z.literal(1), z.boolean()]).optional(),
  // "#rrggbb", or [r, g, b] as COCO panoptic writes it.
  color: z
    .union([
      z.string().regex(/^#[0-9a-fA-F]{6}$/),
      z.tuple([Byte, Byte, Byte]).transform((rgb) => `#${rgb.map((v) => v.toString(16).padStart(2, '0')).join('')}`),
    ])
    .optional(),
});
const CocoAnn = z.object({
  id: CocoId.optional(),
  image_id: CocoId,
  category_id: CocoId,
  segmentation: z.unknown().optional(),
  bbox: z.unknown().optional(),
  keypoints: z.unknown().optional(),
  iscrowd: z.union([z.literal(0), z.literal(1), z.boolean()]).optional(),
  score: z.number().finite().optional(),
  attributes: z.record(z.string().min(1, 'an attribute needs a name').max(100), z.unknown(), { error: 'attributes must be an object of values by name' }).optional(),
});

export type ReportId = CocoImportReport['skipped'][number]['id'];

/** A category annotations go to: one of the project's, or one this import creates (id set when created). */
export interface CategoryTarget {
  id: number | null;
  /** Tells masks apart from the project's: the category's id, or its name while it is still to be created. */
  key: string;
  create?: z.infer<typeof CocoCategory>;
}

/** `kind`: what the file must be (a labeler's choice in the app); without it, what the file is decides. */
export async function importCocoFile(store: ProjectStore, path: string, kind?: 'instances' | 'panoptic'): Promise<CocoImportReport> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new CocoFileError(`cannot read ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseJsonBytes(bytes, path);
  } catch (e) {
    if (e instanceof JsonTextError) throw new CocoFileError(e.message);
    throw e;
  }
  const panoptic = isPanopticDocument(doc);
  if (kind === 'panoptic' && !panoptic) throw new CocoFileError(`${path} is not COCO panoptic (no annotation has segments_info): import it as COCO instances`);
  if (kind === 'instances' && panoptic) throw new CocoFileError(`${path} is COCO panoptic (its annotations have segments_info and PNGs): import it as COCO panoptic`);
  return panoptic ? importPanoptic(store, doc, path) : importCoco(store, doc);
}

export function importCoco(store: ProjectStore, doc: unknown): CocoImportReport {
  if (isPanopticDocument(doc))
    throw new CocoFileError('a COCO panoptic file needs its folder of PNGs: import it from its path, with the folder beside it');
  const top = topLevel(doc, 'instances');
  const m = matchEntries(store, top.categories, top.images);
  const { skip } = m;

  // Annotations: every mask decoded and checked here, before the transaction, so nothing can fail half-way.
  const seenIds = new Set<string>();
  for (const [index, raw] of top.annotations.entries()) {
    const id = reportId(raw, index);
    const a = CocoAnn.safeParse(raw);
    if (!a.success) {
      skip('annotation', id, describe(a.error));
      continue;
    }
    if (a.data.id !== undefined) {
      if (seenIds.has(String(a.data.id))) {
        skip('annotation', id, 'duplicate annotation id: only the first annotation with this id is considered');
        continue;
      }
      seenIds.add(String(a.data.id));
    }
    const img = m.image(a.data.image_id, id);
    if (!img) continue;
    const target = m.category(a.data.category_id, id);
    if (target === undefined) continue;
    let rle: Geometry;
    try {
      const seg = a.data.segmentation;
      const noMask = seg === undefined || seg === null || (Array.isArray(seg) && seg.length === 0);
      rle = !noMask ? decodeSegmentation(seg, img) : a.data.keypoints !== undefined ? readPoint(a.data.keypoints, img) : readBox(a.data.bbox, img);
    } catch (e) {
      skip('annotation', id, (e as Error).message);
      continue;
    }
    m.add(id, img, target, rle, { iscrowd: a.data.iscrowd ? 1 : 0, score: a.data.score ?? null }, a.data.attributes);
  }
  return m.commit(top.annotations.length);
}

/** A panoptic document: its annotations carry segments_info (a PNG each) instead of segmentations. */
export function isPanopticDocument(doc: unknown): boolean {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return false;
  const anns = (doc as { annotations?: unknown }).annotations;
  return Array.isArray(anns) && anns.some((a) => typeof a === 'object' && a !== null && 'segments_info' in a);
}

export function topLevel(doc: unknown, kind: 'instances' | 'panoptic'): z.infer<typeof TopLevel> {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CocoFileError('not a COCO file: the top level must be a JSON object');
  const top = TopLevel.safeParse(doc);
  if (!top.success) {
    const missing = ['images', 'annotations', 'categories'].filter((k) => !(k in doc));
    throw new CocoFileError(
      missing.length
        ? `not a COCO ${kind} file: missing ${missing.map((k) => `"${k}"`).join(', ')}`
        : `not a COCO ${kind} file: ${top.error.issues.map((i) => i.message).join('; ')}`,
    );
  }
  return top.data;
}

/** What instances and panoptic imports share: categories and images matched with the project, masks gathered, one commit. */
export interface EntryMatching {
  skip(what: 'image' | 'annotation' | 'category', id: ReportId, reason: string): void;
  /** The project image of a COCO image id, or undefined after reporting why the entry `id` is skipped. */
  image(imageId: string | number, id: ReportId): ImageRow | undefined;
  /** Where masks of a COCO category id go, or undefined after reporting why the entry `id` is skipped. */
  category(categoryId: string | number, id: ReportId): CategoryTarget | undefined;
  /**
   * Queues a mask unless the project already holds it (re-importing a file is harmless) or its attribute values do
   * not fit the definitions its category has in the project.
   */
  add(id: ReportId, img: ImageRow, target: CategoryTarget, rle: Geometry, extra: { iscrowd: 0 | 1; score: number | null }, attributes?: Record<string, unknown>): void;
  /** Writes what was queued in one transaction; `entries` is the file's annotation count. */
  commit(entries: number): CocoImportReport;
}

export function matchEntries(store: ProjectStore, categories: unknown[], images: unknown[]): EntryMatching {
  const report: CocoImportReport = { images: 0, annotations: 0, categoriesCreated: 0, skipped: [] };
  const skip = (what: 'image' | 'annotation' | 'category', id: ReportId, reason: string) => report.skipped.push({ what, id, reason });

  // Categories: matched by name with the project's, created when new. Entries of the file that share a name
  // are one category, as they would be in the project.
  const categoryOf = new Map<string, CategoryTarget>();
  const byName = new Map<string, { target: CategoryTarget; id: ReportId }>();
  for (const [index, raw] of categories.entries()) {
    const c = CocoCategory.safeParse(raw);
    if (!c.success) {
      skip('category', reportId(raw, index), describe(c.error));
      continue;
    }
    const key = String(c.data.id);
    if (categoryOf.has(key)) {
      skip('category', c.data.id, 'duplicate category id');
      continue;
    }
    const same = byName.get(c.data.name);
    if (same) {
      categoryOf.set(key, same.target);
      skip('category', c.data.id, `same name as category ${same.id}: its annotations go to that category`);
      continue;
    }
    const existing = store.getCategoryByName(c.data.name);
    const target: CategoryTarget = existing ? { id: existing.id, key: String(existing.id) } : { id: null, key: `new ${c.data.name}`, create: c.data };
    categoryOf.set(key, target);
    byName.set(c.data.name, { target, id: c.data.id });
  }

  // Images: matched by path relative to the folder, or by a file name that is unique in the project. Missing
  // images (file gone, masks kept read-only) take nothing.
  const all = store.listImages({ missing: false });
  const byPath = new Map(all.map((i) => [i.path, i]));
  const missingAt = new Set(store.listImages({ missing: true }).map((i) => i.path));
  const byBase = new Map<string, ImageRow | null>();
  for (const i of all) {
    const base = i.path.slice(i.path.lastIndexOf('/') + 1);
    byBase.set(base, byBase.has(base) ? null : i);
  }
  const imageMap = new Map<string, ImageRow>();
  const skippedImages = new Map<string, string>();
  for (const [index, raw] of images.entries()) {
    const c = CocoImage.safeParse(raw);
    if (!c.success) {
      skip('image', reportId(raw, index), describe(c.error));
      const id = CocoId.safeParse(idOf(raw));
      if (id.success) skippedImages.set(String(id.data), 'its image entry is invalid');
      continue;
    }
    const key = String(c.data.id);
    if (imageMap.has(key) || skippedImages.has(key)) {
      skip('image', c.data.id, 'duplicate image id');
      continue;
    }
    const name = c.data.file_name.replace(/\\/g, '/').replace(/^\.\//, '');
    const img = byPath.get(name) ?? byBase.get(name.slice(name.lastIndexOf('/') + 1)) ?? undefined;
    let reason: string | null = null;
    if (!img) reason = unmatched(store, name, missingAt);
    else if (img.status === 'error') reason = `image "${img.path}" could not be read: ${img.error}`;
    else if (img.width !== c.data.width || img.height !== c.data.height)
      reason = `size ${c.data.width}×${c.data.height} in the file but ${img.width}×${img.height} on disk`;
    if (reason || !img) {
      skip('image', c.data.id, reason!);
      skippedImages.set(key, 'its image was skipped');
      continue;
    }
    imageMap.set(key, img);
  }

  // Masks already in the project are not imported twice (re-importing a file is harmless).
  const existing = new Set(store.listAnnotations({}).map((a) => `${a.imageId}|${a.categoryId}|${geometryKey(a.shape === 'mask' ? a.rle : a)}`));
  const rows: Array<{ target: CategoryTarget; input: Omit<AnnotationInput, 'categoryId'> & { attributes: AttributeValues } }> = [];
  const touched = new Set<number>();
  // The attributes each category gets from the file (by target key): name → boolean while every value is one.
  const newAttributes = new Map<string, Map<string, 'boolean' | 'text'>>();
  const projectDefs = new Map<number, AttributeDef[]>();
  return {
    skip,
    category(categoryId, id) {
      const target = categoryOf.get(String(categoryId));
      if (target === undefined) skip('annotation', id, `unknown category_id ${categoryId}`);
      return target;
    },
    image(imageId, id) {
      const img = imageMap.get(String(imageId));
      if (!img) skip('annotation', id, skippedImages.has(String(imageId)) ? `image ${imageId}: ${skippedImages.get(String(imageId))}` : `unknown image_id ${imageId}`);
      return img;
    },
    add(id, img, target, rle, extra, raw = {}) {
      const defs = target.id === null ? [] : projectDefs.get(target.id) ?? projectDefs.set(target.id, store.listAttributeDefs(target.id)).get(target.id)!;
      let attributes: AttributeValues;
      try {
        attributes = readAttributes(raw, defs);
      } catch (e) {
        skip('annotation', id, (e as Error).message);
        return;
      }
      const counts = 'counts' in rle ? toCompressedString(rle) : '';
      const key = `${img.id}|${target.key}|${geometryKey('counts' in rle ? counts : rle)}`;
      if (existing.has(key)) {
        skip('annotation', id, 'already in the project');
        return;
      }
      existing.add(key);
      touched.add(img.id);
      const found = newAttributes.get(target.key) ?? newAttributes.set(target.key, new Map()).get(target.key)!;
      for (const [name, value] of Object.entries(attributes)) {
        if (defs.some((d) => d.name === name)) continue;
        found.set(name, typeof value === 'boolean' && found.get(name) !== 'text' ? 'boolean' : 'text');
      }
      rows.push({
        target,
        input: 'counts' in rle
          ? { imageId: img.id, rle: counts, height: rle.h, width: rle.w, area: area(rle), bbox: bbox(rle), source: 'import', ...extra, attributes }
          : { imageId: img.id, shape: rle.shape, rle: '', height: img.height, width: img.width, area: rle.shape === 'box' ? rle.bbox[2] * rle.bbox[3] : 0, bbox: rle.bbox, source: 'import', ...extra, attributes },
      });
    },
    commit(entries) {
      // An attribute that is text somewhere in the file is text everywhere: its true/false values become strings.
      for (const r of rows) {
        const found = newAttributes.get(r.target.key)!;
        for (const [name, value] of Object.entries(r.input.attributes)) {
          if (typeof value === 'boolean' && found.get(name) === 'text') r.input.attributes[name] = String(value);
        }
      }
      // A file whose every annotation was skipped changes nothing, not even the categories (a file of categories
      // alone still creates them: that is how a label set is shared).
      const nothing = rows.length === 0 && entries > 0;
      if (!nothing) store.transaction(() => {
        for (const { target } of byName.values()) {
          if (!target.create) continue;
          const c = target.create;
          target.id = store.addCategory({
            name: c.name,
            supercategory: c.supercategory ?? undefined,
            color: c.color,
            isthing: c.isthing === undefined ? true : Boolean(c.isthing),
          }).id;
          report.categoriesCreated++;
        }
        for (const target of new Set(rows.map((r) => r.target))) {
          for (const [name, type] of newAttributes.get(target.key)!) store.addAttributeDef({ categoryId: target.id!, name, type });
        }
        if (rows.length) store.addAnnotations(rows.map((r) => ({ ...r.input, categoryId: r.target.id })));
      });
      report.annotations = rows.length;
      report.images = touched.size;
      return report;
    },
  };
}

/**
 * An annotation's attribute values as the project stores them: true/false and strings as they are, other JSON values
 * as their JSON text, null as no value. A name `defs` (its category's, in the project) defines must fit it.
 */
function readAttributes(raw: Record<string, unknown>, defs: readonly AttributeDef[]): AttributeValues {
  const out: AttributeValues = {};
  for (const [key, value] of Object.entries(raw)) {
    // Names are trimmed as the project trims them, or a value would miss its definition.
    const name = key.trim();
    if (!name) throw new Error('an attribute needs a name');
    if (value === null) continue;
    let v = typeof value === 'boolean' || typeof value === 'string' ? value : JSON.stringify(value);
    const def = defs.find((d) => d.name === name);
    if (def?.type === 'text') v = String(v);
    else if (def?.type === 'boolean' && typeof v !== 'boolean') throw new Error(`attribute "${name}" is true/false in the project, not ${JSON.stringify(v)}`);
    else if (def?.type === 'select') {
      if (!def.options.includes(String(v))) throw new Error(`attribute "${name}" is one of ${def.options.map((o) => `"${o}"`).join(', ')} in the project, not ${JSON.stringify(v)}`);
      v = String(v);
    }
    if (typeof v === 'string' && v.length > 1000) throw new Error(`attribute "${name}": value longer than 1000 characters`);
    out[name] = v;
  }
  return out;
}

/** Why no project image matches `name`: only a file that is there but not indexed needs indexing. */
function unmatched(store: ProjectStore, name: string, missingAt: Set<string>): string {
  if (missingAt.has(name)) return `image "${name}" is missing (its file is gone; its masks are kept until it returns)`;
  const file = join(store.folder, ...name.split('/'));
  if (isInside(file, store.folder) && existsSync(file)) return `"${name}" is not indexed yet (index the folder first)`;
  return `no image "${name}" in the project folder`;
}

/** What an annotation adds: a mask, or a box or a point (bbox [x, y, 0, 0]). */
export type Geometry = Rle | { shape: 'box' | 'point'; bbox: BBox };

/** Tells annotations of one image and category apart: a mask by its counts, a box or a point by its bbox. */
export function geometryKey(g: string | { shape: string; bbox: BBox }): string {
  return typeof g === 'string' ? g : `${g.shape} ${g.bbox.join(' ')}`;
}

/** A box [x, y, w, h] clipped to the image; an error when nothing of it lies on the image. */
export function readBox(raw: unknown, img: Pick<ImageRow, 'width' | 'height'>): { shape: 'box'; bbox: BBox } {
  if (raw === undefined) throw new Error('no segmentation and no bbox');
  if (!Array.isArray(raw) || raw.length !== 4 || raw.some((v) => typeof v !== 'number' || !Number.isFinite(v)))
    throw new Error('malformed bbox: it must be [x, y, width, height]');
  const [x, y, w, h] = raw as number[];
  const x0 = Math.max(0, x!), y0 = Math.max(0, y!), x1 = Math.min(img.width, x! + w!), y1 = Math.min(img.height, y! + h!);
  if (!(x1 > x0 && y1 > y0)) throw new Error(`empty box: [${raw.join(', ')}] covers nothing of the ${img.width}×${img.height} image`);
  return { shape: 'box', bbox: [x0, y0, x1 - x0, y1 - y0] };
}

/** One keypoint [x, y, v] with v > 0 (labelled), on the image. */
function readPoint(raw: unknown, img: ImageRow): Geometry {
  if (!Array.isArray(raw) || raw.length % 3 || raw.some((v) => typeof v !== 'number' || !Number.isFinite(v)))
    throw new Error('malformed keypoints: they must be [x, y, v, …]');
  if (raw.length !== 3) throw new Error(`${raw.length / 3} keypoints: only single points are read (a skeleton is not)`);
  const [x, y, v] = raw as number[];
  if (v === 0) throw new Error('the keypoint is not labelled (v = 0)');
  if (x! < 0 || y! < 0 || x! > img.width || y! > img.height) throw new Error(`the point (${x}, ${y}) lies outside the ${img.width}×${img.height} image`);
  return { shape: 'point', bbox: [x!, y!, 0, 0] };
}

function decodeSegmentation(seg: unknown, img: ImageRow): Rle {
  let rle: Rle;
  if (Array.isArray(seg)) {
    const rings: number[][] = [];
    for (const ring of seg) {
      if (!Array.isArray(ring) || ring.some((v) => typeof v !== 'number' || !Number.isFinite(v)))
        throw new Error('malformed polygon: each polygon must be a list of numbers');
      if (ring.length < 6 || ring.length % 2) throw new Error(`malformed polygon: ${ring.length} numbers (need an even count of at least 6)`);
      // Rasterising walks every edge point by point: a point far outside would take minutes, and clips away anyway.
      for (let j = 0; j < ring.length; j += 2) {
        if (ring[j] < -img.width || ring[j] > 2 * img.width || ring[j + 1] < -img.height || ring[j + 1] > 2 * img.height)
          throw new Error(`malformed polygon: a point lies far outside the ${img.width}×${img.height} image`);
      }
      rings.push(ring as number[]);
    }
    rle = polygonsToRle(rings, img.height, img.width);
  } else {
    // The schema first: its messages name what is wrong, never the (possibly huge or deeply nested) value.
    const parsed = CocoRle.safeParse(seg);
    if (!parsed.success) throw new Error(`malformed RLE: ${describe(parsed.error)}`);
    const [h, w] = parsed.data.size;
    if (h !== img.height || w !== img.width) throw new Error(`RLE size ${h}×${w} (h×w) does not match the image ${img.height}×${img.width}`);
    try {
      rle = fromCocoRle(parsed.data);
    } catch (e) {
      if (e instanceof MaskFormatError) throw new Error(`malformed RLE: ${e.message}`);
      throw e;
    }
  }
  if (area(rle) === 0) throw new Error('empty mask');
  return rle;
}

function idOf(raw: unknown): unknown {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as { id?: unknown }).id : undefined;
}

/**
 * An entry's id as the report gives it: its COCO id when that is one, else "#<position in its list>" with what
 * the id is. Never the raw value: it may be huge, or nested deep enough to overflow any serialiser.
 */
export function reportId(raw: unknown, index: number): ReportId {
  const id = idOf(raw);
  const valid = CocoId.safeParse(id);
  if (valid.success) return valid.data;
  return id === undefined ? `#${index}` : `#${index} (id is ${kindOf(id)})`;
}

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return v.length ? `a string of ${v.length} characters` : 'an empty string';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return `a ${typeof v}`;
}

export function describe(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || '(entry)'}: ${i.message}`).join('; ');
}
