// Thumbnail cache at .difflabel/thumbs/<image id>.webp, and reading an image's pixels.
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from './errors';
import { decodeWithAccurateErrors } from './decode-gate';
import { decodeRgb, makeThumbnail, openImage } from './image-source';
import { PROJECT_DIR } from './open-database';
import { SNIFF_BYTES, sniffImageFormat, type ImageFormat } from './sniff';
import { missingImageMessage, type ProjectStore } from './store';
import type { ImageRow } from './types';

/** Decoding limit used when reading already-indexed images (the indexer refused larger ones). */
const READ_MAX_PIXELS = 1e9;

export function thumbnailDir(store: ProjectStore): string {
  return join(store.folder, PROJECT_DIR, 'thumbs');
}

export function thumbnailPath(store: ProjectStore, imageId: number): string {
  return join(thumbnailDir(store), `${imageId}.webp`);
}

/** Writes via a temporary file and rename, so a reader never sees half a thumbnail. */
export function writeThumbnail(store: ProjectStore, imageId: number, data: Buffer): void {
  const dir = thumbnailDir(store);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${imageId}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  writeFileSync(tmp, data);
  renameSync(tmp, thumbnailPath(store, imageId));
}

export function removeThumbnail(store: ProjectStore, imageId: number): void {
  rmSync(thumbnailPath(store, imageId), { force: true });
}

/** The cached thumbnail; a missing one is made again from the image file. */
export async function readThumbnail(store: ProjectStore, imageId: number): Promise<Buffer> {
  try {
    return await readFile(thumbnailPath(store, imageId));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const { buf, format } = await readIndexedFile(store, imageId);
  const thumb = await decodeWithAccurateErrors(async () => makeThumbnail(openImage(buf, format, READ_MAX_PIXELS)));
  writeThumbnail(store, imageId, thumb);
  return thumb;
}

/**
 * The image's pixels: 8-bit sRGB, 3 channels, row-major, first frame, EXIF orientation applied, so width and
 * height equal the stored ones. Transparent pixels are flattened onto white.
 */
export async function readImageRgb(store: ProjectStore, imageId: number): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { buf, format, image } = await readIndexedFile(store, imageId);
  const rgb = await decodeWithAccurateErrors(async () => decodeRgb(openImage(buf, format, READ_MAX_PIXELS)));
  if (rgb.width !== image.width || rgb.height !== image.height) {
    throw new StoreError('invalid', `${image.path} changed since it was indexed (now ${rgb.width}×${rgb.height}); index the folder again`);
  }
  return rgb;
}

export function imageFilePath(store: ProjectStore, relPath: string): string {
  return join(store.folder, ...relPath.split('/'));
}

async function readIndexedFile(store: ProjectStore, imageId: number): Promise<{ buf: Buffer; format: ImageFormat; image: ImageRow }> {
  const image = store.getImage(imageId);
  if (!image) throw new StoreError('not-found', `image ${imageId} does not exist`);
  if (image.status === 'error') throw new StoreError('invalid', `image ${imageId} (${image.path}) could not be read: ${image.error}`);
  if (image.missingSince !== null) throw new StoreError('conflict', missingImageMessage(image));
  const buf = await readFile(imageFilePath(store, image.path));
  const format = sniffImageFormat(buf.subarray(0, SNIFF_BYTES));
  if (!format) throw new StoreError('invalid', `${image.path} is no longer an image; index the folder again`);
  return { buf, format, image };
}
