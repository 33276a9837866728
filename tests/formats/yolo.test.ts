// YOLO both ways. The exported dataset is read back by a reader written here (point-in-polygon at pixel
// centres, not the project's rasteriser); a dataset written here in Ultralytics' layout imports with nothing
// skipped; bad datasets are refused whole or line by line with their reasons, and a refused one changes nothing.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/core/cli/main';
import { FileRefusedError } from '../../src/core/formats/files';
import { DatasetFileError } from '../../src/core/formats/dataset/errors';
import { writeYolo } from '../../src/core/formats/yolo/export';
import { importYolo } from '../../src/core/formats/yolo/import';
import { ProjectStore, indexFolder } from '../../src/core/project';
import { area, bbox, decode, encode, fromCompressedString, toCompressedString } from '../../src/shared/masks';
import { snapshot } from '../helpers/db';
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

function add(s: ProjectStore, path: string, categoryId: number | null, mask: Uint8Array, h = H, w = W) {
  const rle = encode(mask, h, w);
  return s.addAnnotation({
    imageId: s.getImageByPath(path)!.id, categoryId, rle: toCompressedString(rle), height: h, width: w, area: area(rle), bbox: bbox(rle), source: 'manual',
  });
}

/** Row counts and a content hash of every table, read through a second connection. */

// ---- an independent YOLO reader: names from the block list, lines rasterised at pixel centres

function readNamesList(yaml: string): string[] {
  const at = yaml.split('\n').findIndex((l) => l === 'names:');
  return yaml.split('\n').slice(at + 1).filter((l) => l.startsWith('  - ')).map((l) => JSON.parse(l.slice(4)) as string);
}

/** Pixels whose centre lies inside the polygon (even-odd), or inside the box. */
function rasterise(values: number[], h: number, w: number): Uint8Array {
  const m = new Uint8Array(h * w);
  if (values.length === 4) {
    const [cx, cy, bw, bh] = values;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const px = (x + 0.5) / w, py = (y + 0.5) / h;
        if (Math.abs(px - cx) < bw / 2 && Math.abs(py - cy) < bh / 2) m[y * w + x] = 1;
      }
    return m;
  }
  const xs = values.filter((_, i) => i % 2 === 0).map((v) => v * w), ys = values.filter((_, i) => i % 2 === 1).map((v) => v * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const px = x + 0.5, py = y + 0.5;
      let inside = false;
      for (let i = 0, j = xs.length - 1; i < xs.length; j = i++)
        if (ys[i] > py !== ys[j] > py && px < ((xs[j] - xs[i]) * (py - ys[i])) / (ys[j] - ys[i]) + xs[i]) inside = !inside;
      if (inside) m[y * w + x] = 1;
    }
  return m;
}

function readLabels(file: string, h: number, w: number): Array<{ cls: number; mask: Uint8Array; numbers: number }> {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => {
    const [cls, ...v] = l.split(' ').map(Number);
    for (const x of v) expect(x >= 0 && x <= 1, l).toBe(true);
    return { cls: cls!, mask: rasterise(v, h, w), numbers: v.length };
  });
}

const key = (m: Uint8Array) => createHash('sha1').update(m).digest('hex');

/** The masks the project's annotations of one image decode to, by category name. */
function projectMasks(s: ProjectStore, path: string): Array<{ name: string; mask: Uint8Array }> {
  const names = new Map(s.listCategories().map((c) => [c.id, c.name]));
  return s.listAnnotations({ imageId: s.getImageByPath(path)!.id }).map((a) => ({ name: names.get(a.categoryId!)!, mask: decode(fromCompressedString(a.rle, a.height, a.width)) }));
}

beforeEach(async () => {
  dir = tempDir();
  store = await project(join(dir.path, 'p'));
});
afterEach(() => {
  store.close();
  dir.cleanup();
});

