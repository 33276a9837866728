// COCO instances import: polygons, uncompressed and compressed RLE. A file whose structure is not COCO is
// refused whole; single entries that cannot be used are skipped and reported with their reason. Everything
// accepted lands in one transaction.
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { CocoImportReport } from '../../../shared/contract';
import { MaskFormatError, area, bbox, fromCocoRle, polygonsToRle, toCompressedString, type Rle } from '../../masks';
import type { ImageRow, ProjectStore } from '../../project';

export class CocoFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CocoFileError';
  }
}

const CocoId = z.union([z.number().int(), z.string().min(1)]);
const TopLevel = z.object({
  images: z.array(z.unknown(), { error: 'COCO "images" must be an array' }),
  annotations: z.array(z.unknown(), { error: 'COCO "annotations" must be an array' }),
  categories: z.array(z.unknown(), { error: 'COCO "categories" must be an array' }),
});
const CocoImage = z.object({
  id: CocoId,
  file_name: z.string().min(1),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
});
const CocoCategory = z.object({
  id: CocoId,
  name: z.string().trim().min(1),
  supercategory: z.string().optional().nullable(),
  isthing: z.union([z.literal(0), z.literal(1), z.boolean()]).optional(),
  color: z.string().regex(/^#[0-9a-fA-F]{6}$/).optional(),
});
const CocoAnn = z.object({
  id: CocoId.optional(),
  image_id: CocoId,
  category_id: CocoId,
  segmentation: z.unknown().optional(),
  iscrowd: z.union([z.literal(0), z.literal(1), z.boolean()]).optional(),
  score: z.number().finite().optional(),
});

export async function importCocoFile(store: ProjectStore, path: string): Promise<CocoImportReport> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CocoFileError(`cannot read ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new CocoFileError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
  return importCoco(store, doc);
}

export function importCoco(store: ProjectStore, doc: unknown): CocoImportReport {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CocoFileError('not a COCO file: the top level must be a JSON object');
  const top = TopLevel.safeParse(doc);
  if (!top.success) {
    const missing = ['images', 'annotations', 'categories'].filter((k) => !(k in doc));
    throw new CocoFileError(
      missing.length
        ? `not a COCO instances file: missing ${missing.map((k) => `"${k}"`).join(', ')}`
        : `not a COCO instances file: ${top.error.issues.map((i) => i.message).join('; ')}`,
    );
  }
  const report: CocoImportReport = { images: 0, annotations: 0, categoriesCreated: 0, skipped: [] };
  const skip = (what: 'image' | 'annotation' | 'category', id: unknown, reason: string) => report.skipped.push({ what, id, reason });

  // Categories: matched by name with the project's, created when new.
  const categoryMap = new Map<string, number>();
  const newCategories: z.infer<typeof CocoCategory>[] = [];
  for (const raw of top.data.categories) {
    const c = CocoCategory.safeParse(raw);
    const id = (raw as { id?: unknown })?.id;
    if (!c.success) {
      skip('category', id ?? null, describe(c.error));
      continue;
    }
    if (categoryMap.has(String(c.data.id)) || newCategories.some((n) => String(n.id) === String(c.data.id))) {
      skip('category', c.data.id, 'duplicate category id');
      continue;
    }
    const existing = store.getCategoryByName(c.data.name);
    if (existing) categoryMap.set(String(c.data.id), existing.id);
    else newCategories.push(c.data);
  }

  // Images: matched by path relative to the folder, or by a file name that is unique in the project.
  const all = store.listImages({});
  const byPath = new Map(all.map((i) => [i.path, i]));
  const byBase = new Map<string, ImageRow | null>();
  for (const i of all) {
    const base = i.path.slice(i.path.lastIndexOf('/') + 1);
    byBase.set(base, byBase.has(base) ? null : i);
  }
  const imageMap = new Map<string, ImageRow>();
  const skippedImages = new Map<string, string>();
  for (const raw of top.data.images) {
    const c = CocoImage.safeParse(raw);
    const id = (raw as { id?: unknown })?.id;
    if (!c.success) {
      skip('image', id ?? null, describe(c.error));
      if (id !== undefined) skippedImages.set(String(id), 'its image entry is invalid');
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
    if (!img) reason = `no image "${c.data.file_name}" in the project (index the folder first)`;
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
  const existing = new Set(store.listAnnotations({}).map((a) => `${a.imageId}|${a.categoryId}|${a.rle}`));
  const touched = new Set<number>();

  store.transaction(() => {
    for (const c of newCategories) {
      const created = store.addCategory({
        name: c.name,
        supercategory: c.supercategory ?? undefined,
        color: c.color,
        isthing: c.isthing === undefined ? true : Boolean(c.isthing),
      });
      categoryMap.set(String(c.id), created.id);
      report.categoriesCreated++;
    }
    const rows = [];
    for (const [index, raw] of top.data.annotations.entries()) {
      const a = CocoAnn.safeParse(raw);
      const id = (raw as { id?: unknown })?.id ?? `#${index}`;
      if (!a.success) {
        skip('annotation', id, describe(a.error));
        continue;
      }
      const img = imageMap.get(String(a.data.image_id));
      if (!img) {
        skip('annotation', id, skippedImages.has(String(a.data.image_id)) ? `image ${a.data.image_id}: ${skippedImages.get(String(a.data.image_id))}` : `unknown image_id ${a.data.image_id}`);
        continue;
      }
      const categoryId = categoryMap.get(String(a.data.category_id));
      if (categoryId === undefined) {
        skip('annotation', id, `unknown category_id ${a.data.category_id}`);
        continue;
      }
      let rle: Rle;
      try {
        rle = decodeSegmentation(a.data.segmentation, img);
      } catch (e) {
        skip('annotation', id, (e as Error).message);
        continue;
      }
      const counts = toCompressedString(rle);
      const key = `${img.id}|${categoryId}|${counts}`;
      if (existing.has(key)) {
        skip('annotation', id, 'already in the project');
        continue;
      }
      existing.add(key);
      touched.add(img.id);
      rows.push({
        imageId: img.id,
        categoryId,
        rle: counts,
        height: rle.h,
        width: rle.w,
        area: area(rle),
        bbox: bbox(rle),
        iscrowd: a.data.iscrowd ? (1 as const) : (0 as const),
        source: 'import',
        score: a.data.score ?? null,
      });
    }
    if (rows.length) store.addAnnotations(rows);
    report.annotations = rows.length;
  });
  report.images = touched.size;
  return report;
}

