import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { exportCoco, writeCocoFile, type CocoAnnotation } from '../../src/core/formats/coco/export';
import { CocoFileError, importCoco, importCocoFile } from '../../src/core/formats/coco/import';
import { area, bbox, decode, encode, fromCocoRle, fromCompressedString, polygonsToRle, toCompressedString } from '../../src/shared/masks';
import { ProjectStore, indexFolder } from '../../src/core/project';
import { tempDir, writeImage } from '../helpers/folder';
import { clearRect, count, diskMask, pixelBbox, rectMask } from '../helpers/masks';

const W = 64;
const H = 48;

let dir: ReturnType<typeof tempDir>;
let store: ProjectStore;

async function project(root: string): Promise<ProjectStore> {
  await writeImage(join(root, 'one.png'), W, H);
  await writeImage(join(root, 'sub/two.jpg'), W, H, 'jpeg');
  await writeImage(join(root, 'three.png'), 32, 32);
  const s = ProjectStore.open(root);
  await indexFolder(s);
  return s;
}

function add(s: ProjectStore, path: string, categoryId: number | null, mask: Uint8Array, h = H, w = W, extra: { iscrowd?: 0 | 1 } = {}) {
  const rle = encode(mask, h, w);
  return s.addAnnotation({
    imageId: s.getImageByPath(path)!.id,
    categoryId,
    rle: toCompressedString(rle),
    height: h,
    width: w,
    area: area(rle),
    bbox: bbox(rle),
    source: 'manual',
    ...extra,
  });
}

/** What a COCO consumer decodes from one exported annotation (pycocotools annToMask semantics). */
function consumerDecode(a: CocoAnnotation, h: number, w: number): Uint8Array {
  const seg = a.segmentation;
  return decode(Array.isArray(seg) ? polygonsToRle(seg, h, w) : fromCocoRle(seg));
}

beforeEach(async () => {
  dir = tempDir();
  store = await project(dir.path);
});
afterEach(() => {
  store.close();
  dir.cleanup();
});

