// Pascal VOC export: per image `Annotations/<stem>.xml` (each object's class and box, VOC's 1-based inclusive
// corners), `SegmentationClass/<stem>.png` (class index per pixel) and `SegmentationObject/<stem>.png` (object
// index per pixel, object k being the k-th <object> of the XML, as in VOC), both palette PNGs with VOC's colour
// map; `labelmap.txt` (CVAT's form) names the class indices, 0 being the background; `ImageSets/Segmentation/
// default.txt` lists the stems. A label image holds one object per pixel: where masks overlap the later one (by
// id) wins, and the report counts the masks that lost pixels. No 255 "void" border is drawn: VOC draws it
// because its outlines were hand-traced, our masks are exact. Boxes without a mask are <object>s after the masks'
// (so object k is still the k-th of the XML) with no pixels in the label images; points are left out (VOC has none).
import type { DatasetExportReport } from '../../../shared/contract';
import { area, bbox, decode, fromCompressedString } from '../../../shared/masks';
import type { Category, ImageRow, ProjectStore } from '../../project';
import type { Replaceable } from '../files';
import { FileRefusedError } from '../files';
import { DatasetWriter, emptyExportReport } from '../dataset/writer';
import { VOC_COLORMAP, encodeIndexedPng, isVocPng } from './png';

/** Index 255 is VOC's "void"; 0 the background. */
const MAX_INDEX = 254;

const text = (head: Uint8Array) => new TextDecoder().decode(head);
const previousXml: Replaceable = { accepts: (h) => /^\s*(<\?xml[^>]*>\s*)?<annotation[\s>]/.test(text(h)), what: 'a VOC annotation' };
/** A label PNG a previous export wrote: palette PNG with VOC's colour map (IHDR and PLTE are in the first bytes). */
const previousPng: Replaceable = { accepts: isVocPng, what: 'a VOC label image (a palette PNG with VOC colours)', images: true };
const previousList: Replaceable = { accepts: (h) => !/[\0-\x08\x0e-\x1f]/.test(text(h)), what: 'a list of image names' };
const previousLabelmap: Replaceable = { accepts: (h) => text(h).startsWith('# label:color_rgb'), what: 'a VOC labelmap.txt' };

export async function writeVoc(store: ProjectStore, out: string, signal?: AbortSignal): Promise<DatasetExportReport> {
  const categories = store.listCategories();
  if (categories.length > MAX_INDEX) throw new FileRefusedError(`VOC label images hold at most ${MAX_INDEX} classes; the project has ${categories.length}`);
  const writer = await DatasetWriter.open(store, out, signal);
  const report = emptyExportReport(categories.length);
  const classOf = new Map(categories.map((c, i) => [c.id, i + 1]));
  const stems: string[] = [];
  for (const { img, stem } of writer.images(report)) {
    const { xml, classPng, objectPng } = encodeImage(store, img, categories, classOf, report);
    await writer.write(`SegmentationClass/${stem}.png`, classPng, previousPng);
    await writer.write(`SegmentationObject/${stem}.png`, objectPng, previousPng);
    await writer.write(`Annotations/${stem}.xml`, xml, previousXml);
    stems.push(stem);
    report.images++;
  }
  await writer.write('ImageSets/Segmentation/default.txt', stems.map((s) => `${s}\n`).join(''), previousList);
  const labelmap = ['# label:color_rgb:parts:actions', 'background:0,0,0::', ...categories.map((c, i) => `${c.name}:${VOC_COLORMAP[i + 1]!.join(',')}::`)];
  await writer.write('labelmap.txt', labelmap.join('\n') + '\n', previousLabelmap);
  return report;
}

function encodeImage(store: ProjectStore, img: ImageRow, categories: Category[], classOf: Map<number, number>, report: DatasetExportReport) {
  const { width: w, height: h } = img;
  const cls = new Uint8Array(w * h), obj = new Uint8Array(w * h);
  const pixels = new Uint8Array(w * h); // each mask decoded into it in turn: no megabyte per object
  const objects: Array<{ id: number; name: string; box: [number, number, number, number]; area: number }> = [];
  const boxes: typeof objects = [];
  for (const a of store.listAnnotations({ imageId: img.id })) {
    if (a.categoryId === null) {
      report.skipped.push({ annotationId: a.id, reason: 'no category assigned (a VOC object needs a class)' });
      continue;
    }
    if (a.shape === 'point') {
      report.skipped.push({ annotationId: a.id, reason: 'a point (VOC has no points)' });
      continue;
    }
    if (a.shape === 'box') {
      // VOC's corners are whole pixels: the pixels whose centre the box holds, at least one.
      const [x, y, bw, bh] = a.bbox;
      const x0 = Math.round(x), y0 = Math.round(y);
      boxes.push({ id: a.id, name: categories[classOf.get(a.categoryId)! - 1]!.name, box: [x0, y0, Math.max(1, Math.round(x + bw) - x0), Math.max(1, Math.round(y + bh) - y0)], area: 0 });
      continue;
    }
    const rle = fromCompressedString(a.rle, a.height, a.width);
    const n = area(rle);
    if (n === 0) {
      report.skipped.push({ annotationId: a.id, reason: 'empty mask' });
      continue;
    }
    if (objects.length === MAX_INDEX) {
      report.skipped.push({ annotationId: a.id, reason: `a VOC object image holds at most ${MAX_INDEX} objects; this is one more` });
      continue;
    }
    const k = objects.length + 1, c = classOf.get(a.categoryId)!;
    const m = decode(rle, pixels);
    for (let p = 0; p < m.length; p++)
      if (m[p]) {
        cls[p] = c;
        obj[p] = k;
      }
    objects.push({ id: a.id, name: categories[c - 1]!.name, box: bbox(rle), area: n });
  }
  const kept = new Uint32Array(objects.length + 1);
  for (let p = 0; p < obj.length; p++) kept[obj[p]!]++;
  for (const [i, o] of objects.entries()) {
    if (kept[i + 1] === 0) report.skipped.push({ annotationId: o.id, reason: 'hidden entirely by later masks in the label images (its box is in the XML)' });
    else {
      report.annotations++;
      if (kept[i + 1]! < o.area) report.overlapped++;
    }
  }
  report.annotations += boxes.length;
  report.lines += objects.length + boxes.length;
  const name = img.path.slice(img.path.lastIndexOf('/') + 1);
  const xml = [
    '<annotation>',
    `  <folder>${esc(img.path.includes('/') ? img.path.slice(0, img.path.lastIndexOf('/')) : '')}</folder>`,
    `  <filename>${esc(name)}</filename>`,
    `  <path>${esc(img.path)}</path>`,
    '  <source><database>DiffLabel</database></source>',
    `  <size><width>${w}</width><height>${h}</height><depth>3</depth></size>`,
    '  <segmented>1</segmented>',
    ...[...objects, ...boxes].map(({ name: n, box: [x, y, bw, bh] }) =>
      `  <object><name>${esc(n)}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult><bndbox><xmin>${x + 1}</xmin><ymin>${y + 1}</ymin><xmax>${x + bw}</xmax><ymax>${y + bh}</ymax></bndbox></object>`),
    '</annotation>',
    '',
  ].join('\n');
  return { xml, classPng: encodeIndexedPng(cls, h, w), objectPng: encodeIndexedPng(obj, h, w) };
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
