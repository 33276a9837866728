// Which project image a file of a dataset (a YOLO label file, a VOC mask PNG) belongs to.
import { basename, relative, sep } from 'node:path';
import type { ImageRow, ProjectStore } from '../../project';
import { isInside } from '../files';

/**
 * The project image a dataset file belongs to (`labelStem`: its path under its format's folder, no extension), or
 * why none: the image at the same path under `imagesFolder` (the dataset's images, e.g. YOLO's images/), at the
 * same path in the project (what our exports write), or the only image with that file name stem.
 */
export function imageMatcher(store: ProjectStore, imagesFolder: string): (labelStem: string) => ImageRow | string {
  const images = store.listImages({ missing: false });
  const byStem = new Map<string, ImageRow | null>();
  const byName = new Map<string, ImageRow | null>();
  const put = (m: Map<string, ImageRow | null>, k: string, i: ImageRow) => m.set(k, m.has(k) ? null : i);
  for (const i of images) {
    const stem = i.path.replace(/\.[^./]*$/, '');
    put(byStem, stem, i);
    put(byName, basename(stem), i);
  }
  const imagesDir = isInside(imagesFolder, store.folder) ? relative(store.folder, imagesFolder).split(sep).join('/') : null;
  return (labelStem) => {
    const base = basename(labelStem);
    const candidates = [imagesDir === null ? undefined : byStem.get(`${imagesDir ? `${imagesDir}/` : ''}${labelStem}`), byStem.get(labelStem), byName.get(base)];
    // The first rule that names an image decides; one that finds several images (a.png and a.jpg) stops the search.
    const found = candidates.find((c) => c !== undefined);
    if (found === null) return `several images are named "${base}.*": put the file at the image's path in the dataset`;
    if (found === undefined) return `no image "${labelStem}.*" in the project (index the folder first if the image is new)`;
    if (found.status === 'error') return `image "${found.path}" could not be read: ${found.error ?? 'unknown reason'}`;
    return found;
  };
}