describe('COCO export', () => {
  it('obeys the consumer rules and decodes to exactly the stored masks, in both formats', () => {
    const cat = store.addCategory({ name: 'cat' });
    const dog = store.addCategory({ name: 'dog', supercategory: 'animal' });
    const ring = clearRect(rectMask(H, W, 10, 10, 40, 40), W, 20, 20, 30, 30); // a square with a hole
    const twoParts = rectMask(H, W, 0, 0, 5, 5, rectMask(H, W, 50, 30, 64, 48)); // touches two image corners
    const blob = diskMask(H, W, 30, 20, 12);
    const stored = [add(store, 'one.png', cat.id, ring), add(store, 'one.png', dog.id, twoParts), add(store, 'sub/two.jpg', cat.id, blob)];
    add(store, 'sub/two.jpg', null, rectMask(H, W, 1, 1, 3, 3)); // unassigned proposal

    for (const format of ['polygons', 'rle'] as const) {
      const { document: doc, report } = exportCoco(store, { format });
      expect(doc.info).toBeTypeOf('object');
      expect(Array.isArray(doc.licenses)).toBe(true);
      expect(doc.categories.map((c) => c.id)).toEqual([1, 2]);
      expect(doc.categories[1]).toMatchObject({ name: 'dog', supercategory: 'animal' });
      expect(new Set(doc.annotations.map((a) => a.id)).size).toBe(doc.annotations.length);
      expect(new Set(doc.images.map((i) => i.id)).size).toBe(3);
      expect(doc.images.map((i) => i.file_name).sort()).toEqual(['one.png', 'sub/two.jpg', 'three.png']);
      for (const i of doc.images) expect(i.width * i.height).toBeGreaterThan(0);
      expect(report.skipped).toEqual([{ annotationId: expect.any(Number), reason: expect.stringContaining('no category') }]);
      expect(doc.annotations).toHaveLength(3);

      for (const a of doc.annotations) {
        const original = stored.find((s) => s.id === a.id)!;
        const decoded = consumerDecode(a, H, W);
        expect(decoded).toEqual(decode(fromCompressedString(original.rle, H, W)));
        expect(a.area).toBe(count(decoded));
        expect(a.bbox).toEqual(pixelBbox(decoded, H, W));
        expect(a.iscrowd).toBe(0);
        if (Array.isArray(a.segmentation)) for (const r of a.segmentation) expect(r.length).toBeGreaterThanOrEqual(6);
      }
      const ringOut = doc.annotations.find((a) => a.id === stored[0]!.id)!;
      const partsOut = doc.annotations.find((a) => a.id === stored[1]!.id)!;
      if (format === 'polygons') {
        // The mask with a hole cannot be a polygon: it goes out as RLE, and the report says so.
        expect(Array.isArray(ringOut.segmentation)).toBe(false);
        expect(report.rleBecauseHoles).toBe(1);
        expect(Array.isArray(partsOut.segmentation) && partsOut.segmentation.length).toBe(2);
        expect(report).toMatchObject({ polygons: 2, rle: 1 });
      } else {
        expect(doc.annotations.every((a) => !Array.isArray(a.segmentation) && typeof a.segmentation.counts === 'string')).toBe(true);
        expect(report).toMatchObject({ polygons: 0, rle: 3, rleBecauseHoles: 0 });
      }
    }
  });

  it('forced polygons fill holes, and bbox/area describe the filled mask', () => {
    const cat = store.addCategory({ name: 'cat' });
    const ring = clearRect(rectMask(H, W, 10, 10, 40, 40), W, 20, 20, 30, 30);
    add(store, 'one.png', cat.id, ring);
    const { document: doc, report } = exportCoco(store, { format: 'polygons', forcePolygons: true });
    expect(report).toMatchObject({ holesFilled: 1, rleBecauseHoles: 0, polygons: 1 });
    const a = doc.annotations[0]!;
    expect(Array.isArray(a.segmentation)).toBe(true);
    expect(a.area).toBe(30 * 30);
    expect(consumerDecode(a, H, W)).toEqual(rectMask(H, W, 10, 10, 40, 40));
  });

  it('simplified polygons report the area and bbox of what they rasterise to', () => {
    const cat = store.addCategory({ name: 'cat' });
    add(store, 'one.png', cat.id, diskMask(H, W, 30, 24, 20));
    const { document: doc } = exportCoco(store, { format: 'polygons', tolerance: 2 });
    const a = doc.annotations[0]!;
    const decoded = consumerDecode(a, H, W);
    expect(a.area).toBe(count(decoded));
    expect(a.bbox).toEqual(pixelBbox(decoded, H, W));
    const { report } = exportCoco(store, { format: 'polygons', tolerance: 2 });
    expect(report.simplification!.minIoU).toBeGreaterThan(0.8);
    expect(report.simplification!.minIoU).toBeLessThan(1);
    expect(exportCoco(store, { format: 'polygons' }).report.simplification).toBeNull();
  });

  it('leaves out the masks of unreadable and missing images, and says which, why and how to include them', async () => {
    const cat = store.addCategory({ name: 'cat' });
    add(store, 'one.png', cat.id, rectMask(H, W, 0, 0, 5, 5));
    add(store, 'one.png', null, rectMask(H, W, 10, 10, 15, 15));
    add(store, 'sub/two.jpg', cat.id, rectMask(H, W, 0, 0, 5, 5));
    const kept = add(store, 'three.png', cat.id, rectMask(32, 32, 0, 0, 5, 5), 32, 32);
    writeFileSync(join(dir.path, 'one.png'), 'no longer an image');
    await indexFolder(store);
    expect(store.getImageByPath('one.png')!.status).toBe('error');
    // A file that vanished keeps its row, flagged (schema v3).
    const db = new Database(store.dbPath);
    db.prepare('UPDATE images SET missing_since = ? WHERE path = ?').run(Date.UTC(2026, 0, 2), 'sub/two.jpg');
    db.close();

    for (const format of ['rle', 'polygons'] as const) {
      const { document: doc, report } = exportCoco(store, { format });
      expect(doc.images.map((i) => i.file_name)).toEqual(['three.png']);
      expect(doc.annotations.map((a) => a.id)).toEqual([kept.id]);
      expect(report).toMatchObject({ images: 1, annotations: 1, skipped: [] });
      expect(report.leftOut).toEqual([
        { path: 'one.png', masks: 2, reason: expect.stringMatching(/^the file could not be read \(.+\): fix or replace it, then index the folder again$/) },
        { path: 'sub/two.jpg', masks: 1, reason: 'the file is missing (since 2026-01-02): put it back, then index the folder again' },
      ]);
    }
  });

  it('writes to a file exactly the document it returns, with the stored RLE strings as they are', async () => {
    const cat = store.addCategory({ name: 'cat' });
    const ring = clearRect(rectMask(H, W, 10, 10, 40, 40), W, 20, 20, 30, 30);
    const stored = [add(store, 'one.png', cat.id, ring), add(store, 'sub/two.jpg', cat.id, diskMask(H, W, 30, 20, 12))];
    add(store, 'one.png', null, rectMask(H, W, 1, 1, 3, 3));
    for (const format of ['rle', 'polygons'] as const) {
      const out = join(dir.path, `${format}.json`);
      const report = await writeCocoFile(store, out, { format });
      const written = JSON.parse(readFileSync(out, 'utf8'));
      const { document, report: same } = exportCoco(store, { format });
      expect(report).toEqual(same);
      expect({ ...written, info: { ...written.info, date_created: 0 } }).toEqual({ ...document, info: { ...document.info, date_created: 0 } });
      if (format === 'rle') expect(written.annotations.map((a: CocoAnnotation) => (a.segmentation as { counts: string }).counts)).toEqual(stored.map((a) => a.rle));
    }
  });

  it('writes crowd regions as RLE even in polygon mode', () => {
    const cat = store.addCategory({ name: 'crowd' });
    add(store, 'one.png', cat.id, rectMask(H, W, 5, 5, 20, 20), H, W, { iscrowd: 1 });
    const { document: doc } = exportCoco(store, { format: 'polygons' });
    expect(doc.annotations[0]!.iscrowd).toBe(1);
    expect(Array.isArray(doc.annotations[0]!.segmentation)).toBe(false);
  });
});