/** A disk, two rectangles as one mask, a frame with a hole, and a mask without category. */
function annotate(s: ProjectStore) {
  const cat = s.addCategory({ name: 'cat' });
  const dog = s.addCategory({ name: 'dog "big"' });
  add(s, 'one.png', cat.id, diskMask(H, W, 20, 20, 12));
  add(s, 'one.png', dog.id, rectMask(H, W, 40, 5, 50, 15, rectMask(H, W, 52, 30, 60, 44)));
  add(s, 'sub/two.jpg', dog.id, clearRect(rectMask(H, W, 5, 5, 30, 30), W, 10, 10, 20, 20));
  const none = add(s, 'sub/two.jpg', null, rectMask(H, W, 40, 40, 44, 44));
  return { cat, dog, none };
}

describe('YOLO export', () => {
  it('writes data.yaml and one label file per image; segmentation lines decode to each piece, holes filled', async () => {
    const { none } = annotate(store);
    const out = join(dir.path, 'ds');
    const report = await writeYolo(store, out, 'seg');
    expect(report).toEqual({
      images: 3, annotations: 3, lines: 4, categories: 2, holesFilled: 1, overlapped: 0,
      skipped: [{ annotationId: none.id, reason: 'no category assigned (a YOLO line needs a class)' }], leftOut: [],
    });
    const yaml = readFileSync(join(out, 'data.yaml'), 'utf8');
    expect(readNamesList(yaml)).toEqual(['cat', 'dog "big"']);
    expect(yaml).toContain(`train: ${JSON.stringify(store.folder)}`);
    expect(readFileSync(join(out, 'labels/three.txt'), 'utf8')).toBe('');

    const one = readLabels(join(out, 'labels/one.txt'), H, W);
    expect(one.map((l) => l.cls)).toEqual([0, 1, 1]);
    expect(key(one[0]!.mask)).toBe(key(diskMask(H, W, 20, 20, 12)));
    expect(new Set(one.slice(1).map((l) => key(l.mask)))).toEqual(new Set([key(rectMask(H, W, 40, 5, 50, 15)), key(rectMask(H, W, 52, 30, 60, 44))]));
    const two = readLabels(join(out, 'labels/sub/two.txt'), H, W);
    expect(two).toHaveLength(1);
    expect(key(two[0]!.mask)).toBe(key(rectMask(H, W, 5, 5, 30, 30)));
  });

  it('writes detection lines as the masks’ boxes', async () => {
    annotate(store);
    const out = join(dir.path, 'ds');
    const report = await writeYolo(store, out, 'det');
    expect(report.lines).toBe(3);
    const one = readLabels(join(out, 'labels/one.txt'), H, W);
    expect(one.map((l) => [l.cls, l.numbers, pixelBbox(l.mask, H, W)])).toEqual([
      [0, 4, pixelBbox(diskMask(H, W, 20, 20, 12), H, W)],
      [1, 4, [40, 5, 20, 39]],
    ]);
  });

  it('refuses the project’s database folder, a file as the folder, and a label file that is not one; it replaces its own', async () => {
    annotate(store);
    await expect(writeYolo(store, join(store.folder, '.difflabel', 'ds'), 'seg')).rejects.toThrow(FileRefusedError);
    writeFileSync(join(dir.path, 'file'), 'x');
    await expect(writeYolo(store, join(dir.path, 'file'), 'seg')).rejects.toThrow(/is not a folder/);
    await expect(writeYolo(store, join(dir.path, 'no/such/ds'), 'seg')).rejects.toThrow(/folder not found/);
    const out = join(dir.path, 'ds');
    mkdirSync(join(out, 'labels'), { recursive: true });
    writeFileSync(join(out, 'labels/one.txt'), 'my notes, not labels');
    await expect(writeYolo(store, out, 'seg')).rejects.toThrow(/exists and is not a YOLO label file/);
    expect(readFileSync(join(out, 'labels/one.txt'), 'utf8')).toBe('my notes, not labels');
    writeFileSync(join(out, 'labels/one.txt'), '0 0.5 0.5 0.1 0.1\n');
    await writeYolo(store, out, 'seg');
    await writeYolo(store, out, 'det');
    expect(readLabels(join(out, 'labels/one.txt'), H, W).map((l) => l.numbers)).toEqual([4, 4]);
  });
});

