// The dataset folder formats, one entry point each way for the CLI and the API.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatasetExportFormat, DatasetImportFormat, type DatasetExportReport, type DatasetImportReport } from '../../../shared/contract';
import type { ProjectStore } from '../../project';
import { writeLabelme } from '../labelme/export';
import { IMAGE_FOLDER, copyImages } from './images';
import { importLabelme } from '../labelme/import';
import { writeMasks } from '../masks/export';
import { importMasks } from '../masks/import';
import { importVoc } from '../voc/import';
import { writeVoc } from '../voc/export';
import { writeYolo } from '../yolo/export';
import { importYolo } from '../yolo/import';

export const DATASET_EXPORT_FORMATS = DatasetExportFormat.options;
export const DATASET_IMPORT_FORMATS = DatasetImportFormat.options;
export type { DatasetExportFormat, DatasetImportFormat };

/**
 * `copyImages`: the images are copied into the dataset first (`IMAGE_FOLDER`), so YOLO's data.yaml can name its
 * copies and a failed copy leaves no data.yaml pointing at missing images.
 */
export async function exportDataset(store: ProjectStore, format: DatasetExportFormat, out: string, signal?: AbortSignal, opts: { copyImages?: boolean } = {}): Promise<DatasetExportReport> {
  if (opts.copyImages) await copyImages(store, format, out, signal);
  if (format === 'voc') return writeVoc(store, out, signal);
  if (format === 'labelme') return writeLabelme(store, out, signal);
  if (format === 'masks') return writeMasks(store, out, signal);
  return writeYolo(store, out, format === 'yolo-seg' ? 'seg' : 'det', signal, opts.copyImages ? IMAGE_FOLDER[format] : undefined);
}

export function importDataset(store: ProjectStore, path: string, format: DatasetImportFormat = detectDataset(path) ?? 'yolo'): Promise<DatasetImportReport> {
  if (format === 'voc') return importVoc(store, path);
  if (format === 'labelme') return importLabelme(store, path);
  if (format === 'masks') return importMasks(store, path);
  return importYolo(store, path);
}

/**
 * VOC for a folder with SegmentationObject/, mask PNGs for one with masks.json, masks/ or instances/, YOLO for a .yaml file or a folder with labels/ or a .yaml file, labelme
 * for any other folder; null for a file that is not YAML (COCO).
 */
export function detectDataset(path: string): DatasetImportFormat | null {
  const abs = resolve(path);
  if (/\.ya?ml$/i.test(abs)) return 'yolo';
  if (!statSync(abs, { throwIfNoEntry: false })?.isDirectory()) return null;
  if (existsSync(join(abs, 'SegmentationObject'))) return 'voc';
  if (existsSync(join(abs, 'masks.json')) || existsSync(join(abs, 'masks')) || existsSync(join(abs, 'instances'))) return 'masks';
  if (existsSync(join(abs, 'labels')) || readdirSync(abs).some((e) => /\.ya?ml$/i.test(e))) return 'yolo';
  return 'labelme';
}