describe('COCO import', () => {
  const doc = () => ({
    info: {},
    licenses: [],
    images: [
      { id: 7, file_name: 'one.png', width: W, height: H },
      { id: 8, file_name: 'two.jpg', width: W, height: H }, // matched by its unique file name
      { id: 9, file_name: 'missing.png', width: 10, height: 10 },
      { id: 10, file_name: 'three.png', width: 33, height: 32 }, // wrong size
    ],
    categories: [
      { id: 3, name: 'cat', supercategory: 'animal' },
      { id: 4, name: 'dog' },
    ],
    annotations: [
      { id: 1, image_id: 7, category_id: 3, segmentation: [[10, 10, 30, 10, 30, 30, 10, 30]], iscrowd: 0 },
      { id: 2, image_id: 7, category_id: 4, segmentation: { size: [H, W], counts: [100, 50, W * H - 150] }, iscrowd: 0 },
      { id: 3, image_id: 8, category_id: 3, segmentation: { size: [H, W], counts: toCompressedString(encode(diskMask(H, W, 20, 20, 8), H, W)) } },
      { id: 4, image_id: 9, category_id: 3, segmentation: [[0, 0, 5, 0, 5, 5]] },
      { id: 5, image_id: 7, category_id: 99, segmentation: [[0, 0, 5, 0, 5, 5]] },
      { id: 6, image_id: 7, category_id: 3, segmentation: { size: [H, W], counts: [5, 5] } },
      { id: 7, image_id: 7, category_id: 3, segmentation: { size: [H, W], counts: 'not!rle\u0000' } },
      { id: 8, image_id: 7, category_id: 3, segmentation: [[0, 0, 5, 0, 5]] },
      { id: 9, image_id: 7, category_id: 3, bbox: [1, 2, 3, 4] },
      { id: 10, image_id: 12345, category_id: 3, segmentation: [[0, 0, 5, 0, 5, 5]] },
      { id: 11, image_id: 10, category_id: 3, segmentation: [[0, 0, 5, 0, 5, 5]] },
      { id: 12, image_id: 7, category_id: 3, segmentation: { size: [10, 10], counts: [0, 100] } },
    ],
  });

  it('imports polygons, uncompressed and compressed RLE, and reports every skip with its reason', () => {
    const report = importCoco(store, doc());
    expect(report.annotations).toBe(4); // the bbox without a segmentation (9) is a box
    expect(report.images).toBe(2);
    expect(report.categoriesCreated).toBe(2);
    const reasons = Object.fromEntries(report.skipped.filter((s) => s.what === 'annotation').map((s) => [s.id, s.reason]));
    expect(reasons).toEqual({
      4: expect.stringContaining('skipped'),
      5: 'unknown category_id 99',
      6: expect.stringContaining('malformed RLE'),
      7: expect.stringContaining('malformed RLE'),
      8: expect.stringContaining('malformed polygon'),
      10: 'unknown image_id 12345',
      11: expect.stringContaining('skipped'),
      12: expect.stringContaining('does not match'),
    });
    const images = Object.fromEntries(report.skipped.filter((s) => s.what === 'image').map((s) => [s.id, s.reason]));
    expect(images[9]).toContain('no image');
    expect(images[10]).toContain('33×32');

    const one = store.listAnnotations({ imageId: store.getImageByPath('one.png')!.id });
    const square = one.find((a) => a.categoryId === store.getCategoryByName('cat')!.id)!;
    // pycocotools rasterises this 20×20 polygon to a 21×21 block (its vertices' pixels are inside).
    expect(square.bbox).toEqual(bbox(polygonsToRle([[10, 10, 30, 10, 30, 30, 10, 30]], H, W)));
    expect(square.source).toBe('import');
    const runs = one.find((a) => a.categoryId === store.getCategoryByName('dog')!.id)!;
    expect(runs.area).toBe(50);
    expect(store.getCategoryByName('cat')!.supercategory).toBe('animal');
    // Importing the same file again adds nothing.
    const again = importCoco(store, doc());
    expect(again.annotations).toBe(0);
    expect(again.categoriesCreated).toBe(0);
  });

  it('refuses files that are not COCO, and changes nothing', () => {
    const before = store.stats();
    expect(() => importCoco(store, [])).toThrow(CocoFileError);
    expect(() => importCoco(store, { images: [], categories: [] })).toThrow(/missing "annotations"/);
    expect(() => importCoco(store, { images: {}, annotations: [], categories: [] })).toThrow(/images/);
    expect(store.stats()).toEqual(before);
  });

  it('refuses unreadable files with a clear error', async () => {
    const bad = join(dir.path, 'bad.json');
    writeFileSync(bad, '{"images": [');
    await expect(importCocoFile(store, bad)).rejects.toThrow(/not valid JSON/);
    await expect(importCocoFile(store, join(dir.path, 'nope.json'))).rejects.toThrow(/cannot read/);
  });

  it('import → export → import gives the same masks (polygons and RLE)', async () => {
    importCoco(store, doc());
    const cat = store.getCategoryByName('cat')!;
    add(store, 'three.png', cat.id, clearRect(rectMask(32, 32, 2, 2, 30, 30), 32, 10, 10, 20, 20), 32, 32);
    const masksOf = (s: ProjectStore) =>
      s
        .listAnnotations({})
        .map((a) => `${s.getImage(a.imageId)!.path}|${s.getCategory(a.categoryId!)!.name}|${a.rle}|${a.area}|${a.bbox}`)
        .sort();
    for (const format of ['polygons', 'rle'] as const) {
      const { document } = exportCoco(store, { format });
      const other = tempDir();
      const copy = await project(other.path);
      try {
        const r = importCoco(copy, JSON.parse(JSON.stringify(document)));
        expect(r.skipped).toEqual([]);
        expect(masksOf(copy)).toEqual(masksOf(store));
      } finally {
        copy.close();
        other.cleanup();
      }
    }
  });
});

