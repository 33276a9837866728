// COCO panoptic export: `<name>.json` and beside it the folder `<name>/` with one RGB PNG per image, each pixel
// the id of its segment (id = R + 256·G + 256²·B, 0 = unlabelled). Panoptic labels every pixel at most once, so
// masks that overlap are flattened: the mask drawn on top wins (the canvas draws masks in the order they were
// made, the newest on top), and the report counts the pixels that changed hands. A thing mask is one segment;
// all masks of one stuff category on an image are that category's one segment (panoptic allows no more). Areas
// and boxes are counted on the written ids, so they are exactly what a reader of the PNG finds.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import sharp from 'sharp';
import type { PanopticExportReport } from '../../../shared/contract';
import { fromCompressedString } from '../../../shared/masks';
import { EXPORT_MARKER, type Category, type ImageRow, type ProjectStore } from '../../project';
import { syncFolder, writeFileAtomic } from '../atomic-file';
import { FileRefusedError, FileWriteError, exportTarget, isInside } from '../files';
import { cocoJson, leftOutReason, previousExport, type CocoDocument } from './export';

export interface PanopticExportOptions {
  signal?: AbortSignal;
  onProgress?(done: number, total: number): void;
}

interface PanopticHead {
  info: CocoDocument['info'];
  licenses: unknown[];
  images: CocoDocument['images'];
  categories: Array<Omit<CocoDocument['categories'][number], 'color'> & { color: [number, number, number] }>;
}

const rgb = (hex: string): [number, number, number] => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];

export interface PanopticSegment {
  id: number;
  category_id: number;
  area: number;
  bbox: [number, number, number, number];
  iscrowd: 0 | 1;
}

export interface PanopticAnnotation {
  image_id: number;
  file_name: string;
  segments_info: PanopticSegment[];
}

/** Where the PNGs of the panoptic JSON at `json` live: the folder of its name without the extension, beside it (panopticapi's default). */
export function panopticFolder(json: string): string {
  const name = basename(json);
  return join(dirname(json), name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : name);
}

/**
 * Writes the panoptic JSON at `path` and its PNG folder beside it, and returns the report. Both are built in
 * temporary places beside the targets and renamed in at the end, the folder first, so a failure or a cancel
 * leaves whatever was there and a reader never finds a JSON without its PNGs.
 */
export async function writePanoptic(store: ProjectStore, path: string, opts: PanopticExportOptions = {}): Promise<PanopticExportReport> {
  if (!/[^/\\]\.json$/i.test(path)) throw new FileRefusedError(`${path}: a panoptic export's path must end in .json (its PNGs go to the folder of that name without .json)`);
  const json = await exportTarget(store, path, previousExport);
  const folder = panopticFolder(json);
  await checkFolderTarget(store, folder);
  const tag = randomBytes(6).toString('hex');
  const work = `${folder}.${tag}.tmp`;
  const pending = `${json}.${tag}.tmp`;
  try {
    await mkdir(work);
    // In the project folder, the PNGs must not be indexed as the project's images.
    await writeFile(join(work, EXPORT_MARKER), 'A COCO panoptic export by DiffLabel: indexing a project skips this folder.\n');
    const report = await writePngs(store, work, opts);
    await writeFileAtomic(pending, cocoJson({ ...report.head, annotations: report.annotations }), { signal: opts.signal });
    await swapIn(folder, work, pending, json);
    return report.report;
  } catch (e) {
    await rm(work, { recursive: true, force: true });
    await rm(pending, { force: true });
    if (opts.signal?.aborted) throw new FileWriteError(`cannot write ${path}: cancelled (it is unchanged)`, { cause: e });
    if ((e as NodeJS.ErrnoException).code) throw new FileWriteError(`cannot write ${path}: ${(e as Error).message} (it is unchanged)`, { cause: e });
    throw e;
  }
}

/**
 * The PNG folder may replace only a previous export's: PNG files alone (in subfolders too), none of them an
 * image of the project, beside a JSON that exportTarget took for an export.
 */
