// Pascal VOC both ways. The label images are read back here with sharp and VOC's colour map computed here; a
// round trip keeps every mask, holes included; a VOC folder made here (grey index PNGs, no XML) imports with
// nothing skipped; bad folders are refused whole, bad files skipped with their reasons.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatasetFileError } from '../../src/core/formats/dataset/errors';
import { exportDataset, importDataset } from '../../src/core/formats/dataset';
import { ProjectStore, indexFolder } from '../../src/core/project';
import { area, bbox, decode, encode, fromCompressedString, toCompressedString } from '../../src/shared/masks';
import { snapshot } from '../helpers/db';
import { tempDir, writeImage } from '../helpers/folder';
import { clearRect, diskMask, pixelBbox, rectMask } from '../helpers/masks';

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


/** VOC devkit's colour map, written out here: bit j of the index goes to bit 7 - j/3 of r, g, b in turn. */
function colour(i: number): string {
  const c = [0, 0, 0];
  for (let bit = 0; bit < 8; bit++) for (let ch = 0; ch < 3; ch++) if ((i >> (3 * bit + ch)) & 1) c[ch]! |= 1 << (7 - bit);
  return c.join(',');
}
const byColour = new Map(Array.from({ length: 256 }, (_, i) => [colour(i), i]));

async function readLabelPng(file: string): Promise<Uint8Array> {
  const meta = await sharp(file).metadata();
  expect(meta.format).toBe('png');
  expect(meta.isPalette).toBe(true);
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height, info.channels]).toEqual([W, H, 3]);
  const out = new Uint8Array(W * H);
  for (let p = 0; p < W * H; p++) out[p] = byColour.get(`${data[3 * p]},${data[3 * p + 1]},${data[3 * p + 2]}`)!;
  return out;
}

const key = (m: Uint8Array) => createHash('sha1').update(m).digest('hex');
const where = (m: Uint8Array, v: number) => m.map((x) => (x === v ? 1 : 0));

function projectMasks(s: ProjectStore, path: string): string[] {
  const names = new Map(s.listCategories().map((c) => [c.id, c.name]));
  return s.listAnnotations({ imageId: s.getImageByPath(path)!.id }).map((a) => `${names.get(a.categoryId!)} ${key(decode(fromCompressedString(a.rle, a.height, a.width)))}`).sort();
}

beforeEach(async () => {
  dir = tempDir();
  store = await project(join(dir.path, 'p'));
});
afterEach(() => {
  store.close();
  dir.cleanup();
});

const disk = diskMask(H, W, 20, 20, 12);
const rects = rectMask(H, W, 40, 5, 50, 15, rectMask(H, W, 52, 30, 60, 44));
const frame = clearRect(rectMask(H, W, 5, 5, 30, 30), W, 10, 10, 20, 20);

function annotate(s: ProjectStore) {
  const cat = s.addCategory({ name: 'cat' });
  const dog = s.addCategory({ name: 'dog & <co>' });
  add(s, 'one.png', cat.id, disk);
  add(s, 'one.png', dog.id, rects);
  add(s, 'sub/two.jpg', dog.id, frame);
  const none = add(s, 'sub/two.jpg', null, rectMask(H, W, 40, 40, 44, 44));
  return { none };
}

describe('VOC export', () => {
  it('writes XML objects with 1-based boxes and palette PNGs of class and object indices', async () => {
    const { none } = annotate(store);
    // Overlaps the disk: it wins where they meet.
    add(store, 'one.png', 1, rectMask(H, W, 25, 25, 35, 35));
    const out = join(dir.path, 'voc');
    const report = await exportDataset(store, 'voc', out);
    expect(report).toMatchObject({ images: 2, annotations: 4, lines: 4, categories: 2, overlapped: 1, leftOut: [] });
    expect(report.skipped).toEqual([{ annotationId: none.id, reason: 'no category assigned (a VOC object needs a class)' }]);
    const xml = readFileSync(join(out, 'Annotations/one.xml'), 'utf8');
    const objects = [...xml.matchAll(/<object><name>([^<]*)<\/name>.*?<xmin>(\d+)<\/xmin><ymin>(\d+)<\/ymin><xmax>(\d+)<\/xmax><ymax>(\d+)<\/ymax>/g)].map((m) => m.slice(1));
    const b = pixelBbox(disk, H, W);
    expect(objects).toEqual([
      ['cat', String(b[0] + 1), String(b[1] + 1), String(b[0] + b[2]), String(b[1] + b[3])],
      ['dog &amp; &lt;co&gt;', '41', '6', '60', '44'],
      ['cat', '26', '26', '35', '35'],
    ]);
    const obj = await readLabelPng(join(out, 'SegmentationObject/one.png'));
    const cls = await readLabelPng(join(out, 'SegmentationClass/one.png'));
    const overMask = rectMask(H, W, 25, 25, 35, 35);
    expect(key(where(obj, 3))).toBe(key(overMask));
    expect(key(where(obj, 2))).toBe(key(rects));
    expect(key(where(obj, 1))).toBe(key(disk.map((v, p) => (v && !overMask[p] ? 1 : 0))));
    expect(key(where(cls, 1))).toBe(key(disk.map((v, p) => (v || overMask[p] ? 1 : 0))));
    expect(key(where(cls, 2))).toBe(key(rects));
    expect(key(where(await readLabelPng(join(out, 'SegmentationObject/sub/two.png')), 1))).toBe(key(frame));
    expect(readFileSync(join(out, 'labelmap.txt'), 'utf8')).toBe(`# label:color_rgb:parts:actions\nbackground:0,0,0::\ncat:${colour(1)}::\ndog & <co>:${colour(2)}::\n`);
    expect(readFileSync(join(out, 'ImageSets/Segmentation/default.txt'), 'utf8')).toBe('one\nsub/two\n');
  });

  it('replaces its own label images but refuses another PNG', async () => {
    annotate(store);
    const out = join(dir.path, 'voc');
    await exportDataset(store, 'voc', out);
    await exportDataset(store, 'voc', out);
    await writeImage(join(out, 'SegmentationClass/one.png'), W, H);
    await expect(exportDataset(store, 'voc', out)).rejects.toThrow(/exists and is not a VOC label image/);
  });
});

