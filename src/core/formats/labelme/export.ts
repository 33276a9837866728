// labelme export: one `<stem>.json` per image with a mask (labelme's own layout when written into the project
// folder: the JSON beside its image). Each mask is a polygon shape per 8-connected piece, the pieces of one mask
// sharing a group_id; a labelme polygon has one ring, so holes are filled and counted in the report. A box is a
// rectangle (its two corners), a point a point.
import { dirname, join, relative, sep } from 'node:path';
import type { DatasetExportReport } from '../../../shared/contract';
import { area, fromCompressedString, maskToPolygons } from '../../../shared/masks';
import type { ProjectStore } from '../../project';
import type { Replaceable } from '../files';
import { DatasetWriter, emptyExportReport } from '../dataset/writer';

/** A previous export: a JSON object starting with labelme's "version" key. */
const previousJson: Replaceable = { accepts: (h) => /^\s*\{\s*"version"\s*:/.test(new TextDecoder().decode(h)), what: 'a labelme file' };

export async function writeLabelme(store: ProjectStore, out: string, signal?: AbortSignal): Promise<DatasetExportReport> {
  const writer = await DatasetWriter.open(store, out, signal);
  const categories = new Map(store.listCategories().map((c) => [c.id, c.name]));
  const report = emptyExportReport(categories.size);
  for (const { img, stem } of writer.images(report)) {
    const shapes: unknown[] = [];
    for (const a of store.listAnnotations({ imageId: img.id })) {
      if (a.categoryId === null) {
        report.skipped.push({ annotationId: a.id, reason: 'no category assigned (a labelme shape needs a label)' });
        continue;
      }
      if (a.shape !== 'mask') {
        const [x, y, w, h] = a.bbox;
        const points = a.shape === 'box' ? [[x, y], [x + w, y + h]] : [[x, y]];
        shapes.push({ label: categories.get(a.categoryId), points, group_id: null, description: '', shape_type: a.shape === 'box' ? 'rectangle' : 'point', flags: {} });
        report.annotations++;
        report.lines++;
        continue;
      }
      const rle = fromCompressedString(a.rle, a.height, a.width);
      if (area(rle) === 0) {
        report.skipped.push({ annotationId: a.id, reason: 'empty mask' });
        continue;
      }
      const pieces = maskToPolygons(rle);
      if (pieces.some((p) => p.holes.length)) report.holesFilled++;
      for (const p of pieces) {
        const points: number[][] = [];
        for (let i = 0; i < p.outer.length; i += 2) points.push([p.outer[i]!, p.outer[i + 1]!]);
        shapes.push({ label: categories.get(a.categoryId), points, group_id: pieces.length > 1 ? a.id : null, description: '', shape_type: 'polygon', flags: {} });
      }
      report.annotations++;
      report.lines += pieces.length;
    }
    if (shapes.length === 0) continue;
    const file = join(writer.root, ...`${stem}.json`.split('/'));
    const imagePath = relative(dirname(file), join(store.folder, ...img.path.split('/'))).split(sep).join('/');
    const doc = { version: '5.5.0', flags: {}, shapes, imagePath, imageData: null, imageHeight: img.height, imageWidth: img.width };
    await writer.write(`${stem}.json`, JSON.stringify(doc, null, 2) + '\n', previousJson);
    report.images++;
  }
  return report;
}
