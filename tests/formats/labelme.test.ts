// labelme both ways: JSON per image read back here with a point-in-polygon rasteriser; pieces of one mask share a
// group_id and come back as one mask; hand-written files with polygons and rectangles import, other shapes and
// other JSON are skipped with their reasons, and a folder of nothing usable changes nothing.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportDataset, importDataset } from '../../src/core/formats/dataset';
import { ProjectStore, indexFolder } from '../../src/core/project';
import { area, bbox, decode, encode, fromCompressedString, toCompressedString } from '../../src/shared/masks';
import { tempDir, writeImage } from '../helpers/folder';
import { clearRect, diskMask, rectMask } from '../helpers/masks';

const W = 64;
const H = 48;
let dir: ReturnType<typeof tempDir>;
let store: ProjectStore;

async function project(root: string): Promise<ProjectStore> {
  await writeImage(join(root, 'one.png'), W, H);
  await writeImage(join(root, 'sub/two.jpg'), W, H, 'jpeg');
  const s = ProjectStore.open(root);
  await indexFolder(s);
  return s;
}
function add(s: ProjectStore, path: string, categoryId: number | null, mask: Uint8Array) {
  const rle = encode(mask, H, W);
  return s.addAnnotation({ imageId: s.getImageByPath(path)!.id, categoryId, rle: toCompressedString(rle), height: H, width: W, area: area(rle), bbox: bbox(rle), source: 'manual' });
}
const key = (m: Uint8Array) => createHash('sha1').update(m).digest('hex');
function projectMasks(s: ProjectStore, path: string): string[] {
  const names = new Map(s.listCategories().map((c) => [c.id, c.name]));
  return s.listAnnotations({ imageId: s.getImageByPath(path)!.id })
    .map((a) => `${names.get(a.categoryId!)} ${a.shape === 'mask' ? key(decode(fromCompressedString(a.rle, a.height, a.width))) : `${a.shape} ${a.bbox.join(' ')}`}`)
    .sort();
}
/** Pixels whose centre lies inside the polygon (even-odd). */
function rasterise(points: number[][]): Uint8Array {
  const m = new Uint8Array(H * W);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      let inside = false;
      for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
        const [xi, yi] = points[i]!, [xj, yj] = points[j]!;
        if (yi! > y + 0.5 !== yj! > y + 0.5 && x + 0.5 < ((xj! - xi!) * (y + 0.5 - yi!)) / (yj! - yi!) + xi!) inside = !inside;
      }
      if (inside) m[y * W + x] = 1;
    }
  return m;
}

const disk = diskMask(H, W, 20, 20, 12);
const rects = rectMask(H, W, 40, 5, 50, 15, rectMask(H, W, 52, 30, 60, 44));
const frame = clearRect(rectMask(H, W, 5, 5, 30, 30), W, 10, 10, 20, 20);

beforeEach(async () => {
  dir = tempDir();
  store = await project(join(dir.path, 'p'));
});
afterEach(() => {
  store.close();
  dir.cleanup();
});