describe('YOLO import', () => {
  it('round trip: an exported dataset imports into a fresh project as the same pieces, nothing skipped', async () => {
    annotate(store);
    const out = join(dir.path, 'ds');
    await writeYolo(store, out, 'seg');
    const other = await project(join(dir.path, 'q'));
    try {
      const report = await importYolo(other, out);
      expect(report).toEqual({ images: 2, annotations: 4, categoriesCreated: 2, labelFiles: 3, skipped: [] });
      const got = projectMasks(other, 'one.png').map((m) => `${m.name} ${key(m.mask)}`).sort();
      const want = [
        `cat ${key(diskMask(H, W, 20, 20, 12))}`, `dog "big" ${key(rectMask(H, W, 40, 5, 50, 15))}`, `dog "big" ${key(rectMask(H, W, 52, 30, 60, 44))}`,
      ].sort();
      expect(got).toEqual(want);
      expect(projectMasks(other, 'sub/two.jpg').map((m) => count(m.mask))).toEqual([625]);
      // Importing again adds nothing.
      const again = await importYolo(other, join(out, 'data.yaml'));
      expect(again.annotations).toBe(0);
      expect(again.skipped.map((s) => s.reason)).toEqual(Array(4).fill('already in the project'));
    } finally {
      other.close();
    }
  });

  it('imports an Ultralytics-layout dataset (map names, comments, seg and det lines) with zero skipped', async () => {
    const root = join(dir.path, 'u');
    await writeImage(join(root, 'images/train/a.png'), 100, 50);
    await writeImage(join(root, 'images/val/b.jpg'), 40, 40, 'jpeg');
    mkdirSync(join(root, 'labels/train'), { recursive: true });
    mkdirSync(join(root, 'labels/val'), { recursive: true });
    writeFileSync(join(root, 'coco8-seg.yaml'), ['# dataset', 'path: ../datasets/u', 'train: images/train', 'val: images/val', 'names:', '  0: person # people', "  1: 'traffic light'", ''].join('\n'));
    // A triangle with vertices on pixel corners, a box, and a polygon given with 7 decimals.
    writeFileSync(join(root, 'labels/train/a.txt'), '0 0.1 0.2 0.5 0.2 0.1 0.8\r\n1 0.5 0.5 0.2 0.4\n\n');
    writeFileSync(join(root, 'labels/val/b.txt'), '1 0.125 0.125 0.875 0.125 0.875 0.875 0.125 0.875\n');
    const s = ProjectStore.open(root);
    try {
      await indexFolder(s);
      const report = await importYolo(s, root);
      expect(report).toEqual({ images: 2, annotations: 3, categoriesCreated: 2, labelFiles: 2, skipped: [] });
      expect(s.listCategories().map((c) => c.name)).toEqual(['person', 'traffic light']);
      const [triangle, box] = s.listAnnotations({ imageId: s.getImageByPath('images/train/a.png')!.id });
      expect(key(decode(fromCompressedString(triangle!.rle, 50, 100)))).toBe(key(rasterise([0.1, 0.2, 0.5, 0.2, 0.1, 0.8], 50, 100)));
      // A detection line is a box.
      expect(box).toMatchObject({ shape: 'box', bbox: [40, 15, 20, 20], area: 400, categoryId: s.getCategoryByName('traffic light')!.id });
      expect(key(projectMasks(s, 'images/val/b.jpg')[0]!.mask)).toBe(key(rectMask(40, 40, 5, 5, 35, 35)));
    } finally {
      s.close();
    }
  });

  it('skips bad lines and unmatched label files with their reasons and imports the rest', async () => {
    const ds = join(dir.path, 'ds');
    mkdirSync(join(ds, 'labels'), { recursive: true });
    writeFileSync(join(ds, 'data.yaml'), 'names: [cat, dog]\n');
    writeFileSync(join(ds, 'labels/one.txt'), [
      '0 0.1 0.1 0.5 0.1 0.5 0.5', '2 0.5 0.5 0.1 0.1', '0 0.5 0.5 0.1', '0 0.5 0.5 1.5 0.1', 'x 0.5 0.5 0.1 0.1', '1 0.5 0.5 0.001 0.001', '0 0.5 0.5 NaN 0.1', '1 0.5 0.5 0.25 0.25',
    ].join('\n'));
    writeFileSync(join(ds, 'labels/nothing.txt'), '0 0.5 0.5 0.1 0.1\n');
    const report = await importYolo(store, ds);
    expect(report.annotations).toBe(3); // the tiny box (6) is a box all the same
    expect(report.categoriesCreated).toBe(2);
    expect(report.skipped).toEqual([
      { file: 'labels/nothing.txt', line: null, reason: 'no image "nothing.*" in the project (index the folder first if the image is new)' },
      { file: 'labels/one.txt', line: 2, reason: "class 2 is not in data.yaml's names (2 classes)" },
      { file: 'labels/one.txt', line: 3, reason: '3 numbers after the class: a box has 4, a polygon an even count of at least 6' },
      { file: 'labels/one.txt', line: 4, reason: 'value 3 is not a normalised coordinate (a number in 0…1)' },
      { file: 'labels/one.txt', line: 5, reason: 'the class is not a class index (a whole number from 0)' },
      { file: 'labels/one.txt', line: 7, reason: 'value 3 is not a normalised coordinate (a number in 0…1)' },
    ]);
  });

  it('refuses a dataset without data.yaml, names or labels, and one whose every line is bad, changing nothing', async () => {
    annotate(store);
    const before = snapshot(store);
    const ds = join(dir.path, 'ds');
    mkdirSync(ds);
    await expect(importYolo(store, ds)).rejects.toThrow(new DatasetFileError(`no data.yaml in ${ds} (a YOLO dataset names its classes there)`));
    writeFileSync(join(ds, 'data.yaml'), 'path: .\ntrain: images\n');
    await expect(importYolo(store, ds)).rejects.toThrow(/has no "names"/);
    writeFileSync(join(ds, 'data.yaml'), 'names:\n  0: a\n  2: c\n');
    await expect(importYolo(store, ds)).rejects.toThrow(/class 1 has no name/);
    writeFileSync(join(ds, 'data.yaml'), 'names: [new1, new2]\n');
    await expect(importYolo(store, ds)).rejects.toThrow(/no labels folder/);
    mkdirSync(join(ds, 'labels'));
    writeFileSync(join(ds, 'labels/one.txt'), '5 0.5 0.5 0.1 0.1\n');
    const report = await importYolo(store, ds);
    expect(report.skipped).toHaveLength(1);
    await expect(importYolo(store, join(dir.path, 'missing'))).rejects.toThrow(/not found/);
    expect(snapshot(store)).toBe(before);
  });
});

describe('YOLO from the command line', () => {
  const io = () => {
    let text = '';
    const sink = new Writable({ write: (c, _e, done) => ((text += String(c)), done()) });
    return { io: { out: sink, err: sink } as unknown as Parameters<typeof main>[1], text: () => text };
  };

  it('exports with --format yolo-seg and imports a folder as YOLO without --format', async () => {
    annotate(store);
    store.close();
    const out = join(dir.path, 'ds');
    let o = io();
    expect(await main(['export', join(dir.path, 'p'), '--format', 'yolo-seg', '--out', out], o.io)).toBe(3);
    expect(o.text()).toContain('wrote');
    expect(o.text()).toContain('1 masks with holes were written filled');
    expect(readdirSync(join(out, 'labels')).sort()).toEqual(['one.txt', 'sub', 'three.txt']);
    const q = join(dir.path, 'q');
    (await project(q)).close();
    o = io();
    expect(await main(['import', q, out], o.io)).toBe(0);
    expect(o.text()).toContain('imported 4 annotations from 3 files on 2 images; 2 categories created; 0 skipped');
    store = ProjectStore.open(join(dir.path, 'p'));
    expect(existsSync(join(out, 'data.yaml'))).toBe(true);
  });
});
