// Plain mask PNGs both ways. The exported PNGs are decoded by a PNG reader written here (zlib and PNG's five row
// filters, not sharp or the project's code); a round trip keeps every mask exactly, overlaps and holes included;
// binary PNGs of another tool (RGB, named <n>_<category>.png, no masks.json) import with nothing skipped; instance
// images alone import through masks.json; bad folders are refused whole and change nothing.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { inflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/core/cli/main';
import { exportDataset, importDataset } from '../../src/core/formats/dataset';
import { DatasetFileError } from '../../src/core/formats/dataset/errors';
import { FileRefusedError } from '../../src/core/formats/files';
import { ProjectStore, indexFolder } from '../../src/core/project';
import { area, bbox, decode, encode, fromCompressedString, toCompressedString } from '../../src/shared/masks';
import { snapshot } from '../helpers/db';
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


/** A grey PNG (colour type 0, 8 or 16 bits, not interlaced) decoded from the PNG specification: chunks, zlib, row filters. */
function readGreyPng(file: string): { depth: number; w: number; h: number; values: number[] } {
  const b = readFileSync(file);
  expect(b.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  let w = 0, h = 0, depth = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < b.length; ) {
    const len = b.readUInt32BE(at), type = b.toString('latin1', at + 4, at + 8), data = b.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') {
      [w, h, depth] = [data.readUInt32BE(0), data.readUInt32BE(4), data[8]!];
      expect([data[9], data[12]]).toEqual([0, 0]); // grey, not interlaced
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const bpp = depth / 8, stride = w * bpp;
  const rows: Uint8Array[] = [];
  for (let y = 0; y < h; y++) {
    const filter = raw[y * (stride + 1)]!, src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = new Uint8Array(stride), up = rows[y - 1] ?? new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? row[i - bpp]! : 0, c = i >= bpp ? up[i - bpp]! : 0, u = up[i]!;
      const p = a + u - c, pa = Math.abs(p - a), pb = Math.abs(p - u), pc = Math.abs(p - c);
      const pred = [0, a, u, (a + u) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? u : c][filter]!;
      row[i] = (src[i]! + pred) & 255;
    }
    rows.push(row);
  }
  const values = rows.flatMap((r) => Array.from({ length: w }, (_, x) => (depth === 16 ? (r[2 * x]! << 8) | r[2 * x + 1]! : r[x]!)));
  return { depth, w, h, values };
}

const key = (m: ArrayLike<number | boolean>) => createHash('sha1').update(Uint8Array.from(m, (v) => (v ? 1 : 0))).digest('hex');

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
const over = rectMask(H, W, 25, 25, 35, 35);
const frame = clearRect(rectMask(H, W, 5, 5, 30, 30), W, 10, 10, 20, 20);

function annotate(s: ProjectStore) {
  const cat = s.addCategory({ name: 'cat' });
  const odd = s.addCategory({ name: 'a/b: "c"' });
  add(s, 'one.png', cat.id, disk);
  add(s, 'one.png', odd.id, over); // overlaps the disk and wins in the instance image
  add(s, 'sub/two.jpg', odd.id, frame);
  const none = add(s, 'sub/two.jpg', null, rectMask(H, W, 40, 40, 44, 44));
  return { none };
}