describe('labelme', () => {
  it('exports a polygon per piece (one group per mask, holes filled) that reads back to the masks, and imports them as they were', async () => {
    const cat = store.addCategory({ name: 'cat' });
    add(store, 'one.png', cat.id, disk);
    add(store, 'one.png', cat.id, rects);
    add(store, 'sub/two.jpg', cat.id, frame);
    const out = join(dir.path, 'lm');
    const report = await exportDataset(store, 'labelme', out);
    expect(report).toMatchObject({ images: 2, annotations: 3, lines: 4, holesFilled: 1, skipped: [] });
    const doc = JSON.parse(readFileSync(join(out, 'one.json'), 'utf8'));
    expect([doc.imageWidth, doc.imageHeight]).toEqual([W, H]);
    expect(existsSync(resolve(out, doc.imagePath))).toBe(true);
    expect(doc.shapes.map((s: { label: string; shape_type: string }) => `${s.label} ${s.shape_type}`)).toEqual(Array(3).fill('cat polygon'));
    expect(key(rasterise(doc.shapes[0].points))).toBe(key(disk));
    expect(doc.shapes[1].group_id).toBe(doc.shapes[2].group_id);
    expect(doc.shapes[1].group_id).not.toBeNull();
    const union = rasterise(doc.shapes[1].points).map((v: number, p: number) => v | rasterise(doc.shapes[2].points)[p]!);
    expect(key(union)).toBe(key(rects));
    const two = JSON.parse(readFileSync(join(out, 'sub/two.json'), 'utf8'));
    expect(resolve(dirname(join(out, 'sub/two.json')), two.imagePath)).toBe(join(store.folder, 'sub/two.jpg'));
    expect(key(rasterise(two.shapes[0].points))).toBe(key(rectMask(H, W, 5, 5, 30, 30)));

    const other = await project(join(dir.path, 'q'));
    try {
      // The files' imagePath leads to the first project's images: here they are matched by the JSON's own path.
      expect(await importDataset(other, out)).toEqual({ images: 2, annotations: 3, categoriesCreated: 1, labelFiles: 2, skipped: [] });
      expect(projectMasks(other, 'one.png')).toEqual(projectMasks(store, 'one.png'));
    } finally {
      other.close();
    }
  });

  it('imports hand-written files (polygon, rectangle, grouped pieces) and skips what it cannot read, with reasons', async () => {
    const folder = store.folder;
    const poly = [[10, 10], [30, 10], [10, 40]];
    writeFileSync(join(folder, 'one.json'), JSON.stringify({
      version: '5.4.1', flags: {}, imagePath: 'one.png', imageData: null, imageHeight: H, imageWidth: W,
      shapes: [
        { label: 'tree', points: poly, group_id: null, shape_type: 'polygon', flags: {} },
        { label: 'car', points: [[50.25, 30], [40, 20.5]], group_id: null, shape_type: 'rectangle', flags: {} },
        { label: 'road', points: [[0, 0], [5, 0], [5, 5], [0, 5]], group_id: 7, shape_type: 'polygon' },
        { label: 'road', points: [[59, 43], [64, 43], [64, 48], [59, 48]], group_id: 7, shape_type: 'polygon' },
        { label: 'ball', points: [[5, 5], [8, 8]], shape_type: 'circle' },
        { label: 'tree', points: [[1, 1], [2, 2]], shape_type: 'polygon' },
        { label: 'eye', points: [[12.5, 7.25]], shape_type: 'point' },
        { label: 'eye', points: [[12.5, 7.25], [1, 1]], shape_type: 'point' },
      ],
    }));
    mkdirSync(join(folder, 'notes'));
    writeFileSync(join(folder, 'notes/config.json'), '{"a": 1}');
    const report = await importDataset(store, folder, 'labelme');
    expect(report.annotations).toBe(4);
    expect(report.skipped).toEqual([
      { file: 'notes/config.json', line: null, reason: 'not a labelme file (needs shapes, imagePath, imageHeight and imageWidth)' },
      { file: 'one.json', line: 5, reason: 'shape type "circle" is not read (polygons, rectangles and points are)' },
      { file: 'one.json', line: 6, reason: 'polygon with 2 points (needs 3)' },
      { file: 'one.json', line: 8, reason: 'point with 2 points (needs 1)' },
    ]);
    const road = rectMask(H, W, 0, 0, 5, 5, rectMask(H, W, 59, 43, 64, 48));
    // A rectangle is a box with its corners as drawn (clipped to the image), a point a point.
    expect(projectMasks(store, 'one.png')).toEqual(['car box 40 20.5 10.25 9.5', 'eye point 12.5 7.25 0 0', `road ${key(road)}`, `tree ${key(rasterise(poly))}`].sort());
  });

  it('changes nothing when every shape is skipped, and refuses a folder without JSON', async () => {
    writeFileSync(join(store.folder, 'one.json'), JSON.stringify({ imagePath: 'one.png', imageHeight: H, imageWidth: W, shapes: [{ label: 'x', points: [[0, 0], [3, 3]], shape_type: 'circle' }] }));
    const report = await importDataset(store, store.folder, 'labelme');
    expect(report.annotations).toBe(0);
    expect(store.listCategories()).toEqual([]);
    mkdirSync(join(dir.path, 'empty'));
    await expect(importDataset(store, join(dir.path, 'empty'))).rejects.toThrow(/no labelme .json files in/);
  });
});
