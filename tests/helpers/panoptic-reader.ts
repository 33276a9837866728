// An independent reader of COCO panoptic exports, written apart from the exporter and after panopticapi's
// rules (pq_compute_single_core and its converters): every PNG is RGB with id = R + 256·G + 256²·B, ids unique
// within an image, every id in a PNG listed in segments_info and every listed id present in the PNG, areas equal
// to the PNG's pixel counts, bboxes of those pixels, categories known, one segment per stuff category, and the
// annotations one per image. It returns what it found wrong, so a test can also check that it sees damage.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

export interface PanopticRead {
  problems: string[];
  /** Per image file_name: per segment id, its pixels (row-major indices) and its segment entry. */
  images: Map<string, { width: number; height: number; segments: Map<number, { pixels: number[]; category_id: number; iscrowd: number }> }>;
  doc: any;
}

export async function readPanoptic(jsonPath: string, pngFolder: string): Promise<PanopticRead> {
  const doc = JSON.parse(readFileSync(jsonPath, 'utf8'));
  const problems: string[] = [];
  const images: PanopticRead['images'] = new Map();
  const categories = new Map<number, any>();
  for (const c of doc.categories) {
    if (categories.has(c.id)) problems.push(`category id ${c.id} twice`);
    if (c.isthing !== 0 && c.isthing !== 1) problems.push(`category ${c.id}: isthing is ${c.isthing}`);
    if (!Array.isArray(c.color) || c.color.length !== 3) problems.push(`category ${c.id}: color is not [r, g, b]`);
    categories.set(c.id, c);
  }
  const imageById = new Map<number, any>(doc.images.map((i: any) => [i.id, i]));
  const annotated = new Set<number>();
  for (const ann of doc.annotations) {
    const image = imageById.get(ann.image_id);
    if (!image) {
      problems.push(`${ann.file_name}: image_id ${ann.image_id} is not among the images`);
      continue;
    }
    if (annotated.has(ann.image_id)) problems.push(`image ${ann.image_id} annotated twice`);
    annotated.add(ann.image_id);
    const { data, info } = await sharp(join(pngFolder, ann.file_name)).raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) problems.push(`${ann.file_name}: ${info.channels} channels, not RGB`);
    if (info.width !== image.width || info.height !== image.height)
      problems.push(`${ann.file_name}: ${info.width}×${info.height}, image is ${image.width}×${image.height}`);
    const pixels = new Map<number, number[]>();
    for (let p = 0; p < info.width * info.height; p++) {
      const q = p * info.channels;
      const id = data[q]! + 256 * data[q + 1]! + 256 * 256 * data[q + 2]!;
      if (id === 0) continue;
      let list = pixels.get(id);
      if (!list) pixels.set(id, (list = []));
      list.push(p);
    }
    const segments = new Map<number, { pixels: number[]; category_id: number; iscrowd: number }>();
    const stuffSeen = new Set<number>();
    for (const s of ann.segments_info) {
      if (segments.has(s.id)) problems.push(`${ann.file_name}: segment id ${s.id} twice`);
      const category = categories.get(s.category_id);
      if (!category) problems.push(`${ann.file_name}: segment ${s.id} has unknown category_id ${s.category_id}`);
      else if (category.isthing === 0) {
        if (stuffSeen.has(s.category_id)) problems.push(`${ann.file_name}: stuff category ${s.category_id} in two segments`);
        stuffSeen.add(s.category_id);
      }
      const px = pixels.get(s.id);
      if (!px) {
        problems.push(`${ann.file_name}: segment ${s.id} is in JSON and not in the PNG`);
        continue;
      }
      if (s.area !== px.length) problems.push(`${ann.file_name}: segment ${s.id} area ${s.area}, PNG has ${px.length}`);
      const xs = px.map((p) => p % info.width), ys = px.map((p) => Math.floor(p / info.width));
      const box = [Math.min(...xs), Math.min(...ys), Math.max(...xs) - Math.min(...xs) + 1, Math.max(...ys) - Math.min(...ys) + 1];
      if (JSON.stringify(box) !== JSON.stringify(s.bbox)) problems.push(`${ann.file_name}: segment ${s.id} bbox ${JSON.stringify(s.bbox)}, PNG gives ${JSON.stringify(box)}`);
      if (s.iscrowd !== 0 && s.iscrowd !== 1) problems.push(`${ann.file_name}: segment ${s.id} iscrowd ${s.iscrowd}`);
      segments.set(s.id, { pixels: px, category_id: s.category_id, iscrowd: s.iscrowd });
    }
    for (const id of pixels.keys()) if (!segments.has(id)) problems.push(`${ann.file_name}: segment ${id} is in the PNG and not in JSON`);
    images.set(ann.file_name, { width: info.width, height: info.height, segments });
  }
  for (const id of imageById.keys()) if (!annotated.has(id)) problems.push(`image ${id} has no annotation`);
  return { problems, images, doc };
}
