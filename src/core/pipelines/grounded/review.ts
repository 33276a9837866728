// Generated images held for review: the app's generate job does not add its images to the project at once (a
// generator also makes images nobody wants); it holds each one, PNG and masks, under the project's .difflabel folder,
// where neither the indexer, the grid nor an export sees it. "Keep" adds it to the project as the CLI adds its images
// (dataset.ts recordImage); "discard" deletes the held files and nothing else. Held images survive a restart: they are
// files, listed again from the folder.
//
// Layout: `.difflabel/generated/<the image's project path>` (the PNG) and the same path + `.json` (its masks and
// run). The JSON is written after the PNG, so an image is held when its JSON is there; keep and discard remove the
// PNG first, so a JSON without its PNG is the rest of an interrupted discard, and a held image already in the project
// with its run is the rest of an interrupted keep: listing removes both kinds.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fromCompressedString, maskFields, toCompressedString } from '../../../shared/masks';
import { writeFileAtomic } from '../../formats/atomic-file';
import type { ProjectStore } from '../../project';
import { isRecorded, recordImage, type MadeImage } from './dataset';

/** What the JSON beside a held PNG holds: the image's MadeImage without its bytes, masks as compressed RLE. */
interface HeldRecord {
  path: string;
  width: number;
  height: number;
  params: Record<string, unknown>;
  model: string;
  categories: string[];
  masks: { category: string; counts: string }[];
  startedAt: number;
}

export interface HeldImage extends HeldRecord {
  /** The held PNG's absolute path. */
  file: string;
}

/** The folder generated images wait in. */
function heldFolder(store: ProjectStore): string {
  return join(dirname(store.dbPath), 'generated');
}

function heldFile(store: ProjectStore, path: string): string {
  return join(heldFolder(store), ...path.split('/'));
}

/** Holds an image for review: its PNG, then the JSON that makes it held. */
export async function holdForReview(store: ProjectStore, image: MadeImage): Promise<void> {
  const file = heldFile(store, image.path);
  mkdirSync(dirname(file), { recursive: true });
  await writeFileAtomic(file, [image.png]);
  const record: HeldRecord = {
    path: image.path, width: image.width, height: image.height, params: image.params, model: image.model, categories: [...image.categories],
    masks: image.masks.map(({ category, rle }) => ({ category, counts: toCompressedString(rle) })), startedAt: image.startedAt,
  };
  await writeFileAtomic(`${file}.json`, [JSON.stringify(record)]);
}

/** Whether the image at project path `path` is held. */
export function isHeld(store: ProjectStore, path: string): boolean {
  const file = heldFile(store, path);
  return existsSync(`${file}.json`) && existsSync(file);
}

/** The held images, by path; the rests of an interrupted keep or discard are removed on the way. */
export function listHeld(store: ProjectStore): HeldImage[] {
  const root = heldFolder(store);
  if (!existsSync(root)) return [];
  const out: HeldImage[] = [];
  for (const name of readdirSync(root, { recursive: true, encoding: 'utf8' })) {
    if (!name.endsWith('.png.json')) continue;
    const meta = join(root, name);
    const file = meta.slice(0, -'.json'.length);
    const record = JSON.parse(readFileSync(meta, 'utf8')) as HeldRecord;
    if (!existsSync(file) || isRecorded(store, record.path)) {
      remove({ ...record, file });
      continue;
    }
    out.push({ ...record, file });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Adds a held image to the project with its masks and run; returns its image id. */
export async function keepHeld(store: ProjectStore, held: HeldImage): Promise<number> {
  const imageId = await recordImage(store, {
    ...held, png: readFileSync(held.file), masks: held.masks.map(({ category, counts }) => ({ category, rle: fromCompressedString(counts, held.height, held.width) })),
  });
  remove(held);
  return imageId;
}

/** Deletes a held image's files; the project is not touched. */
export function discardHeld(held: HeldImage): void {
  remove(held);
}

/** The PNG first, then the JSON (see the layout above). */
function remove(held: HeldImage): void {
  rmSync(held.file, { force: true });
  rmSync(`${held.file}.json`, { force: true });
}

/** A held image's mask as the API gives one: compressed RLE with its size, and its area. */
export function heldMask(held: HeldImage, m: HeldRecord['masks'][number]): { category: string; mask: { size: [number, number]; counts: string }; area: number } {
  return { category: m.category, mask: { size: [held.height, held.width], counts: m.counts }, area: maskFields(fromCompressedString(m.counts, held.height, held.width)).area };
}
