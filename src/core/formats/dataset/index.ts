// The dataset folder formats, one entry point each way for the CLI and the API.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatasetExportFormat, DatasetImportFormat, type DatasetExportReport, type DatasetImportReport } from '../../../shared/contract';
import type { ProjectStore } from '../../project';
import { importVoc } from '../voc/import';
import { writeVoc } from '../voc/export';
import { writeYolo } from '../yolo/export';
import { importYolo } from '../yolo/import';

export const DATASET_EXPORT_FORMATS = DatasetExportFormat.options;
export const DATASET_IMPORT_FORMATS = DatasetImportFormat.options;
export type { DatasetExportFormat, DatasetImportFormat };

export function exportDataset(store: ProjectStore, format: DatasetExportFormat, out: string, signal?: AbortSignal): Promise<DatasetExportReport> {
  return format === 'voc' ? writeVoc(store, out, signal) : writeYolo(store, out, format === 'yolo-seg' ? 'seg' : 'det', signal);
}

export function importDataset(store: ProjectStore, path: string, format: DatasetImportFormat = detectDataset(path) ?? 'yolo'): Promise<DatasetImportReport> {
  return format === 'voc' ? importVoc(store, path) : importYolo(store, path);
}

/** VOC for a folder with SegmentationObject/, YOLO for any other folder or a .yaml file; null for anything else (COCO). */
export function detectDataset(path: string): DatasetImportFormat | null {
  const abs = resolve(path);
  if (/\.ya?ml$/i.test(abs)) return 'yolo';
  if (!statSync(abs, { throwIfNoEntry: false })?.isDirectory()) return null;
  return existsSync(join(abs, 'SegmentationObject')) ? 'voc' : 'yolo';
}
