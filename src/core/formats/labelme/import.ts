// labelme import: every `*.json` under the folder with labelme's `shapes` and `imagePath`. Polygons become masks;
// shapes sharing a label and a group_id are one mask (labelme's way of grouping pieces); rectangles become boxes
// (clipped to the image) and points points; other shape types are skipped with the reason. As for the other
// formats: all checked before one transaction, masks already in the project skipped, and a folder whose every
// shape was skipped changes nothing.
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import type { DatasetImportReport } from '../../../shared/contract';
import { area, bbox, polygonsToRle, toCompressedString, unionAll, type Rle } from '../../../shared/masks';
import type { AnnotationInput, ProjectStore } from '../../project';
import { geometryKey, readBox, type Geometry } from '../coco/import';
import { walkFolder } from '../../project/walk';
import { imageMatcher } from '../dataset/match';
import { DatasetFileError } from '../dataset/errors';
import { JsonTextError, parseJsonBytes } from '../json-text';
import { commitImport } from '../dataset/commit';

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
  const existing = new Set(store.listAnnotations({}).map((a) => `${a.imageId}|${a.categoryId}|${geometryKey(a.shape === 'mask' ? a.rle : a)}`));
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
    const masks = new Map<string, { name: string; parts: Geometry[]; shape: number }>();
    for (const [i, raw] of doc.shapes.entries()) {
      shapeCount++;
      const s = Shape.safeParse(raw);
      let rle: Geometry;
      try {
        if (!s.success) throw new Error(`not a shape: ${s.error.issues.map((x) => `${x.path.join('.') || '(shape)'}: ${x.message}`).join('; ')}`);
        rle = shapeGeometry(s.data.shape_type, s.data.points, img.height, img.width);
      } catch (e) {
        skip(i + 1, (e as Error).message);
        continue;
      }
      // Boxes and points are never pieces of one another.
      const group = s.data.group_id === null || s.data.group_id === undefined || !('counts' in rle) ? `#${i}` : `g${s.data.group_id}`;
      const k = `${s.data.label}\u0000${group}`;
      const m = masks.get(k) ?? { name: s.data.label, parts: [], shape: i + 1 };
      m.parts.push(rle);
      masks.set(k, m);
    }
    for (const m of masks.values()) {
      const g = m.parts.length === 1 ? m.parts[0]! : unionAll(m.parts as Rle[]);
      const counts = 'counts' in g ? toCompressedString(g) : '';
      if (!categoryId.has(m.name)) categoryId.set(m.name, store.getCategoryByName(m.name)?.id ?? null);
      const key = `${img.id}|${categoryId.get(m.name) ?? `new ${m.name}`}|${geometryKey('counts' in g ? counts : g)}`;
      if (existing.has(key)) {
        report.skipped.push({ file: f.path, line: m.shape, reason: 'already in the project' });
        continue;
      }
      existing.add(key);
      touched.add(img.id);
      const fields = 'counts' in g
        ? { rle: counts, area: area(g), bbox: bbox(g) }
        : { shape: g.shape, rle: '', area: g.shape === 'box' ? g.bbox[2] * g.bbox[3] : 0, bbox: g.bbox };
      rows.push({ name: m.name, input: { imageId: img.id, height: img.height, width: img.width, source: 'import', ...fields } });
    }
  }
  return commitImport(store, report, { categoryId, rows, touched, entries: shapeCount });
}

function shapeGeometry(type: string, points: Array<[number, number]>, h: number, w: number): Geometry {
  // Rasterising walks every edge: points far outside would take minutes and clip away anyway (as for COCO).
  if (points.some(([x, y]) => x < -w || x > 2 * w || y < -h || y > 2 * h)) throw new Error(`a point lies far outside the ${w}×${h} image`);
  let rle: Rle;
  if (type === 'polygon') {
    if (points.length < 3) throw new Error(`polygon with ${points.length} points (needs 3)`);
    rle = polygonsToRle([points.flat()], h, w);
  } else if (type === 'rectangle') {
    if (points.length !== 2) throw new Error(`rectangle with ${points.length} points (needs 2 corners)`);
    const [[xa, ya], [xb, yb]] = points as [[number, number], [number, number]];
    return readBox([Math.min(xa, xb), Math.min(ya, yb), Math.abs(xb - xa), Math.abs(yb - ya)], { width: w, height: h });
  } else if (type === 'point') {
    if (points.length !== 1) throw new Error(`point with ${points.length} points (needs 1)`);
    const [[x, y]] = points as [[number, number]];
    if (x < 0 || y < 0 || x > w || y > h) throw new Error(`the point (${x}, ${y}) lies outside the ${w}×${h} image`);
    return { shape: 'point', bbox: [x, y, 0, 0] };
  } else {
    // Only labelme's own type names are repeated: a reason never quotes arbitrary text of the file.
    const known = ['circle', 'line', 'linestrip', 'points', 'mask'].includes(type);
    throw new Error(`${known ? `shape type "${type}"` : 'this shape type'} is not read (polygons, rectangles and points are)`);
  }
  if (area(rle) === 0) throw new Error('the shape covers no pixel (empty mask)');
  return rle;
}
