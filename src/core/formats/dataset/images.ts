// Copies of the project's images inside an exported dataset, so it stands alone (a trainer on another machine, an
// archive): at their project paths under the folder the format's readers look in first, YOLO's and the mask PNGs'
// images/, VOC's JPEGImages/. A copy replaces only a file that starts with the same bytes (a previous copy).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DatasetExportFormat } from '../../../shared/contract';
import type { ProjectStore } from '../../project';
import { FileRefusedError, FileWriteError } from '../files';
import { DatasetWriter, emptyExportReport } from './writer';

/** Where each format keeps its image copies; labelme names its images by a path relative to the JSON instead. */
export const IMAGE_FOLDER: Partial<Record<DatasetExportFormat, string>> = { 'yolo-seg': 'images', 'yolo-det': 'images', voc: 'JPEGImages', masks: 'images' };

/** Copies every image the export writes (the same set: readable now, one per file stem); answers how many. */
export async function copyImages(store: ProjectStore, format: DatasetExportFormat, out: string, signal?: AbortSignal): Promise<number> {
  const folder = IMAGE_FOLDER[format];
  if (!folder) throw new FileRefusedError(`${format} files name their images by a path relative to each file: export into the project folder instead of copying the images`);
  const writer = await DatasetWriter.open(store, out, signal);
  let copied = 0;
  for (const { img } of writer.images(emptyExportReport(0))) {
    const bytes = await readFile(join(store.folder, ...img.path.split('/'))).catch((e: Error) => {
      throw new FileWriteError(`cannot copy ${img.path}: ${e.message}`, { cause: e });
    });
    const sameStart = (head: Uint8Array) => head.length <= bytes.length && Buffer.from(head).equals(bytes.subarray(0, head.length));
    await writer.write(`${folder}/${img.path}`, bytes, { accepts: sameStart, what: `a copy of ${img.path}`, images: true });
    copied++;
  }
  return copied;
}