describe('mask PNG export', () => {
  it('writes one binary PNG per mask, a 16-bit instance image per image and masks.json naming the categories', async () => {
    const { none } = annotate(store);
    const out = join(dir.path, 'masks-out');
    const report = await exportDataset(store, 'masks', out);
    expect(report).toMatchObject({ images: 2, annotations: 3, categories: 2, overlapped: 1, leftOut: [] });
    expect(report.skipped).toEqual([{ annotationId: none.id, reason: 'no category assigned (a mask file is named with its category)' }]);
    expect(readdirSync(join(out, 'masks/one')).sort()).toEqual(['1_cat.png', '2_a_b_ _c_.png']);
    expect(readdirSync(join(out, 'masks/sub/two'))).toEqual(['1_a_b_ _c_.png']);

    const m1 = readGreyPng(join(out, 'masks/one/1_cat.png'));
    expect([m1.depth, m1.w, m1.h]).toEqual([8, W, H]);
    expect(new Set(m1.values)).toEqual(new Set([0, 255]));
    expect(key(m1.values)).toBe(key(disk)); // the whole disk: binary masks keep overlaps
    expect(key(readGreyPng(join(out, 'masks/one/2_a_b_ _c_.png')).values)).toBe(key(over));
    expect(key(readGreyPng(join(out, 'masks/sub/two/1_a_b_ _c_.png')).values)).toBe(key(frame)); // hole kept

    const ids = readGreyPng(join(out, 'instances/one.png'));
    expect(ids.depth).toBe(16);
    expect(key(ids.values.map((v) => v === 2))).toBe(key(over));
    expect(key(ids.values.map((v) => v === 1))).toBe(key(Array.from(disk, (v, p) => v && !over[p])));
    expect(new Set(ids.values)).toEqual(new Set([0, 1, 2]));

    const index = JSON.parse(readFileSync(join(out, 'masks.json'), 'utf8'));
    expect(index.format).toBe('difflabel-masks');
    expect(index.images.map((i: { image: string; instances: string }) => [i.image, i.instances])).toEqual([['one.png', 'instances/one.png'], ['sub/two.jpg', 'instances/sub/two.png']]);
    expect(index.images[0].objects.map((o: { id: number; category: string; mask: string }) => [o.id, o.category, o.mask])).toEqual([
      [1, 'cat', 'masks/one/1_cat.png'],
      [2, 'a/b: "c"', 'masks/one/2_a_b_ _c_.png'],
    ]);
  });

  it('replaces its own files and refuses a masks.json or PNG that is not one of them', async () => {
    annotate(store);
    const out = join(dir.path, 'masks-out');
    await exportDataset(store, 'masks', out);
    await expect(exportDataset(store, 'masks', out)).resolves.toMatchObject({ annotations: 3 });
    writeFileSync(join(out, 'masks.json'), '{"mine": true}');
    await expect(exportDataset(store, 'masks', out)).rejects.toThrow(FileRefusedError);
    rmSync(join(out, 'masks.json'));
    writeFileSync(join(out, 'masks/one/1_cat.png'), await sharp({ create: { width: 4, height: 4, channels: 3, background: 'red' } }).png().toBuffer());
    await expect(exportDataset(store, 'masks', out)).rejects.toThrow(/1_cat\.png exists and is not a 8-bit grey mask PNG/);
  });
});

