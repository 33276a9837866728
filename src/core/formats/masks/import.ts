// Plain mask PNGs import. `masks/<stem>/<k>_<category>.png`: each PNG is one mask of the image at `<stem>`
// (any non-zero pixel is inside, so grey, RGB or palette masks of other tools read alike), its category the name
// masks.json gives the file or else the file name after `<k>_`. Without `masks/`, the instance images
// `instances/<stem>.png` (8- or 16-bit grey, pixel = object number) are read, their categories from masks.json.
// With masks.json only the files it lists are read (a file a previous export left is skipped with the reason). As
// for the other formats: a folder without either is refused whole, a file that cannot be used is skipped with its
// reason, everything is decoded before one transaction, and a dataset whose every mask was skipped changes nothing.
import sharp from 'sharp';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { DatasetImportReport } from '../../../shared/contract';
import { area, bbox, encode, toCompressedString } from '../../../shared/masks';
import type { AnnotationInput, ProjectStore } from '../../project';
import { walkFolder } from '../../project/walk';
import { imageMatcher } from '../dataset/match';
import { DatasetFileError } from '../dataset/errors';
import { JsonTextError, parseJsonBytes } from '../json-text';
import { MASKS_FORMAT } from './export';
import { commitImport } from '../dataset/commit';

const MasksJson = z.object({
  format: z.literal(MASKS_FORMAT),
  images: z.array(
    z.object({
      instances: z.string().optional(),
      objects: z.array(z.object({ id: z.number().int().min(1), category: z.string().trim().min(1).max(200), mask: z.string().optional() })),
    }),
  ),
});
const MAX_JSON_BYTES = 256 << 20;

export async function importMasks(store: ProjectStore, path: string): Promise<DatasetImportReport> {
  const root = resolve(path);
  const isDir = async (p: string) => Boolean((await stat(p).catch(() => null))?.isDirectory());
  const binary = await isDir(join(root, 'masks'));
  if (!binary && !(await isDir(join(root, 'instances'))))
    throw new DatasetFileError(`no masks/ or instances/ folder in ${root} (mask PNGs are read from masks/<image>/<n>_<category>.png)`);
  const listed = await readIndex(join(root, 'masks.json'));
  if (!binary && !listed) throw new DatasetFileError(`instances/ without masks.json in ${root}: the object numbers have no categories`);
  const folder = binary ? 'masks' : 'instances';
  const walked = await walkFolder(join(root, folder));
  const report: DatasetImportReport = { images: 0, annotations: 0, categoriesCreated: 0, labelFiles: 0, skipped: [] };
  const match = imageMatcher(store, join(root, 'images'));
  const existing = new Set(store.listAnnotations({}).map((a) => `${a.imageId}|${a.categoryId}|${a.rle}`));
  const categoryId = new Map<string, number | null>();
  const rows: Array<{ name: string; input: Omit<AnnotationInput, 'categoryId'> }> = [];
  const touched = new Set<number>();
  let maskCount = 0;
  for (const f of walked.files.filter((f) => /\.png$/i.test(f.path))) {
    const file = `${folder}/${f.path}`;
    const skip = (line: number | null, reason: string) => report.skipped.push({ file, line, reason });
    // A binary mask's image is its folder; an instance image's is its own path.
    const stem = binary ? f.path.slice(0, Math.max(0, f.path.lastIndexOf('/'))) : f.path.slice(0, -4);
    let named: Map<number, string> | string | undefined;
    if (listed) {
      named = binary ? listed.masks.get(file) : listed.instances.get(file);
      if (named === undefined) {
        skip(null, 'not listed in masks.json (left by an earlier export?): not read');
        continue;
      }
    } else {
      const m = /^\d+_(.+)\.png$/i.exec(f.path.slice(f.path.lastIndexOf('/') + 1));
      if (!m) {
        skip(null, 'not named <number>_<category>.png');
        continue;
      }
      named = m[1]!;
    }
    if (!stem) {
      skip(null, `not in a folder named after its image (masks/<image>/<n>_<category>.png)`);
      continue;
    }
    const img = match(stem);
    if (typeof img === 'string') {
      skip(null, img);
      continue;
    }
    let pixels: Uint16Array | Uint8Array;
    try {
      const r = await readPng(await readFile(f.abs), binary);
      if (r.w !== img.width || r.h !== img.height) throw new Error(`size ${r.w}×${r.h} but the image is ${img.width}×${img.height}`);
      pixels = r.pixels;
    } catch (e) {
      skip(null, (e as Error).message);
      continue;
    }
    report.labelFiles++;
    const masks = binary ? new Map([[1, pixels as Uint8Array]]) : splitIds(pixels);
    for (const [k, mask] of masks) {
      maskCount++;
      const name = typeof named === 'string' ? named : named.get(k);
      if (name === undefined) {
        skip(k, `object ${k} has no entry in masks.json`);
        continue;
      }
      const rle = encode(mask, img.height, img.width);
      if (area(rle) === 0) {
        skip(binary ? null : k, 'empty mask');
        continue;
      }
      const counts = toCompressedString(rle);
      if (!categoryId.has(name)) categoryId.set(name, store.getCategoryByName(name)?.id ?? null);
      const key = `${img.id}|${categoryId.get(name) ?? `new ${name}`}|${counts}`;
      if (existing.has(key)) {
        skip(binary ? null : k, 'already in the project');
        continue;
      }
      existing.add(key);
      touched.add(img.id);
      rows.push({ name, input: { imageId: img.id, rle: counts, height: img.height, width: img.width, area: area(rle), bbox: bbox(rle), source: 'import' } });
    }
  }
  return commitImport(store, report, { categoryId, rows, touched, entries: maskCount });
}

