// YOLO export as Ultralytics reads it: `data.yaml` (class names in index order) and one `labels/<image path
// without extension>.txt` per image. Segmentation lines are `class x1 y1 x2 y2 …`, one per 8-connected piece of a
// mask (YOLO has no multi-part objects); a piece's holes cannot be written (a YOLO polygon has one ring), so the
// piece goes out filled and the report counts it. Detection lines are `class cx cy w h`. Coordinates are
// normalised by the image size. Every image that is exported gets a label file, empty when it has no mask: that
// is YOLO's background image, and it replaces a label file a previous export left.
import type { DatasetExportReport } from '../../../shared/contract';
import { area, bbox, fromCompressedString, maskToPolygons } from '../../../shared/masks';
import type { ImageRow, ProjectStore } from '../../project';
import type { Replaceable } from '../files';
import { DatasetWriter, emptyExportReport } from '../dataset/writer';
import { writeDataYaml } from './data-yaml';

export type YoloKind = 'seg' | 'det';

/** A previous data.yaml: text with a `names:` key in its first 4 KiB. */
const previousYaml: Replaceable = {
  accepts: (head) => /^names\s*:/m.test(new TextDecoder().decode(head)),
  what: 'a YOLO data.yaml',
};
/** A previous label file: lines of numbers only. */
const previousLabels: Replaceable = {
  accepts: (head) => /^[\d\s.eE+-]*$/.test(new TextDecoder().decode(head)),
  what: 'a YOLO label file',
};

/**
 * Writes the dataset into folder `out` (created when its parent exists) and returns the report. data.yaml is
 * written last, so a dataset whose export failed half-way has the previous data.yaml (or none) beside a mix of
 * old and new label files, and exporting again completes it.
 */
/** `images`: the dataset's copies of the images (a folder in it), which data.yaml then names instead of the project folder. */
export async function writeYolo(store: ProjectStore, out: string, kind: YoloKind, signal?: AbortSignal, images?: string): Promise<DatasetExportReport> {
  const writer = await DatasetWriter.open(store, out, signal);
  const categories = store.listCategories();
  const report = emptyExportReport(categories.length);
  const classOf = new Map(categories.map((c, i) => [c.id, i]));
  for (const { img, stem } of writer.images(report)) {
    await writer.write(`labels/${stem}.txt`, labelLines(store, img, kind, classOf, report), previousLabels);
    report.images++;
  }
  await writer.write('data.yaml', writeDataYaml(writer.root, images ?? store.folder, categories.map((c) => c.name)), previousYaml);
  return report;
}

function labelLines(store: ProjectStore, img: ImageRow, kind: YoloKind, classOf: Map<number, number>, report: DatasetExportReport): string {
  const lines: string[] = [];
  const fx = fraction(img.width), fy = fraction(img.height);
  for (const a of store.listAnnotations({ imageId: img.id })) {
    if (a.categoryId === null) {
      report.skipped.push({ annotationId: a.id, reason: 'no category assigned (a YOLO line needs a class)' });
      continue;
    }
    if (a.shape === 'point' || (a.shape === 'box' && kind === 'seg')) {
      report.skipped.push({ annotationId: a.id, reason: a.shape === 'point' ? 'a point (YOLO has no points)' : 'a box without a mask (YOLO detection takes boxes)' });
      continue;
    }
    const rle = a.shape === 'mask' ? fromCompressedString(a.rle, a.height, a.width) : null;
    if (rle && area(rle) === 0) {
      report.skipped.push({ annotationId: a.id, reason: 'empty mask' });
      continue;
    }
    const cls = classOf.get(a.categoryId)!;
    report.annotations++;
    if (kind === 'det' || !rle) {
      const [x, y, w, h] = rle ? bbox(rle) : a.bbox;
      lines.push(`${cls} ${fx(x + w / 2)} ${fy(y + h / 2)} ${fx(w)} ${fy(h)}`);
      continue;
    }
    let filled = false;
    for (const piece of maskToPolygons(rle)) {
      if (piece.holes.length) filled = true;
      const xy = piece.outer.map((v, i) => (i % 2 ? fy(v) : fx(v)));
      lines.push(`${cls} ${xy.join(' ')}`);
    }
    if (filled) report.holesFilled++;
  }
  report.lines += lines.length;
  return lines.length ? lines.join('\n') + '\n' : '';
}

/**
 * v / size with enough decimals that the pixel coordinate comes back exactly: a reader multiplies by the size
 * and pycocotools-style rasterising rounds at 1/5 pixel, so the error must stay under 0.1 px (it stays under
 * 0.005 px). Trailing zeros go.
 */
function fraction(size: number): (v: number) => string {
  const digits = Math.max(6, Math.ceil(Math.log10(size)) + 2);
  return (v) => {
    const s = (v / size).toFixed(digits);
    return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
  };
}