async function checkFolderTarget(store: ProjectStore, folder: string): Promise<void> {
  let st;
  try {
    st = await stat(folder);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new FileRefusedError(`cannot use ${folder}: ${(e as Error).message}`);
  }
  if (!st.isDirectory()) throw new FileRefusedError(`${folder} exists and is not a folder of panoptic PNGs (choose another name, or move it away)`);
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    const file = join(e.parentPath, e.name);
    const rel = relative(store.folder, file).split(sep).join('/');
    const ours = e.isDirectory() || (e.isFile() && e.name === EXPORT_MARKER) || (e.isFile() && e.name.toLowerCase().endsWith('.png') && !(isInside(file, store.folder) && store.getImageByPath(rel)));
    if (!ours) throw new FileRefusedError(`${folder} holds files that are not a previous panoptic export's PNGs: only a previous export is replaced (choose another name, or move the folder away)`);
  }
}

/** Renames the new folder and JSON in; the previous folder is moved aside first and removed once both are in. */
async function swapIn(folder: string, work: string, pending: string, json: string): Promise<void> {
  const old = `${folder}.${randomBytes(6).toString('hex')}.old`;
  let moved = false;
  try {
    await rename(folder, old);
    moved = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  let placed = false;
  try {
    await rename(work, folder);
    placed = true;
    await rename(pending, json);
  } catch (e) {
    // Back as it was: the new folder out, the previous one in.
    if (placed) await rm(folder, { recursive: true, force: true });
    if (moved) await rename(old, folder);
    throw e;
  }
  await syncFolder(dirname(json));
  if (moved) await rm(old, { recursive: true, force: true });
}


/**
 * Paints and writes every image's PNG into `work`. Only one image's id map is held at a time; what is kept
 * for the JSON is the segments' few numbers.
 */
async function writePngs(store: ProjectStore, work: string, opts: PanopticExportOptions) {
  const report: PanopticExportReport = {
    images: 0, annotations: 0, segments: 0, categories: 0, changedHands: { pixels: 0, images: [] }, stuffMerged: [], skipped: [], leftOut: [],
  };
  const images: ImageRow[] = [];
  for (const img of store.listImages({})) {
    const reason = leftOutReason(img);
    if (!reason) images.push(img);
    else if (img.annotationCount > 0) report.leftOut.push({ path: img.path, masks: img.annotationCount, reason });
  }
  const categories = store.listCategories();
  const categoryById = new Map(categories.map((c) => [c.id, c]));
  report.images = images.length;
  report.categories = categories.length;
  const names = pngNames(images);
  const annotations: PanopticAnnotation[] = [];
  for (const [i, img] of images.entries()) {
    opts.signal?.throwIfAborted();
    const painted = paint(store, img, categoryById, report);
    const file = join(work, ...names[i]!.split('/'));
    await mkdir(dirname(file), { recursive: true });
    // Encoded by sharp, written by node: a full disk or an I/O error then arrives with its errno.
    await writeFile(file, await sharp(painted.rgb, { raw: { width: img.width, height: img.height, channels: 3 } }).png().toBuffer());
    annotations.push({ image_id: img.id, file_name: names[i]!, segments_info: painted.segments });
    report.segments += painted.segments.length;
    opts.onProgress?.(i + 1, images.length);
  }
  const now = new Date();
  const head: PanopticHead = {
    info: { description: `DiffLabel panoptic export of ${store.folder}`, version: '1.0', year: now.getUTCFullYear(), contributor: 'DiffLabel', url: '', date_created: now.toISOString() },
    licenses: [],
    images: images.map((i) => ({ id: i.id, file_name: i.path, width: i.width, height: i.height })),
    // Colours as [r, g, b], as COCO panoptic's own categories have them (panopticapi's tools read them so).
    categories: categories.map((c) => ({ id: c.id, name: c.name, supercategory: c.supercategory ?? '', isthing: c.isthing ? 1 : 0, color: rgb(c.color) })),
  };
  return { report, head, annotations };
}

/**
 * Each image's PNG name: its path with `.png` for its extension, in the same subfolders. Two images that would
 * share a name (a.jpg and a.png; names that differ only in case, one file on Windows and macOS) get their id
 * appended.
 */
function pngNames(images: ImageRow[]): string[] {
  const stem = (p: string) => p.replace(/\.[^./]*$/, '');
  const count = new Map<string, number>();
  for (const i of images) count.set(stem(i.path).toLowerCase(), (count.get(stem(i.path).toLowerCase()) ?? 0) + 1);
  return images.map((i) => (count.get(stem(i.path).toLowerCase())! > 1 ? `${stem(i.path)}-${i.id}.png` : `${stem(i.path)}.png`));
}

/**
 * One image's masks flattened into segment ids, in id order so a later mask paints over an earlier one, and
 * the segments as the painted ids show them. Masks left with no pixel are reported, not written.
 */
function paint(store: ProjectStore, img: ImageRow, categoryById: Map<number, Category>, report: PanopticExportReport) {
  const { width: w, height: h } = img;
  const ids = new Uint32Array(w * h);
  const contested = new Uint8Array(w * h);
  const segments: Array<PanopticSegment & { masks: number[] }> = [];
  const stuffSegment = new Map<number, number>();
  for (const a of store.listAnnotations({ imageId: img.id })) {
    if (a.categoryId === null) {
      report.skipped.push({ annotationId: a.id, reason: 'no category assigned (a panoptic segment needs one)' });
      continue;
    }
    if (a.shape !== 'mask') {
      report.skipped.push({ annotationId: a.id, reason: `a ${a.shape}, not a mask (panoptic segments are pixels)` });
      continue;
    }
    const category = categoryById.get(a.categoryId)!;
    // Segment ids from 1 in order of appearance: unique within the image, 0 stays unlabelled.
    let index = category.isthing ? undefined : stuffSegment.get(category.id);
    if (index === undefined) {
      index = segments.length;
      segments.push({ id: index + 1, category_id: category.id, area: 0, bbox: [0, 0, 0, 0], iscrowd: category.isthing && a.iscrowd ? 1 : 0, masks: [] });
      if (!category.isthing) stuffSegment.set(category.id, index);
    }
    segments[index]!.masks.push(a.id);
    const id = index + 1;
    // Runs are column-major (index = x·h + y); pixels row-major.
    const { counts } = fromCompressedString(a.rle, h, w);
    let pos = 0;
    for (let j = 0; j < counts.length; j++) {
      const end = pos + counts[j]!;
      if (j & 1) {
        for (let k = pos; k < end; k++) {
          const x = Math.floor(k / h);
          const p = (k - x * h) * w + x;
          if (ids[p] !== 0 && ids[p] !== id) contested[p] = 1;
          ids[p] = id;
        }
      }
      pos = end;
    }
  }
  // Areas and boxes from the painted ids, as a reader of the PNG counts them.
  const x0 = new Int32Array(segments.length).fill(w), y0 = new Int32Array(segments.length).fill(h);
  const x1 = new Int32Array(segments.length).fill(-1), y1 = new Int32Array(segments.length).fill(-1);
  const areas = new Float64Array(segments.length);
  const rgb = Buffer.alloc(w * h * 3);
  let changed = 0;
  for (let y = 0, p = 0; y < h; y++) {
    for (let x = 0; x < w; x++, p++) {
      changed += contested[p]!;
      const id = ids[p]!;
      if (id === 0) continue;
      const s = id - 1;
      areas[s]!++;
      if (x < x0[s]!) x0[s] = x;
      if (x > x1[s]!) x1[s] = x;
      if (y < y0[s]!) y0[s] = y;
      if (y > y1[s]!) y1[s] = y;
      rgb[3 * p] = id & 255;
      rgb[3 * p + 1] = (id >> 8) & 255;
      rgb[3 * p + 2] = (id >> 16) & 255;
    }
  }
  if (changed) {
    report.changedHands.pixels += changed;
    report.changedHands.images.push({ path: img.path, pixels: changed });
  }
  const out: PanopticSegment[] = [];
  for (const [s, seg] of segments.entries()) {
    if (areas[s] === 0) {
      for (const id of seg.masks) report.skipped.push({ annotationId: id, reason: 'no pixel left: empty, or entirely under masks drawn above it' });
      continue;
    }
    report.annotations += seg.masks.length;
    const category = categoryById.get(seg.category_id)!;
    if (!category.isthing && seg.masks.length > 1) report.stuffMerged.push({ path: img.path, category: category.name, masks: seg.masks.length });
    out.push({ id: seg.id, category_id: seg.category_id, area: areas[s]!, bbox: [x0[s]!, y0[s]!, x1[s]! - x0[s]! + 1, y1[s]! - y0[s]! + 1], iscrowd: seg.iscrowd });
  }
  return { rgb, segments: out };
}