function decodeSegmentation(seg: unknown, img: ImageRow): Rle {
  if (seg === undefined || seg === null) throw new Error('no segmentation (boxes alone are not masks)');
  let rle: Rle;
  if (Array.isArray(seg)) {
    if (seg.length === 0) throw new Error('empty segmentation');
    const rings: number[][] = [];
    for (const ring of seg) {
      if (!Array.isArray(ring) || ring.some((v) => typeof v !== 'number' || !Number.isFinite(v)))
        throw new Error('malformed polygon: each polygon must be a list of numbers');
      if (ring.length < 6 || ring.length % 2) throw new Error(`malformed polygon: ${ring.length} numbers (need an even count of at least 6)`);
      rings.push(ring as number[]);
    }
    rle = polygonsToRle(rings, img.height, img.width);
  } else {
    try {
      rle = fromCocoRle(seg);
    } catch (e) {
      if (e instanceof MaskFormatError) throw new Error(`malformed RLE: ${e.message}`);
      throw e;
    }
    if (rle.h !== img.height || rle.w !== img.width)
      throw new Error(`RLE size ${rle.h}×${rle.w} (h×w) does not match the image ${img.height}×${img.width}`);
  }
  if (area(rle) === 0) throw new Error('empty mask');
  return rle;
}

function describe(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || '(entry)'}: ${i.message}`).join('; ');
}