/** masks.json's files: each binary mask's category, each instance image's categories by object number; null without one. */
async function readIndex(file: string): Promise<{ masks: Map<string, string>; instances: Map<string, Map<number, string>> } | null> {
  let bytes: Buffer;
  try {
    if ((await stat(file)).size > MAX_JSON_BYTES) throw new DatasetFileError(`masks.json is larger than ${MAX_JSON_BYTES >> 20} MiB`);
    bytes = await readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    if (e instanceof DatasetFileError) throw e;
    throw new DatasetFileError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let doc;
  try {
    doc = MasksJson.safeParse(parseJsonBytes(bytes, 'masks.json'));
  } catch (e) {
    throw new DatasetFileError(e instanceof JsonTextError ? e.message : `masks.json cannot be read: ${(e as Error).message}`);
  }
  if (!doc.success) throw new DatasetFileError(`masks.json is not a mask export's index (needs "format": "${MASKS_FORMAT}" and images with objects)`);
  const masks = new Map<string, string>();
  const instances = new Map<string, Map<number, string>>();
  for (const i of doc.data.images) {
    for (const o of i.objects) if (o.mask) masks.set(o.mask, o.category);
    if (i.instances) instances.set(i.instances, new Map(i.objects.map((o) => [o.id, o.category])));
  }
  return { masks, instances };
}

/**
 * A mask PNG's pixels, row-major: for a binary mask 1 where any colour channel is non-zero (alpha aside), for an
 * instance image the object numbers (8- or 16-bit grey). Throws with the reason when it cannot be read.
 */
async function readPng(bytes: Uint8Array, binary: boolean): Promise<{ pixels: Uint8Array | Uint16Array; h: number; w: number }> {
  const meta = await sharp(bytes).metadata().catch(() => null);
  if (!meta || meta.format !== 'png') throw new Error('not a readable PNG');
  if (binary) {
    const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const pixels = new Uint8Array(info.width * info.height);
    for (let p = 0, q = 0; p < pixels.length; p++, q += info.channels) for (let c = 0; c < info.channels; c++) if (data[q + c]) pixels[p] = 1;
    return { pixels, h: info.height, w: info.width };
  }
  if ((meta.channels ?? 3) > 2 || meta.isPalette) throw new Error('an instance image must be a grey PNG (its values are object numbers)');
  const wide = meta.depth === 'ushort';
  const image = wide ? sharp(bytes).toColourspace('grey16').raw({ depth: 'ushort' }) : sharp(bytes).extractChannel(0).raw();
  const { data, info } = await image.toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  const pixels = wide ? new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + 2 * n)) : new Uint8Array(data.subarray(0, n));
  return { pixels, h: info.height, w: info.width };
}

/** Each object number present with its pixels (1 inside), in number order. */
function splitIds(ids: Uint8Array | Uint16Array): Map<number, Uint8Array> {
  const found = new Map<number, Uint8Array>();
  for (let p = 0; p < ids.length; p++) {
    const k = ids[p]!;
    if (k === 0) continue;
    let m = found.get(k);
    if (!m) found.set(k, (m = new Uint8Array(ids.length)));
    m[p] = 1;
  }
  return new Map([...found].sort((a, b) => a[0] - b[0]));
}
