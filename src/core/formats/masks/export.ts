// Plain mask PNGs: per exported image `masks/<stem>/<k>_<category>.png`, one binary PNG per mask (8-bit grey, 255
// inside, 0 outside; overlaps kept), and `instances/<stem>.png`, a 16-bit grey PNG whose pixel is the object
// number k (0 background; where masks overlap the later one by id wins, as in VOC's object images). `masks.json`
// names every object's category exactly (file names carry a filesystem-safe spelling) and lists the files, so an
// import reads what this export wrote and not a file a previous export left behind.
import sharp from 'sharp';
import type { DatasetExportReport } from '../../../shared/contract';
import { area, decode, fromCompressedString } from '../../../shared/masks';
import type { ProjectStore } from '../../project';
import type { Replaceable } from '../files';
import { DatasetWriter, emptyExportReport } from '../dataset/writer';

/** masks.json's first key and value: what tells a previous export from another file. */
export const MASKS_FORMAT = 'difflabel-masks';
/** Object numbers a 16-bit instance image holds (0 is the background). */
const MAX_OBJECTS = 65535;

/** A grey PNG (colour type 0) of `depth` bits: IHDR's bit depth and colour type are bytes 24 and 25. */
const greyPng = (depth: number): Replaceable => ({
  accepts: (h) => h.length > 25 && h[0] === 0x89 && new TextDecoder().decode(h.subarray(12, 16)) === 'IHDR' && h[24] === depth && h[25] === 0,
  what: `a ${depth}-bit grey mask PNG`,
  images: true,
});
const previousMask = greyPng(8);
const previousInstances = greyPng(16);
const previousJson: Replaceable = { accepts: (h) => new RegExp(`^\\s*\\{\\s*"format"\\s*:\\s*"${MASKS_FORMAT}"`).test(new TextDecoder().decode(h)), what: 'a masks.json of a mask export' };

/** A category name as a file name part: path separators, characters Windows refuses and control characters become "_". */
function fileSafe(name: string): string {
  return name.replace(/[\\/:*?"<>|\u0000-\u001f]/g, '_').replace(/^\.+/, '_').slice(0, 100);
}

interface MasksIndex {
  format: typeof MASKS_FORMAT;
  version: 1;
  images: Array<{ image: string; width: number; height: number; instances: string; objects: Array<{ id: number; category: string; mask: string; annotationId: number }> }>;
}

export async function writeMasks(store: ProjectStore, out: string, signal?: AbortSignal): Promise<DatasetExportReport> {
  const writer = await DatasetWriter.open(store, out, signal);
  const categories = new Map(store.listCategories().map((c) => [c.id, c.name]));
  const report = emptyExportReport(categories.size);
  const index: MasksIndex = { format: MASKS_FORMAT, version: 1, images: [] };
  for (const { img, stem } of writer.images(report)) {
    const { width: w, height: h } = img;
    const ids = new Uint16Array(w * h);
    const pixels = new Uint8Array(w * h); // each mask decoded into it in turn
    const objects: MasksIndex['images'][number]['objects'] = [];
    const areas: number[] = [];
    for (const a of store.listAnnotations({ imageId: img.id })) {
      if (a.categoryId === null) {
        report.skipped.push({ annotationId: a.id, reason: 'no category assigned (a mask file is named with its category)' });
        continue;
      }
      const rle = fromCompressedString(a.rle, a.height, a.width);
      const n = area(rle);
      if (n === 0) {
        report.skipped.push({ annotationId: a.id, reason: 'empty mask' });
        continue;
      }
      if (objects.length === MAX_OBJECTS) {
        report.skipped.push({ annotationId: a.id, reason: `a 16-bit instance image holds at most ${MAX_OBJECTS} objects; this is one more` });
        continue;
      }
      const k = objects.length + 1;
      const m = decode(rle, pixels);
      const binary = new Uint8Array(w * h);
      for (let p = 0; p < m.length; p++)
        if (m[p]) {
          binary[p] = 255;
          ids[p] = k;
        }
      const category = categories.get(a.categoryId)!;
      const file = `masks/${stem}/${k}_${fileSafe(category)}.png`;
      await writer.write(file, await sharp(binary, { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').png().toBuffer(), previousMask);
      objects.push({ id: k, category, mask: file, annotationId: a.id });
      areas.push(n);
    }
    if (objects.length === 0) continue;
    const kept = new Uint32Array(objects.length + 1);
    for (let p = 0; p < ids.length; p++) kept[ids[p]!]++;
    for (const [i, n] of areas.entries()) if (kept[i + 1]! < n) report.overlapped++;
    const instances = `instances/${stem}.png`;
    await writer.write(instances, await sharp(ids, { raw: { width: w, height: h, channels: 1 } }).toColourspace('grey16').png().toBuffer(), previousInstances);
    index.images.push({ image: img.path, width: w, height: h, instances, objects });
    report.images++;
    report.annotations += objects.length;
    report.lines += objects.length;
  }
  await writer.write('masks.json', JSON.stringify(index, null, 1) + '\n', previousJson);
  return report;
}
