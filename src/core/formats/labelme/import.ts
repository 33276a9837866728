// labelme import: every `*.json` under the folder with labelme's `shapes` and `imagePath`. Polygons become masks;
// shapes sharing a label and a group_id are one mask (labelme's way of grouping pieces); rectangles become
// rectangular masks (the project stores masks); other shape types are skipped with the reason. As for the other
// formats: all checked before one transaction, masks already in the project skipped, and a folder whose every
// shape was skipped changes nothing.
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import type { DatasetImportReport } from '../../../shared/contract';
import { area, bbox, polygonsToRle, toCompressedString, unionAll, type Rle } from '../../../shared/masks';
import type { AnnotationInput, ProjectStore } from '../../project';
import { walkFolder } from '../../project/walk';
import { imageMatcher } from '../dataset/match';
import { DatasetFileError } from '../dataset/errors';
import { JsonTextError, parseJsonBytes } from '../json-text';

const Point = z.tuple([z.number().finite(), z.number().finite()]);
const Shape = z.object({
  label: z.string().trim().min(1).max(200),
  points: z.array(Point).max(1_000_000),
  group_id: z.union([z.number(), z.string()]).nullable().optional(),
  shape_type: z.string().default('polygon'),
});
const LabelmeFile = z.object({ shapes: z.array(z.unknown()), imagePath: z.string().min(1).max(4096), imageHeight: z.number().int().positive(), imageWidth: z.number().int().positive() });
const MAX_FILE_BYTES = 256 << 20;

export async function importLabelme(store: ProjectStore, path: string): Promise<DatasetImportReport> {
  const root = resolve(path);
  const walked = await walkFolder(root).catch(() => {
    throw new DatasetFileError(`cannot read the folder ${root}`);
  });
  const jsons = walked.files.filter((f) => /\.json$/i.test(f.path));
  if (jsons.length === 0) throw new DatasetFileError(`no labelme .json files in ${root}`);
  const report: DatasetImportReport = { images: 0, annotations: 0, categoriesCreated: 0, labelFiles: 0, skipped: [] };
  const match = imageMatcher(store, root);
  const existing = new Set(store.listAnnotations({}).map((a) => `${a.imageId}|${a.categoryId}|${a.rle}`));
  const categoryId = new Map<string, number | null>();
  const rows: Array<{ name: string; input: Omit<AnnotationInput, 'categoryId'> }> = [];
  const touched = new Set<number>();
  let shapeCount = 0;
  for (const f of jsons) {
    const skip = (line: number | null, reason: string) => report.skipped.push({ file: f.path, line, reason });
    let doc: z.infer<typeof LabelmeFile>;
    try {
      if (f.bytes > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES >> 20} MiB`);
      const parsed = LabelmeFile.safeParse(parseJsonBytes(await readFile(f.abs), f.path));
      if (!parsed.success) throw new Error('not a labelme file (needs shapes, imagePath, imageHeight and imageWidth)');
      doc = parsed.data;
    } catch (e) {
      skip(null, e instanceof JsonTextError ? e.message : (e as Error).message);
      continue;
    }
    // imagePath is relative to the JSON; an image elsewhere is matched by its name.
    const target = relative(store.folder, join(dirname(f.abs), doc.imagePath)).split(sep).join('/').replace(/\.[^./]*$/, '');
    const img = match(target.startsWith('..') ? f.path.replace(/\.json$/i, '') : target);
    if (typeof img === 'string') {
      skip(null, img);
      continue;
    }
    if (img.width !== doc.imageWidth || img.height !== doc.imageHeight) {
      skip(null, `size ${doc.imageWidth}×${doc.imageHeight} in the file but ${img.width}×${img.height} on disk`);
      continue;
    }
    report.labelFiles++;
    // Masks by label and group: ungrouped shapes are masks of their own.
    const masks = new Map<string, { name: string; parts: Rle[]; shape: number }>();
    for (const [i, raw] of doc.shapes.entries()) {
      shapeCount++;
      const s = Shape.safeParse(raw);
      let rle: Rle;
      try {
        if (!s.success) throw new Error(`not a shape: ${s.error.issues.map((x) => `${x.path.join('.') || '(shape)'}: ${x.message}`).join('; ')}`);
        rle = shapeMask(s.data.shape_type, s.data.points, img.height, img.width);
      } catch (e) {
        skip(i + 1, (e as Error).message);
        continue;
      }
      const group = s.data.group_id === null || s.data.group_id === undefined ? `#${i}` : `g${s.data.group_id}`;
      const k = `${s.data.label}\u0000${group}`;
      const m = masks.get(k) ?? { name: s.data.label, parts: [], shape: i + 1 };
      m.parts.push(rle);
      masks.set(k, m);
    }
    for (const m of masks.values()) {
      const rle = m.parts.length === 1 ? m.parts[0]! : unionAll(m.parts);
      const counts = toCompressedString(rle);
      if (!categoryId.has(m.name)) categoryId.set(m.name, store.getCategoryByName(m.name)?.id ?? null);
      const key = `${img.id}|${categoryId.get(m.name) ?? `new ${m.name}`}|${counts}`;
      if (existing.has(key)) {
        report.skipped.push({ file: f.path, line: m.shape, reason: 'already in the project' });
        continue;
      }
      existing.add(key);
      touched.add(img.id);
      rows.push({ name: m.name, input: { imageId: img.id, rle: counts, height: img.height, width: img.width, area: area(rle), bbox: bbox(rle), source: 'import' } });
    }
  }
  if (rows.length > 0 || shapeCount === 0)
    store.transaction(() => {
      for (const [name, id] of categoryId) {
        if (id !== null) continue;
        categoryId.set(name, store.addCategory({ name }).id);
        report.categoriesCreated++;
      }
      if (rows.length) store.addAnnotations(rows.map((r) => ({ ...r.input, categoryId: categoryId.get(r.name)! })));
    });
  report.annotations = rows.length;
  report.images = touched.size;
  return report;
}

function shapeMask(type: string, points: Array<[number, number]>, h: number, w: number): Rle {
  // Rasterising walks every edge: points far outside would take minutes and clip away anyway (as for COCO).
  if (points.some(([x, y]) => x < -w || x > 2 * w || y < -h || y > 2 * h)) throw new Error(`a point lies far outside the ${w}×${h} image`);
  let rle: Rle;
  if (type === 'polygon') {
    if (points.length < 3) throw new Error(`polygon with ${points.length} points (needs 3)`);
    rle = polygonsToRle([points.flat()], h, w);
  } else if (type === 'rectangle') {
    if (points.length !== 2) throw new Error(`rectangle with ${points.length} points (needs 2 corners)`);
    const [[xa, ya], [xb, yb]] = points as [[number, number], [number, number]];
    const x0 = Math.round(Math.min(xa, xb)), x1 = Math.round(Math.max(xa, xb)), y0 = Math.round(Math.min(ya, yb)), y1 = Math.round(Math.max(ya, yb));
    rle = polygonsToRle([[x0, y0, x1, y0, x1, y1, x0, y1]], h, w);
  } else {
    // Only labelme's own type names are repeated: a reason never quotes arbitrary text of the file.
    const known = ['circle', 'line', 'linestrip', 'point', 'points', 'mask'].includes(type);
    throw new Error(`${known ? `shape type "${type}"` : 'this shape type'} is not read (polygons and rectangles are)`);
  }
  if (area(rle) === 0) throw new Error('the shape covers no pixel (empty mask)');
  return rle;
}
