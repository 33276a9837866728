// Boxes and points in every format, each way: COCO (a box as bbox with `segmentation: []`, a point as one keypoint,
// read back, also as CVAT writes boxes), YOLO detection (boxes and masks' boxes; segmentation leaves boxes out), VOC
// XML (boxes after the masks' objects, no pixels in the label images, read back from the XML) and labelme (rectangles and points). Files are
// read here with plain JSON / text parsing, apart from the exporters.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportCoco } from '../../src/core/formats/coco/export';
import { importCoco } from '../../src/core/formats/coco/import';
import { exportDataset, importDataset } from '../../src/core/formats/dataset';
import { ProjectStore, indexFolder, type Annotation } from '../../src/core/project';
import { area, bbox, decode, encode, fromCompressedString, toCompressedString } from '../../src/shared/masks';
import { tempDir, writeImage } from '../helpers/folder';
import { rectMask } from '../helpers/masks';

const W = 64;
const H = 48;
let dir: ReturnType<typeof tempDir>;
let store: ProjectStore;
let ids: { mask: number; box: number; point: number };

async function project(root: string): Promise<ProjectStore> {
  await writeImage(join(root, 'one.png'), W, H);
  const s = ProjectStore.open(root);
  await indexFolder(s);
  return s;
}

/** One image: a 'car' mask, a 'car' box with an attribute, a 'wheel' point, and an unassigned box. */
function annotate(s: ProjectStore): void {
  const car = s.addCategory({ name: 'car' }).id;
  const wheel = s.addCategory({ name: 'wheel' }).id;
  s.addAttributeDef({ categoryId: car, name: 'occluded', type: 'boolean' });
  const imageId = s.getImageByPath('one.png')!.id;
  const rle = encode(rectMask(H, W, 2, 3, 12, 9), H, W);
  const [mask, box, point] = s.edit(imageId, 'add', [
    { kind: 'add', input: { categoryId: car, rle: toCompressedString(rle), height: H, width: W, area: area(rle), bbox: bbox(rle), source: 'manual' } },
    { kind: 'add', input: { categoryId: car, shape: 'box', rle: '', height: H, width: W, area: 30 * 20, bbox: [20, 10, 30, 20], source: 'manual', attributes: { occluded: true } } },
    { kind: 'add', input: { categoryId: wheel, shape: 'point', rle: '', height: H, width: W, area: 0, bbox: [33.5, 28.5, 0, 0], source: 'manual' } },
    { kind: 'add', input: { categoryId: null, shape: 'box', rle: '', height: H, width: W, area: 4, bbox: [0, 0, 2, 2], source: 'manual' } },
  ]);
  ids = { mask: mask!.id, box: box!.id, point: point!.id };
}

/** The image's annotations as comparable text: category, shape and geometry. */
function shapes(s: ProjectStore): string[] {
  const names = new Map(s.listCategories().map((c) => [c.id, c.name]));
  return s.listAnnotations({ imageId: s.getImageByPath('one.png')!.id })
    .map((a: Annotation) => `${names.get(a.categoryId!)} ${a.shape} ${a.shape === 'mask' ? bbox(fromCompressedString(a.rle, H, W)).join(' ') : a.bbox.join(' ')}`)
    .sort();
}

beforeEach(async () => {
  dir = tempDir();
  store = await project(join(dir.path, 'p'));
  annotate(store);
});
afterEach(() => {
  store.close();
  dir.cleanup();
});