describe('mask PNG import', () => {
  it('round trip: the export imports into a fresh project as the same masks with the exact category names, twice adds nothing', async () => {
    annotate(store);
    const out = join(dir.path, 'masks-out');
    await exportDataset(store, 'masks', out);
    const q = await project(join(dir.path, 'q'));
    try {
      const report = await importDataset(q, out);
      expect(report).toEqual({ images: 2, annotations: 3, categoriesCreated: 2, labelFiles: 3, skipped: [] });
      expect(projectMasks(q, 'one.png')).toEqual(projectMasks(store, 'one.png'));
      expect(projectMasks(q, 'sub/two.jpg')).toEqual([`a/b: "c" ${key(frame)}`]);
      const again = await importDataset(q, out, 'masks');
      expect(again.annotations).toBe(0);
      expect(again.skipped.map((s) => s.reason)).toEqual(['already in the project', 'already in the project', 'already in the project']);
    } finally {
      q.close();
    }
  });

  it("imports another tool's RGB masks named <n>_<category>.png without masks.json, nothing skipped; bad files skipped with reasons", async () => {
    const root = join(dir.path, 'other');
    const rgb = async (file: string, m: Uint8Array, w = W, h = H) => {
      const data = Buffer.alloc(w * h * 3);
      for (let p = 0; p < m.length; p++) if (m[p]) data[3 * p] = 200; // red on black
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, await sharp(data, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer());
    };
    await rgb(join(root, 'masks/one/1_car.png'), disk);
    await rgb(join(root, 'masks/one/2_person.png'), over);
    await rgb(join(root, 'masks/sub/two/7_car.png'), frame);
    expect(await importDataset(store, root)).toEqual({ images: 2, annotations: 3, categoriesCreated: 2, labelFiles: 3, skipped: [] });
    expect(projectMasks(store, 'one.png')).toEqual([`car ${key(disk)}`, `person ${key(over)}`].sort());

    await rgb(join(root, 'masks/one/car.png'), disk);
    await rgb(join(root, 'masks/one/3_small.png'), disk.subarray(0, 16 * 16), 16, 16);
    await rgb(join(root, 'masks/nothere/1_car.png'), disk);
    const r = await importDataset(store, root, 'masks');
    expect(r.annotations).toBe(0);
    expect(r.skipped).toEqual(
      expect.arrayContaining([
        { file: 'masks/one/car.png', line: null, reason: 'not named <number>_<category>.png' },
        { file: 'masks/one/3_small.png', line: null, reason: `size 16×16 but the image is ${W}×${H}` },
        { file: 'masks/nothere/1_car.png', line: null, reason: 'no image "nothere.*" in the project (index the folder first if the image is new)' },
      ]),
    );
  });

  it('reads the instance images through masks.json when there is no masks/ folder, and skips files masks.json does not list', async () => {
    annotate(store);
    const out = join(dir.path, 'masks-out');
    await exportDataset(store, 'masks', out);
    // A file an earlier export left: not listed, so not read.
    writeFileSync(join(out, 'masks/one/3_cat.png'), readFileSync(join(out, 'masks/one/1_cat.png')));
    const q = await project(join(dir.path, 'q'));
    try {
      const r = await importDataset(q, out);
      expect(r.annotations).toBe(3);
      expect(r.skipped).toEqual([{ file: 'masks/one/3_cat.png', line: null, reason: 'not listed in masks.json (left by an earlier export?): not read' }]);
    } finally {
      q.close();
    }
    rmSync(join(out, 'masks'), { recursive: true });
    const s = await project(join(dir.path, 's'));
    try {
      expect(await importDataset(s, out)).toEqual({ images: 2, annotations: 3, categoriesCreated: 2, labelFiles: 2, skipped: [] });
      // One label per pixel: the disk comes back less what the later mask took.
      expect(projectMasks(s, 'one.png')).toEqual([`cat ${key(Array.from(disk, (v, p) => v && !over[p]))}`, `a/b: "c" ${key(over)}`].sort());
    } finally {
      s.close();
    }
  });

  it('refuses a folder without masks/ or instances/, instances/ without masks.json and a malformed masks.json, changing nothing', async () => {
    annotate(store);
    const out = join(dir.path, 'masks-out');
    await exportDataset(store, 'masks', out);
    const q = await project(join(dir.path, 'q'));
    try {
      const before = snapshot(q);
      const empty = join(dir.path, 'empty');
      mkdirSync(empty);
      await expect(importDataset(q, empty, 'masks')).rejects.toThrow(/no masks\/ or instances\/ folder/);
      writeFileSync(join(out, 'masks.json'), '{"format": "difflabel-masks", "images": [{"objects": [{"id": 0}]}]}');
      await expect(importDataset(q, out)).rejects.toThrow(DatasetFileError);
      writeFileSync(join(out, 'masks.json'), '{"format": ');
      await expect(importDataset(q, out)).rejects.toThrow(DatasetFileError);
      rmSync(join(out, 'masks'), { recursive: true });
      rmSync(join(out, 'masks.json'));
      await expect(importDataset(q, out, 'masks')).rejects.toThrow(/instances\/ without masks\.json/);
      expect(snapshot(q)).toBe(before);
      expect(q.listCategories()).toEqual([]);
    } finally {
      q.close();
    }
  });
});

describe('mask PNGs from the command line', () => {
  const io = () => {
    let text = '';
    const sink = new Writable({ write: (c, _e, done) => ((text += String(c)), done()) });
    return { io: { out: sink, err: sink } as unknown as Parameters<typeof main>[1], text: () => text };
  };

  it('exports with --format masks and imports the folder back without --format', async () => {
    annotate(store);
    store.close();
    const out = join(dir.path, 'ds');
    let o = io();
    expect(await main(['export', join(dir.path, 'p'), '--format', 'masks', '--out', out], o.io)).toBe(3);
    expect(o.text()).toContain(`wrote ${out}: 2 images, 3 masks as 3 mask PNGs, 2 classes`);
    expect(existsSync(join(out, 'instances/sub/two.png'))).toBe(true);
    const q = join(dir.path, 'q');
    (await project(q)).close();
    o = io();
    expect(await main(['import', q, out], o.io)).toBe(0);
    expect(o.text()).toContain('imported 3 annotations from 3 files on 2 images; 2 categories created; 0 skipped');
    store = ProjectStore.open(join(dir.path, 'p'));
  });
});
