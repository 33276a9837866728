// Pascal VOC import from the object label images: each index 1…254 of `SegmentationObject/<stem>.png` is one
// mask (0 background, 255 VOC's "void" border, ignored). Its class is the name of the k-th <object> in
// `Annotations/<stem>.xml` (VOC's convention), or, without an XML, the class index its pixels mostly carry in
// `SegmentationClass/<stem>.png`, named by `labelmap.txt` (CVAT's form) or, without one, VOC's 20 classes. As for
// YOLO: a folder that is not VOC is refused whole, a file or object that cannot be used is skipped with its
// reason, everything is decoded before one transaction, and a dataset whose every object was skipped changes
// nothing. An <object> of the XML with no pixels in the object image (our export's boxes, or a mask hidden by later
// ones) is read as a box, from its 1-based inclusive `bndbox`.
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DatasetImportReport } from '../../../shared/contract';
import { area, bbox, encode, toCompressedString } from '../../../shared/masks';
import type { AnnotationInput, BBox, ProjectStore } from '../../project';
import { geometryKey, readBox } from '../coco/import';
import { walkFolder } from '../../project/walk';
import { imageMatcher } from '../dataset/match';
import { DatasetFileError } from '../dataset/errors';
import { readIndexedPng } from './png';
import { commitImport } from '../dataset/commit';

const VOC_CLASSES = ['background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor'];
const VOID = 255;

export async function importVoc(store: ProjectStore, path: string): Promise<DatasetImportReport> {
  const root = resolve(path);
  const objectsDir = join(root, 'SegmentationObject');
  if (!(await stat(objectsDir).catch(() => null))?.isDirectory())
    throw new DatasetFileError(`no SegmentationObject folder in ${root} (VOC masks are read from its object label images)`);
  const classNames = await readLabelmap(join(root, 'labelmap.txt'));
  const walked = await walkFolder(objectsDir);
  const report: DatasetImportReport = { images: 0, annotations: 0, categoriesCreated: 0, labelFiles: 0, skipped: [] };
  const match = imageMatcher(store, join(root, 'JPEGImages'));
  const existing = new Set(store.listAnnotations({}).map((a) => `${a.imageId}|${a.categoryId}|${geometryKey(a.shape === 'mask' ? a.rle : a)}`));
  const categoryId = new Map<string, number | null>();
  const rows: Array<{ name: string; input: Omit<AnnotationInput, 'categoryId'> }> = [];
  const touched = new Set<number>();
  let objectCount = 0;
  for (const f of walked.files.filter((f) => /\.png$/i.test(f.path))) {
    const stem = f.path.slice(0, -4);
    const file = `SegmentationObject/${f.path}`;
    const skip = (line: number | null, reason: string) => report.skipped.push({ file, line, reason });
    const img = match(stem);
    if (typeof img === 'string') {
      skip(null, img);
      continue;
    }
    let objects: Uint8Array;
    let classes: Uint8Array | null = null;
    let names: string[] | null;
    let boxes: Array<BBox | null> = [];
    try {
      const o = await readIndexedPng(await readFile(f.abs));
      if (o.w !== img.width || o.h !== img.height) throw new Error(`size ${o.w}×${o.h} but the image is ${img.width}×${img.height}`);
      objects = o.indices;
      const xml = await readObjects(join(root, 'Annotations', `${stem}.xml`));
      names = xml && xml.map((o) => o.name);
      boxes = xml?.map((o) => o.box) ?? [];
      if (!names) {
        const c = await readIndexedPng(await readFile(join(root, 'SegmentationClass', `${stem}.png`))).catch((e: Error) => {
          throw new Error(`no Annotations/${stem}.xml and SegmentationClass/${stem}.png ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `cannot be used: ${e.message}`}`);
        });
        if (c.w !== img.width || c.h !== img.height) throw new Error(`SegmentationClass/${stem}.png is ${c.w}×${c.h} but the image is ${img.width}×${img.height}`);
        classes = c.indices;
      }
    } catch (e) {
      skip(null, (e as Error).message);
      continue;
    }
    report.labelFiles++;
    const masks = splitObjects(objects, img.height, img.width);
    for (const [k, mask] of masks) {
      objectCount++;
      let name: string | undefined;
      if (names) name = names[k - 1];
      else {
        const c = majority(classes!, mask);
        name = c === null ? undefined : (classNames ?? VOC_CLASSES)[c];
      }
      if (!name || name === 'background') {
        skip(k, names ? `object ${k} has no <object> in Annotations/${stem}.xml` : `object ${k}'s class has no name (labelmap.txt)`);
        continue;
      }
      const rle = encode(mask, img.height, img.width);
      const counts = toCompressedString(rle);
      if (!categoryId.has(name)) categoryId.set(name, store.getCategoryByName(name)?.id ?? null);
      const key = `${img.id}|${categoryId.get(name) ?? `new ${name}`}|${counts}`;
      if (existing.has(key)) {
        skip(k, 'already in the project');
        continue;
      }
      existing.add(key);
      touched.add(img.id);
      rows.push({ name, input: { imageId: img.id, rle: counts, height: img.height, width: img.width, area: area(rle), bbox: bbox(rle), source: 'import' } });
    }
    for (const [i, raw] of boxes.entries()) {
      if (masks.has(i + 1) || !raw) continue;
      objectCount++;
      const name = names![i]!;
      let g: ReturnType<typeof readBox>;
      try {
        if (!name || name === 'background') throw new Error(`object ${i + 1} has no class name`);
        g = readBox(raw, img);
      } catch (e) {
        skip(i + 1, (e as Error).message);
        continue;
      }
      if (!categoryId.has(name)) categoryId.set(name, store.getCategoryByName(name)?.id ?? null);
      const key = `${img.id}|${categoryId.get(name) ?? `new ${name}`}|${geometryKey(g)}`;
      if (existing.has(key)) {
        skip(i + 1, 'already in the project');
        continue;
      }
      existing.add(key);
      touched.add(img.id);
      rows.push({ name, input: { imageId: img.id, shape: 'box', rle: '', height: img.height, width: img.width, area: g.bbox[2] * g.bbox[3], bbox: g.bbox, source: 'import' } });
    }
  }
  return commitImport(store, report, { categoryId, rows, touched, entries: objectCount });
}

