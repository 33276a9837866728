// YOLO import: data.yaml (class names) and the label files under labels/, segmentation (`class x1 y1 …`) and
// detection (`class cx cy w h`) told apart line by line. A dataset whose structure is not YOLO (no data.yaml, no
// names, no labels folder) is refused whole; a label file or a line that cannot be used is skipped and reported
// with its reason. Every line is checked and rasterised before anything is written; what is accepted then lands
// in one transaction. A detection line becomes a box (clipped to the image, corners to 1/1000 pixel: the label's
// decimals give no more).
import { readFile, readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import type { DatasetImportReport } from '../../../shared/contract';
import { area, bbox, polygonsToRle, toCompressedString } from '../../../shared/masks';
import type { AnnotationInput, ImageRow, ProjectStore } from '../../project';
import { walkFolder } from '../../project/walk';
import { imageMatcher } from '../dataset/match';
import { DatasetFileError } from '../dataset/errors';
import { readNames } from './data-yaml';
import { geometryKey, readBox, type Geometry } from '../coco/import';

/** A label file larger than this is skipped: even a dense segmentation dataset stays far below. */
const MAX_LABEL_BYTES = 64 << 20;

/** `path`: the dataset folder, or its data.yaml. */
export async function importYolo(store: ProjectStore, path: string): Promise<DatasetImportReport> {
  const { root, yaml } = await locate(path);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await readFile(yaml));
  } catch (e) {
    throw new DatasetFileError(e instanceof TypeError ? `${yaml} is not UTF-8 text` : `cannot read ${yaml}: ${(e as Error).message}`);
  }
  const names = readNames(text, yaml);
  if (names.length === 0) throw new DatasetFileError(`${yaml}: "names" is empty`);
  const labelsDir = join(root, 'labels');
  if (!(await stat(labelsDir).catch(() => null))?.isDirectory()) throw new DatasetFileError(`no labels folder in ${root} (YOLO label files live in labels/)`);
  const walked = await walkFolder(labelsDir);
  const files = walked.files.filter((f) => extname(f.path).toLowerCase() === '.txt');
  const report: DatasetImportReport = { images: 0, annotations: 0, categoriesCreated: 0, labelFiles: 0, skipped: [] };
  for (const d of walked.unreadableDirs) report.skipped.push({ file: `labels/${d.path}`, line: null, reason: `folder cannot be read (${d.reason})` });

  // Classes: matched by name with the project's categories, created when new (the names are the label set).
  const classes = names.map((name) => ({ name, id: store.getCategoryByName(name)?.id ?? null }));
  const match = imageMatcher(store, join(root, 'images'));
  const existing = new Set(store.listAnnotations({}).map((a) => `${a.imageId}|${a.categoryId}|${geometryKey(a.shape === 'mask' ? a.rle : a)}`));
  const rows: Array<{ cls: number; input: Omit<AnnotationInput, 'categoryId'> }> = [];
  const touched = new Set<number>();
  let lineCount = 0;
  for (const f of files) {
    const file = `labels/${f.path}`;
    const skip = (line: number | null, reason: string) => report.skipped.push({ file, line, reason });
    const img = match(f.path.slice(0, -extname(f.path).length));
    if (typeof img === 'string') {
      skip(null, img);
      continue;
    }
    if (f.bytes > MAX_LABEL_BYTES) {
      skip(null, `larger than ${MAX_LABEL_BYTES >> 20} MiB`);
      continue;
    }
    let body: string;
    try {
      body = new TextDecoder('utf-8', { fatal: true }).decode(await readFile(f.abs));
    } catch (e) {
      skip(null, e instanceof TypeError ? 'not UTF-8 text' : `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    report.labelFiles++;
    for (const [i, raw] of body.replace(/^\uFEFF/, '').split(/\r?\n/).entries()) {
      if (raw.trim() === '') continue;
      lineCount++;
      let parsed: { cls: number; rle: Geometry };
      try {
        parsed = parseLine(raw, img, names.length);
      } catch (e) {
        skip(i + 1, (e as Error).message);
        continue;
      }
      const g = parsed.rle;
      const counts = 'counts' in g ? toCompressedString(g) : '';
      const key = `${img.id}|${classes[parsed.cls].id ?? `new ${parsed.cls}`}|${geometryKey('counts' in g ? counts : g)}`;
      if (existing.has(key)) {
        skip(i + 1, 'already in the project');
        continue;
      }
      existing.add(key);
      touched.add(img.id);
      rows.push({
        cls: parsed.cls,
        input: 'counts' in g
          ? { imageId: img.id, rle: counts, height: img.height, width: img.width, area: area(g), bbox: bbox(g), source: 'import' }
          : { imageId: img.id, shape: 'box', rle: '', height: img.height, width: img.width, area: g.bbox[2] * g.bbox[3], bbox: g.bbox, source: 'import' },
      });
    }
  }

  // A dataset whose every line was skipped changes nothing, not even the categories.
  if (rows.length > 0 || lineCount === 0)
    store.transaction(() => {
      for (const c of classes) {
        if (c.id !== null) continue;
        c.id = store.addCategory({ name: c.name }).id;
        report.categoriesCreated++;
      }
      if (rows.length) store.addAnnotations(rows.map((r) => ({ ...r.input, categoryId: classes[r.cls].id })));
    });
  report.annotations = rows.length;
  report.images = touched.size;
  return report;
}

async function locate(path: string): Promise<{ root: string; yaml: string }> {
  const abs = resolve(path);
  const st = await stat(abs).catch(() => null);
  if (!st) throw new DatasetFileError(`not found: ${abs}`);
  if (st.isFile()) {
    if (!/\.ya?ml$/i.test(abs)) throw new DatasetFileError(`${abs} is not a YOLO dataset: give its folder or its data.yaml`);
    return { root: resolve(abs, '..'), yaml: abs };
  }
  if (!st.isDirectory()) throw new DatasetFileError(`${abs} is not a folder`);
  const entries = await readdir(abs);
  if (entries.includes('data.yaml')) return { root: abs, yaml: join(abs, 'data.yaml') };
  // Ultralytics' own datasets name the file after the dataset (coco8-seg.yaml).
  const yamls = entries.filter((e) => /\.ya?ml$/i.test(e));
  if (yamls.length === 1) return { root: abs, yaml: join(abs, yamls[0]) };
  throw new DatasetFileError(
    yamls.length ? `${abs} holds several YAML files (${yamls.slice(0, 5).join(', ')}): give the dataset's one` : `no data.yaml in ${abs} (a YOLO dataset names its classes there)`,
  );
}

/** One label line; throws with the reason it cannot be used. */
function parseLine(raw: string, img: ImageRow, classCount: number): { cls: number; rle: Geometry } {
  const tokens = raw.trim().split(/\s+/);
  const n = tokens.length - 1;
  if (n !== 4 && (n < 6 || n % 2)) throw new Error(`${n} numbers after the class: a box has 4, a polygon an even count of at least 6`);
  const cls = Number(tokens[0]);
  // Reasons name positions, never the text: the file may not be what its name claims.
  if (!Number.isInteger(cls) || cls < 0) throw new Error('the class is not a class index (a whole number from 0)');
  if (cls >= classCount) throw new Error(`class ${cls} is not in data.yaml's names (${classCount} classes)`);
  const v = tokens.slice(1).map(Number);
  const bad = v.findIndex((x) => !Number.isFinite(x) || x < 0 || x > 1);
  if (bad >= 0) throw new Error(`value ${bad + 1} is not a normalised coordinate (a number in 0…1)`);
  const { width: W, height: H } = img;
  if (n === 4) {
    const [cx, cy, w, h] = v;
    const px = (f: number, size: number) => Math.round(f * size * 1000) / 1000;
    const x0 = px(cx - w / 2, W), y0 = px(cy - h / 2, H);
    return { cls, rle: readBox([x0, y0, px(cx + w / 2, W) - x0, px(cy + h / 2, H) - y0], img) };
  }
  const rle = polygonsToRle([v.map((x, i) => x * (i % 2 ? H : W))], H, W);
  if (area(rle) === 0) throw new Error('polygon covers no pixel centre (empty mask)');
  return { cls, rle };
}