describe('COCO', () => {
  it('writes a box as its bbox with segmentation [], a point as one keypoint, and reads both back', async () => {
    const { document, report } = exportCoco(store, { format: 'polygons' });
    const doc = JSON.parse(JSON.stringify(document));
    expect(report.annotations).toBe(3);
    expect(report.skipped).toEqual([{ annotationId: expect.any(Number), reason: 'no category assigned (a COCO annotation needs one)' }]);
    const byId = new Map(doc.annotations.map((a: { id: number }) => [a.id, a]));
    expect(byId.get(ids.box)).toEqual({
      id: ids.box, image_id: 1, category_id: 1, segmentation: [], area: 600, bbox: [20, 10, 30, 20], iscrowd: 0, attributes: { occluded: true },
    });
    expect(byId.get(ids.point)).toEqual({
      id: ids.point, image_id: 1, category_id: 2, segmentation: [], keypoints: [33.5, 28.5, 2], num_keypoints: 1, area: 0, bbox: [33.5, 28.5, 0, 0], iscrowd: 0,
    });
    expect((byId.get(ids.mask) as { segmentation: unknown[] }).segmentation).toHaveLength(1);
    // Only the category with points lists the keypoint.
    expect(doc.categories.map((c: { name: string; keypoints?: string[]; skeleton?: unknown[] }) => [c.name, c.keypoints, c.skeleton]))
      .toEqual([['car', undefined, undefined], ['wheel', ['point'], []]]);

    const other = await project(join(dir.path, 'q'));
    try {
      const back = importCoco(other, doc);
      expect(back).toMatchObject({ annotations: 3, skipped: [] });
      expect(shapes(other)).toEqual(['car box 20 10 30 20', 'car mask 2 3 10 6', 'wheel point 33.5 28.5 0 0']);
      expect(other.listAnnotations({}).find((a) => a.shape === 'box')!.attributes).toEqual({ occluded: true });
      // Again: nothing twice.
      expect(importCoco(other, doc).skipped.map((x) => x.reason)).toEqual(Array(3).fill('already in the project'));
    } finally {
      other.close();
    }
  });

  it('reads boxes as CVAT and Roboflow write them (segmentation [], absent or null), clipped to the image; refuses bad ones with reasons', async () => {
    const other = await project(join(dir.path, 'q'));
    try {
      const report = importCoco(other, {
        images: [{ id: 1, file_name: 'one.png', width: W, height: H }],
        categories: [{ id: 1, name: 'person' }],
        annotations: [
          { id: 1, image_id: 1, category_id: 1, segmentation: [], bbox: [1.5, 2, 10, 5], area: 50, iscrowd: 0 },
          { id: 2, image_id: 1, category_id: 1, bbox: [60, 40, 10, 10] },
          { id: 3, image_id: 1, category_id: 1, segmentation: null, bbox: [70, 2, 5, 5] },
          { id: 4, image_id: 1, category_id: 1, segmentation: [], bbox: [1, 2, 'x', 4] },
          { id: 5, image_id: 1, category_id: 1, segmentation: [], keypoints: [1, 2, 2, 3, 4, 2], num_keypoints: 2 },
          { id: 6, image_id: 1, category_id: 1, segmentation: [], keypoints: [1, 2, 0] },
          { id: 7, image_id: 1, category_id: 1, segmentation: [] },
        ],
      });
      expect(report.annotations).toBe(2);
      expect(Object.fromEntries(report.skipped.map((x) => [x.id, x.reason]))).toEqual({
        3: `empty box: [70, 2, 5, 5] covers nothing of the ${W}×${H} image`,
        4: 'malformed bbox: it must be [x, y, width, height]',
        5: '2 keypoints: only single points are read (a skeleton is not)',
        6: 'the keypoint is not labelled (v = 0)',
        7: 'no segmentation and no bbox',
      });
      expect(shapes(other)).toEqual(['person box 1.5 2 10 5', 'person box 60 40 4 8']);
    } finally {
      other.close();
    }
  });
});