/** Each object index present (1…254) with its pixels, in index order. */
function splitObjects(indices: Uint8Array, h: number, w: number): Map<number, Uint8Array> {
  const found = new Map<number, Uint8Array>();
  for (let p = 0; p < indices.length; p++) {
    const k = indices[p]!;
    if (k === 0 || k === VOID) continue;
    let m = found.get(k);
    if (!m) found.set(k, (m = new Uint8Array(h * w)));
    m[p] = 1;
  }
  return new Map([...found].sort((a, b) => a[0] - b[0]));
}

/** The class index most of the mask's pixels carry, background and void aside; null when none. */
function majority(classes: Uint8Array, mask: Uint8Array): number | null {
  const n = new Uint32Array(256);
  for (let p = 0; p < mask.length; p++) if (mask[p]) n[classes[p]!]++;
  let best: number | null = null;
  for (let c = 1; c < VOID; c++) if (n[c]! > 0 && (best === null || n[c]! > n[best]!)) best = c;
  return best;
}

/** Object names in order from a VOC XML (the first <name> of each <object>; parts follow it); null when there is no file. */
/** Each <object>'s name and its box [x, y, w, h] from `bndbox` (null without one), in order; null without the file. */
async function readObjects(file: string): Promise<Array<{ name: string; box: BBox | null }> | null> {
  let xml: string;
  try {
    xml = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`cannot read ${file}: ${(e as Error).message}`);
  }
  return xml.split(/<object\b[^>]*>/).slice(1).map((o) => {
    const corner = (tag: string) => Number(new RegExp(`<${tag}>\\s*([^<]*?)\\s*</${tag}>`).exec(o)?.[1] ?? NaN);
    const [x0, y0, x1, y1] = ['xmin', 'ymin', 'xmax', 'ymax'].map(corner) as [number, number, number, number];
    const box: BBox | null = [x0, y0, x1, y1].every(Number.isFinite) ? [x0 - 1, y0 - 1, x1 - x0 + 1, y1 - y0 + 1] : null;
    return { name: unescape(/<name>([^<]*)<\/name>/.exec(o)?.[1]?.trim() ?? ''), box };
  });
}

/** Class names by index from CVAT's labelmap.txt (`name:r,g,b:parts:actions`); null when there is none. */
async function readLabelmap(file: string): Promise<string[] | null> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return null;
  return text.split(/\r?\n/).filter((l) => l.trim() && !l.startsWith('#')).map((l) => l.split(':').slice(0, -3).join(':'));
}

function unescape(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}
