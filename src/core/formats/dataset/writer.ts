// Writing a dataset folder (YOLO, VOC): the folder is checked and created, every exported image gets its files
// under a path made from its own (subfolders kept, extension dropped), and each file is replaced atomically and
// only over what a previous export wrote.
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DatasetExportReport } from '../../../shared/contract';
import { EXPORT_MARKER, PROJECT_DIR, type ImageRow, type ProjectStore } from '../../project';
import { writeFileAtomic } from '../atomic-file';
import { leftOutReason } from '../coco/export';
import { FileRefusedError, FileWriteError, exportTarget, isInside, realPath, type Replaceable } from '../files';

export function emptyExportReport(categories: number): DatasetExportReport {
  return { images: 0, annotations: 0, lines: 0, categories, holesFilled: 0, overlapped: 0, skipped: [], leftOut: [] };
}

export class DatasetWriter {
  private constructor(
    private readonly store: ProjectStore,
    readonly root: string,
    private readonly out: string,
    private readonly signal?: AbortSignal,
  ) {}

  /** The dataset folder `out` (created when its parent exists); never in the project's .difflabel folder. */
  static async open(store: ProjectStore, out: string, signal?: AbortSignal): Promise<DatasetWriter> {
    const root = await realPath(out);
    if (isInside(root, await realPath(join(store.folder, PROJECT_DIR))))
      throw new FileRefusedError(`${out} is inside the project's ${PROJECT_DIR} folder, which holds its database`);
    const st = await stat(root).catch(() => null);
    if (st && !st.isDirectory()) throw new FileRefusedError(`${out} is not a folder (a dataset is a folder)`);
    if (!st) await wrapErrors(out, signal, () => mkdir(root));
    // Exported into the project folder, its PNGs and copied images must not be indexed as the project's images.
    await wrapErrors(out, signal, () => writeFile(join(root, EXPORT_MARKER), 'A dataset exported by DiffLabel: indexing a project skips this folder.\n'));
    return new DatasetWriter(store, root, out, signal);
  }

  /**
   * The images to export, each with its file stem (path without extension). Images whose file cannot be read
   * now, and a second image whose files would be the first's (a.png, a.jpg), are left out into the report.
   */
  *images(report: DatasetExportReport): Generator<{ img: ImageRow; stem: string }> {
    const taken = new Map<string, string>();
    for (const img of this.store.listImages({})) {
      const reason = leftOutReason(img);
      if (reason) {
        if (img.annotationCount > 0) report.leftOut.push({ path: img.path, masks: img.annotationCount, reason });
        continue;
      }
      const stem = img.path.replace(/\.[^./]*$/, '');
      const other = taken.get(stem);
      if (other !== undefined) {
        report.leftOut.push({ path: img.path, masks: img.annotationCount, reason: `its files would be ${other}'s (same name without extension): rename one of the two images` });
        continue;
      }
      taken.set(stem, img.path);
      yield { img, stem };
    }
  }

  /** Replaces `rel` (a path under the dataset folder, '/' separators) atomically, only over a previous export. */
  async write(rel: string, content: string | Uint8Array, replaceable: Replaceable): Promise<void> {
    const file = join(this.root, ...rel.split('/'));
    await wrapErrors(this.out, this.signal, async () => {
      await mkdir(dirname(file), { recursive: true });
      const target = await exportTarget(this.store, file, replaceable);
      await writeFileAtomic(target, [content], { signal: this.signal });
    });
  }
}

async function wrapErrors<T>(out: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof FileRefusedError) throw e;
    if (signal?.aborted) throw new FileWriteError(`cannot write ${out}: cancelled (files written so far are new, the rest as before)`, { cause: e });
    if ((e as NodeJS.ErrnoException).code) throw new FileWriteError(`cannot write ${out}: ${(e as Error).message}`, { cause: e });
    throw e;
  }
}