describe('VOC import', () => {
  it('round trip: every mask comes back, holes included, nothing skipped', async () => {
    annotate(store);
    const out = join(dir.path, 'voc');
    await exportDataset(store, 'voc', out);
    const other = await project(join(dir.path, 'q'));
    try {
      const report = await importDataset(other, out);
      expect(report).toEqual({ images: 2, annotations: 3, categoriesCreated: 2, labelFiles: 2, skipped: [] });
      expect(projectMasks(other, 'one.png')).toEqual(projectMasks(store, 'one.png'));
      expect(projectMasks(other, 'sub/two.jpg')).toEqual([`dog & <co> ${key(frame)}`]);
      expect((await importDataset(other, out, 'voc')).skipped.map((s) => s.reason)).toEqual(Array(3).fill('already in the project'));
    } finally {
      other.close();
    }
  });

  it('imports grey index PNGs without XML, classes from labelmap.txt or VOC’s own names, with zero skipped', async () => {
    const voc = join(dir.path, 'voc');
    mkdirSync(join(voc, 'SegmentationObject/sub'), { recursive: true });
    mkdirSync(join(voc, 'SegmentationClass/sub'), { recursive: true });
    const grey = (m: Uint8Array, file: string) => sharp(Buffer.from(m), { raw: { width: W, height: H, channels: 1 } }).toColourspace('b-w').png().toFile(join(voc, file));
    // Object 1 with a 255 border around it (ignored), object 2 of class 3.
    const obj = new Uint8Array(W * H), cls = new Uint8Array(W * H);
    for (let p = 0; p < W * H; p++) {
      if (frame[p]) (obj[p] = 1), (cls[p] = 2);
      else if (rects[p]) (obj[p] = 2), (cls[p] = 3);
    }
    obj[0] = 255;
    await grey(obj, 'SegmentationObject/one.png');
    await grey(cls, 'SegmentationClass/one.png');
    await grey(obj, 'SegmentationObject/sub/two.png');
    await grey(cls, 'SegmentationClass/sub/two.png');
    writeFileSync(join(voc, 'labelmap.txt'), '# label:color_rgb:parts:actions\nbackground:0,0,0::\ncar:1,1,1::\nbus:2,2,2::\nroad:sign:3,3,3::\n');
    let report = await importDataset(store, voc);
    expect(report).toEqual({ images: 2, annotations: 4, categoriesCreated: 2, labelFiles: 2, skipped: [] });
    expect(projectMasks(store, 'one.png')).toEqual([`bus ${key(frame)}`, `road:sign ${key(rects)}`].sort());
    // Without labelmap.txt the indices are VOC's classes (2 bicycle, 3 bird).
    rmSync(join(voc, 'labelmap.txt'));
    const other = await project(join(dir.path, 'q'));
    try {
      report = await importDataset(other, voc);
      expect(report).toEqual({ images: 2, annotations: 4, categoriesCreated: 2, labelFiles: 2, skipped: [] });
      expect(projectMasks(other, 'sub/two.jpg')).toEqual([`bicycle ${key(frame)}`, `bird ${key(rects)}`]);
    } finally {
      other.close();
    }
  });

  it('refuses a folder without SegmentationObject and skips unusable files, changing nothing when all are', async () => {
    annotate(store);
    const before = snapshot(store);
    const voc = join(dir.path, 'voc');
    mkdirSync(voc);
    await expect(importDataset(store, voc, 'voc')).rejects.toThrow(new DatasetFileError(`no SegmentationObject folder in ${voc} (VOC masks are read from its object label images)`));
    mkdirSync(join(voc, 'SegmentationObject'));
    await sharp({ create: { width: W, height: H, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toFile(join(voc, 'SegmentationObject/one.png'));
    await sharp(Buffer.alloc(100, 1), { raw: { width: 10, height: 10, channels: 1 } }).toColourspace('b-w').png().toFile(join(voc, 'SegmentationObject/two.png'));
    writeFileSync(join(voc, 'SegmentationObject/nothing.png'), 'not a png');
    const report = await importDataset(store, voc);
    expect(report.annotations).toBe(0);
    expect(report.skipped).toEqual([
      { file: 'SegmentationObject/nothing.png', line: null, reason: 'no image "nothing.*" in the project (index the folder first if the image is new)' },
      { file: 'SegmentationObject/one.png', line: null, reason: "pixel (0, 0) has a colour outside VOC's colour map" },
      { file: 'SegmentationObject/two.png', line: null, reason: 'size 10×10 but the image is 64×48' },
    ]);
    expect(snapshot(store)).toBe(before);
  });
});
