// COCO panoptic import: the JSON and the folder of PNGs of the same name beside it. Each segment becomes one
// mask (RLE) of its category; categories and images are matched as the instances import matches them, and
// what is accepted lands in one transaction. A PNG that does not agree with its JSON (missing, another size,
// ids in one and not the other, an id listed twice) refuses the whole file: the pair is damaged, and a partial
// import would hide it. Entries that do not fit the project (an image it does not have) are skipped and reported.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import { z } from 'zod';
import type { CocoImportReport } from '../../../shared/contract';
import type { Rle } from '../../../shared/masks';
import type { ProjectStore } from '../../project';
import { isInside } from '../files';
import { CocoFileError, describe, matchEntries, reportId, topLevel } from './import';
import { panopticFolder } from './panoptic-export';

/** Ids are 24-bit colours; 0 is unlabelled. */
const SegmentInfo = z.object({
  id: z.number().int().min(1).max(0xffffff),
  category_id: z.union([z.number().int(), z.string().min(1).max(256)]),
  iscrowd: z.union([z.literal(0), z.literal(1), z.boolean()]).optional(),
});
const PanopticAnn = z.object({
  image_id: z.union([z.number().int(), z.string().min(1).max(256)]),
  file_name: z.string().min(1).max(4096),
  segments_info: z.array(z.unknown()),
});

export async function importPanoptic(store: ProjectStore, doc: unknown, jsonPath: string): Promise<CocoImportReport> {
  const top = topLevel(doc, 'panoptic');
  const folder = panopticFolder(jsonPath);
  const st = await stat(folder).catch(() => null);
  if (!st?.isDirectory()) throw new CocoFileError(`the PNG folder ${folder} is missing (a panoptic JSON's PNGs are in the folder of its name beside it)`);
  const m = matchEntries(store, top.categories, top.images);
  const seenImages = new Set<string>();
  let segmentsInFile = 0;
  for (const [index, raw] of top.annotations.entries()) {
    const id = reportId(raw, index);
    const a = PanopticAnn.safeParse(raw);
    if (!a.success) {
      m.skip('annotation', id, describe(a.error));
      continue;
    }
    const { image_id: imageId, file_name: name } = a.data;
    if (seenImages.has(String(imageId))) {
      m.skip('annotation', id, `a second annotation of image ${imageId}: only the first is considered`);
      continue;
    }
    seenImages.add(String(imageId));
    segmentsInFile += a.data.segments_info.length;
    const img = m.image(imageId, id);
    if (!img) continue;
    const segments = new Map<number, z.infer<typeof SegmentInfo>>();
    for (const [k, s] of a.data.segments_info.entries()) {
      const seg = SegmentInfo.safeParse(s);
      if (!seg.success) throw new CocoFileError(`${name}: segments_info[${k}] is not a segment (${describe(seg.error)})`);
      if (segments.has(seg.data.id)) throw new CocoFileError(`${name}: segment id ${seg.data.id} is listed twice in segments_info`);
      segments.set(seg.data.id, seg.data);
    }
    const masks = segmentMasks(await readIds(folder, name, img.width, img.height), img.height, img.width);
    const unlisted = [...masks.keys()].filter((s) => !segments.has(s));
    if (unlisted.length) throw new CocoFileError(`${name}: segment ids ${list(unlisted)} are in the PNG but not in segments_info`);
    const absent = [...segments.keys()].filter((s) => !masks.has(s));
    if (absent.length) throw new CocoFileError(`${name}: segment ids ${list(absent)} are in segments_info but have no pixel in the PNG`);
    for (const [sid, seg] of segments) {
      // A segment is reported as "<image_id>/<segment id>": it has no id of its own in the file.
      const segmentId = `${imageId}/${sid}`;
      const target = m.category(seg.category_id, segmentId);
      if (target) m.add(segmentId, img, target, masks.get(sid)!, { iscrowd: seg.iscrowd ? 1 : 0, score: null });
    }
  }
  return m.commit(segmentsInFile);
}

const list = (ids: number[]) => (ids.length > 10 ? `${ids.slice(0, 10).join(', ')} and ${ids.length - 10} more` : ids.join(', '));

/** The PNG's segment id per pixel (row-major), after checking it is there and has the image's size. */
async function readIds(folder: string, name: string, width: number, height: number): Promise<Uint32Array> {
  const file = join(folder, ...name.replace(/\\/g, '/').split('/'));
  if (!isInside(file, folder)) throw new CocoFileError(`${name}: a PNG name must stay inside ${folder}`);
  let png: { data: Buffer; info: OutputInfo };
  try {
    png = await sharp(file, { failOn: 'error', limitInputPixels: false }).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    const missing = await stat(file).then(() => false, () => true);
    throw new CocoFileError(missing ? `${name}: the PNG is missing from ${folder}` : `${name}: cannot read the PNG (${(e as Error).message})`);
  }
  const { data, info } = png;
  if (info.width !== width || info.height !== height)
    throw new CocoFileError(`${name}: the PNG is ${info.width}×${info.height} but its image is ${width}×${height}`);
  const ids = new Uint32Array(width * height);
  for (let p = 0, q = 0; p < ids.length; p++, q += 3) ids[p] = data[q]! + 256 * data[q + 1]! + 65536 * data[q + 2]!;
  return ids;
}

/** One mask per id in one column-major walk (COCO runs): where the id changes, one run ends and the next begins. */
function segmentMasks(ids: Uint32Array, h: number, w: number): Map<number, Rle> {
  const runs = new Map<number, number[]>(); // per id: start, end, start, end, …
  let prev = 0;
  let start = 0;
  const close = (at: number) => {
    if (prev === 0) return;
    let r = runs.get(prev);
    if (!r) runs.set(prev, (r = []));
    r.push(start, at);
  };
  for (let x = 0, i = 0; x < w; x++) {
    for (let y = 0; y < h; y++, i++) {
      const id = ids[y * w + x]!;
      if (id === prev) continue;
      close(i);
      prev = id;
      start = i;
    }
  }
  close(h * w);
  const masks = new Map<number, Rle>();
  for (const [id, r] of runs) {
    // A mask that reaches the last pixel ends with its own run: COCO's RLE has no empty run at the end.
    const tail = h * w - r[r.length - 1]!;
    const counts = new Uint32Array(r.length + (tail ? 1 : 0));
    let pos = 0;
    for (let k = 0; k < r.length; k++) {
      counts[k] = r[k]! - pos;
      pos = r[k]!;
    }
    if (tail) counts[r.length] = tail;
    masks.set(id, { h, w, counts });
  }
  return masks;
}