describe('dataset formats', () => {
  it('YOLO detection writes boxes beside the masks\' boxes and reads them back as boxes; segmentation and points are left out with reasons', async () => {
    const out = join(dir.path, 'yolo');
    const report = await exportDataset(store, 'yolo-det', out);
    expect(report.annotations).toBe(2);
    expect(report.skipped.map((x) => x.reason).sort()).toEqual(['a point (YOLO has no points)', 'no category assigned (a YOLO line needs a class)']);
    const lines = readFileSync(join(out, 'labels/one.txt'), 'utf8').trim().split('\n').map((l) => l.split(' ').map(Number));
    // class cx cy w h, normalised: the mask's box (2, 3, 10, 6) and the box (20, 10, 30, 20).
    expect(lines).toEqual([[0, 7 / W, 6 / H, 10 / W, 6 / H], [0, 35 / W, 20 / H, 30 / W, 20 / H]].map((l) => l.map((v) => Number(v.toFixed(6)))));
    const seg = await exportDataset(store, 'yolo-seg', join(dir.path, 'yolo-seg'));
    expect(seg.skipped.map((x) => x.reason)).toContain('a box without a mask (YOLO detection takes boxes)');

    const other = await project(join(dir.path, 'q'));
    try {
      expect(await importDataset(other, out, 'yolo')).toMatchObject({ annotations: 2, skipped: [] });
      // A detection line is a box, whether it came from a mask or a box.
      expect(shapes(other)).toEqual(['car box 2 3 10 6', 'car box 20 10 30 20']);
    } finally {
      other.close();
    }
  });

  it('VOC writes a box as an <object> after the masks\' objects (object k is still the k-th label of the PNGs) and reads it back', async () => {
    const out = join(dir.path, 'voc');
    const report = await exportDataset(store, 'voc', out);
    expect(report.annotations).toBe(2);
    expect(report.skipped.map((x) => x.reason).sort()).toEqual(['a point (VOC has no points)', 'no category assigned (a VOC object needs a class)']);
    const xml = readFileSync(join(out, 'Annotations/one.xml'), 'utf8');
    const objects = [...xml.matchAll(/<object><name>([^<]*)<\/name>.*?<xmin>(\d+)<\/xmin><ymin>(\d+)<\/ymin><xmax>(\d+)<\/xmax><ymax>(\d+)<\/ymax>/g)].map((m) => m.slice(1).join(' '));
    // 1-based inclusive corners: the mask's pixels 2…11 × 3…8, the box's 20…49 × 10…29.
    expect(objects).toEqual(['car 3 4 12 9', 'car 21 11 50 30']);
    // Read back: the mask from the object image, the box from the <object> that has no pixels there.
    const other = await project(join(dir.path, 'q'));
    try {
      expect(await importDataset(other, out, 'voc')).toMatchObject({ annotations: 2, skipped: [] });
      expect(shapes(other)).toEqual(['car box 20 10 30 20', 'car mask 2 3 10 6']);
      expect((await importDataset(other, out, 'voc')).skipped.map((x) => x.reason)).toEqual(['already in the project', 'already in the project']);
    } finally {
      other.close();
    }
  });

  it('labelme writes a box as a rectangle and a point as a point, and reads them back', async () => {
    const out = join(dir.path, 'labelme');
    const report = await exportDataset(store, 'labelme', out);
    expect(report.annotations).toBe(3);
    const doc = JSON.parse(readFileSync(join(out, 'one.json'), 'utf8'));
    expect(doc.shapes.filter((x: { shape_type: string }) => x.shape_type !== 'polygon').map((x: { label: string; shape_type: string; points: number[][] }) => [x.label, x.shape_type, x.points]))
      .toEqual([['car', 'rectangle', [[20, 10], [50, 30]]], ['wheel', 'point', [[33.5, 28.5]]]]);
    const other = await project(join(dir.path, 'q'));
    try {
      // The JSON lies outside the project: it is matched to the image by its name.
      expect(await importDataset(other, out, 'labelme')).toMatchObject({ annotations: 3, skipped: [] });
      expect(shapes(other)).toEqual(['car box 20 10 30 20', 'car mask 2 3 10 6', 'wheel point 33.5 28.5 0 0']);
      const mask = other.listAnnotations({}).find((a) => a.shape === 'mask')!;
      expect(decode(fromCompressedString(mask.rle, H, W))).toEqual(rectMask(H, W, 2, 3, 12, 9));
    } finally {
      other.close();
    }
  });
});