describe('COCO import: why an image is not matched', () => {
  const file = (images: Array<{ id: number; file_name: string }>) => ({
    images: images.map((i) => ({ ...i, width: W, height: H })),
    annotations: images.map((i) => ({ id: i.id, image_id: i.id, category_id: 1, segmentation: { size: [H, W], counts: [0, 10, H * W - 10] } })),
    categories: [{ id: 1, name: 'thing' }],
  });

  it('says "index the folder first" only for a file that is there but not indexed', async () => {
    await writeImage(join(dir.path, 'late.png'), W, H);
    const report = importCoco(store, file([{ id: 1, file_name: 'late.png' }, { id: 2, file_name: 'nowhere.png' }]));
    const reasons = Object.fromEntries(report.skipped.filter((s) => s.what === 'image').map((s) => [s.id, s.reason]));
    expect(reasons[1]).toBe('"late.png" is not indexed yet (index the folder first)');
    expect(reasons[2]).toBe('no image "nowhere.png" in the project folder');
  });

  it('names a missing image as missing, and imports nothing onto it', () => {
    const one = store.getImageByPath('one.png')!;
    store.addAnnotation({ imageId: one.id, categoryId: null, rle: toCompressedString(encode(rectMask(H, W, 0, 0, 4, 4), H, W)), height: H, width: W, area: 16, bbox: [0, 0, 4, 4], source: 'manual' });
    new Database(store.dbPath).prepare('UPDATE images SET missing_since = 1 WHERE id = ?').run(one.id);
    const report = importCoco(store, file([{ id: 1, file_name: 'one.png' }]));
    expect(report.skipped[0]).toMatchObject({ what: 'image', id: 1, reason: expect.stringMatching(/^image "one\.png" is missing/) });
    expect(store.listAnnotations({ imageId: one.id })).toHaveLength(1);
  });

  it('a file whose every annotation is skipped creates no category; a file of categories alone does', () => {
    const report = importCoco(store, file([{ id: 1, file_name: 'nowhere.png' }]));
    expect(report).toMatchObject({ annotations: 0, categoriesCreated: 0 });
    expect(store.getCategoryByName('thing')).toBeUndefined();
    const labels = importCoco(store, { images: [], annotations: [], categories: [{ id: 1, name: 'thing' }, { id: 2, name: 'other' }] });
    expect(labels.categoriesCreated).toBe(2);
  });
});
