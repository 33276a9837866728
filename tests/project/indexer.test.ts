import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EXPORT_MARKER, ProjectStore, THUMB_SIZE, indexFolder, readImageRgb, readThumbnail, thumbnailPath, type IndexReport,
} from '../../src/core/project';
import { bmp24, forgedPng, noise, solid, twoFrameGif } from './fixtures';
import { tempFolder } from './helpers';

let t: ReturnType<typeof tempFolder>;
let store: ProjectStore;
let first: IndexReport;
const progress: Array<[number, number, string]> = [];
const bmpPixels = Uint8Array.from({ length: 17 * 9 * 3 }, (_, i) => (i * 37) % 256);

const put = (rel: string, data: Buffer | string) => {
  mkdirSync(join(t.dir, rel, '..'), { recursive: true });
  writeFileSync(join(t.dir, rel), data);
};

beforeAll(async () => {
  t = tempFolder('difflabel-index-');
  put('a/photo.jpg', await noise(640, 480).jpeg().toBuffer());
  put('a/b/alpha.png', await solid(50, 40, '#00000000', 4).png().toBuffer());
  put('c.webp', await solid(30, 20, '#00ff00').webp().toBuffer());
  put('a/b/deep/d.tiff', await solid(33, 44, '#0000ff').tiff().toBuffer());
  put('e.bmp', bmp24(17, 9, bmpPixels));
  put('anim.gif', await twoFrameGif(20, 10));
  put('really-png.jpg', await solid(12, 8, '#ffffff').png().toBuffer());
  put('scan0001', await solid(7, 5, '#808080').png().toBuffer());
  // Left half red, right half blue, stored sideways: EXIF 6 means "rotate 90° clockwise to display".
  const sideways = Buffer.alloc(40 * 20 * 3);
  for (let i = 0; i < 40 * 20; i++) sideways.set(i % 40 < 20 ? [255, 0, 0] : [0, 0, 255], i * 3);
  put('rotated.jpg', await sharp(sideways, { raw: { width: 40, height: 20, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer());
  put('notes.txt', 'just some notes');
  put('empty.dat', '');
  put('text.png', 'this is text, not a PNG');
  put('random.jpg', Buffer.from(Array.from({ length: 500 }, (_, i) => (i * 13 + 7) % 256)));
  const good = await noise(64, 64).png().toBuffer();
  const broken = Buffer.from(good);
  for (let i = 100; i < 140; i++) broken[i] = broken[i]! ^ 0x5a; // inside IDAT: the header still reads
  put('corrupt.png', broken);
  const jpg = await noise(200, 150, 7).jpeg().toBuffer();
  put('trunc.jpg', jpg.subarray(0, Math.floor(jpg.length * 0.6)));
  const png = await noise(200, 150, 9).png().toBuffer();
  put('trunc.png', png.subarray(0, Math.floor(png.length * 0.6)));
  put('empty.jpg', '');
  put('bomb.png', forgedPng(30000, 30000));
  put('.hidden/secret.png', await solid(5, 5, '#000000').png().toBuffer());
  // A dataset DiffLabel exported into the folder is not the project's images; the root itself may hold the marker.
  put('export/voc/SegmentationClass/photo.png', await solid(6, 6, '#ff0000').png().toBuffer());
  put(`export/voc/${EXPORT_MARKER}`, '');
  put(EXPORT_MARKER, '');
  symlinkSync('..', join(t.dir, 'a', 'loop')); // a symlink loop back to the root
  store = ProjectStore.open(t.dir);
  first = await indexFolder(store, { onProgress: (d, n, p) => progress.push([d, n, p]) });
});

afterAll(() => {
  store?.close();
  t?.cleanup();
});

const OK: Array<[string, number, number, string]> = [
  ['a/b/alpha.png', 50, 40, 'png'],
  ['a/b/deep/d.tiff', 33, 44, 'tiff'],
  ['a/photo.jpg', 640, 480, 'jpeg'],
  ['anim.gif', 20, 10, 'gif'],
  ['c.webp', 30, 20, 'webp'],
  ['e.bmp', 17, 9, 'bmp'],
  ['really-png.jpg', 12, 8, 'png'],
  ['rotated.jpg', 20, 40, 'jpeg'],
  ['scan0001', 7, 5, 'png'],
];

describe('indexing a folder', () => {
  it('indexes exactly the images, by content, with their displayed sizes', () => {
    const rows = store.listImages({ status: 'unlabeled' });
    expect(rows.map((r) => [r.path, r.width, r.height, r.format])).toEqual(OK);
    const photo = store.getImageByPath('a/photo.jpg')!;
    const bytes = readFileSync(join(t.dir, 'a/photo.jpg'));
    expect(photo.sha1).toBe(createHash('sha1').update(bytes).digest('hex'));
    expect(photo.bytes).toBe(bytes.length);
    expect(first.added).toBe(OK.length);
    expect(first.updated + first.removed + first.unchanged).toBe(0);
  });

  it('records each broken file with its reason and ignores non-images without an image name', () => {
    const failed = Object.fromEntries(first.failed.map((f) => [f.path, f.reason]));
    expect(Object.keys(failed).sort()).toEqual(['bomb.png', 'corrupt.png', 'empty.jpg', 'random.jpg', 'text.png', 'trunc.jpg', 'trunc.png']);
    expect(failed['empty.jpg']).toBe('empty file');
    expect(failed['text.png']).toBe('not an image');
    expect(failed['random.jpg']).toBe('not an image');
    expect(failed['bomb.png']).toBe('too large: 30000×30000 pixels exceeds the limit of 250000000');
    expect(failed['corrupt.png']).toMatch(/^corrupt image: .+/);
    expect(failed['trunc.jpg']).toMatch(/^corrupt image: .*premature end/i);
    expect(failed['trunc.png']).toMatch(/^corrupt image: .+/);
    const errors = store.listImages({ status: 'error' });
    expect(errors.map((r) => [r.path, r.error])).toEqual(Object.entries(failed).sort(([a], [b]) => (a < b ? -1 : 1)));
    expect(store.getImageByPath('bomb.png')).toMatchObject({ width: 30000, height: 30000, format: 'png' });
    for (const p of ['notes.txt', 'empty.dat', '.hidden/secret.png', 'a/loop/c.webp']) expect(store.getImageByPath(p)).toBeUndefined();
    expect(store.countImages()).toBe(OK.length + 7);
  });

  it('reports progress for every file found', () => {
    const total = OK.length + 7 + 2; // + notes.txt, empty.dat
    expect(progress.map(([d]) => d)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(new Set(progress.map(([, n]) => n))).toEqual(new Set([total]));
    expect(progress.map(([, , p]) => p).sort()).toContain('scan0001');
  });

  it('makes thumbnails with the longest side at most 256', async () => {
    const m = await sharp(thumbnailPath(store, store.getImageByPath('a/photo.jpg')!.id)).metadata();
    expect([m.format, m.width, m.height]).toEqual(['webp', THUMB_SIZE, 192]);
    const rot = await sharp(thumbnailPath(store, store.getImageByPath('rotated.jpg')!.id)).metadata();
    expect([rot.width, rot.height]).toEqual([20, 40]);
    expect(existsSync(thumbnailPath(store, store.getImageByPath('bomb.png')!.id))).toBe(false);
    const id = store.getImageByPath('c.webp')!.id;
    rmSync(thumbnailPath(store, id));
    const again = await readThumbnail(store, id);
    expect((await sharp(again).metadata()).width).toBe(30);
    expect(existsSync(thumbnailPath(store, id))).toBe(true);
  });

  it('reads pixels as sRGB with orientation applied', async () => {
    const bmp = await readImageRgb(store, store.getImageByPath('e.bmp')!.id);
    expect([bmp.width, bmp.height]).toEqual([17, 9]);
    expect(Buffer.from(bmp.data).equals(Buffer.from(bmpPixels))).toBe(true);
    const rot = await readImageRgb(store, store.getImageByPath('rotated.jpg')!.id);
    expect([rot.width, rot.height, rot.data.length]).toEqual([20, 40, 20 * 40 * 3]);
    const px = (x: number, y: number) => Array.from(rot.data.subarray((y * 20 + x) * 3, (y * 20 + x) * 3 + 3));
    expect(px(10, 5)[0]).toBeGreaterThan(200); // top: red
    expect(px(10, 5)[2]).toBeLessThan(60);
    expect(px(10, 35)[2]).toBeGreaterThan(200); // bottom: blue
    expect(px(10, 35)[0]).toBeLessThan(60);
    const gif = await readImageRgb(store, store.getImageByPath('anim.gif')!.id);
    expect([gif.width, gif.height, ...gif.data.subarray(0, 3)]).toEqual([20, 10, 255, 0, 0]); // first frame
    const alpha = await readImageRgb(store, store.getImageByPath('a/b/alpha.png')!.id);
    expect(Array.from(alpha.data.subarray(0, 3))).toEqual([255, 255, 255]); // transparent → white
    const grey = await readImageRgb(store, store.getImageByPath('scan0001')!.id);
    expect(Array.from(grey.data.subarray(0, 3))).toEqual([128, 128, 128]);
    await expect(readImageRgb(store, store.getImageByPath('bomb.png')!.id)).rejects.toThrow(/could not be read/);
  });

  it('re-indexes incrementally: unchanged, added, changed, fixed, touched and deleted files', async () => {
    const before = store.listImages();
    const again = await indexFolder(store);
    expect(again).toMatchObject({ added: 0, updated: 0, removed: 0, unchanged: before.length, failed: [], moved: [], missing: [], setAside: [] });
    expect(store.listImages()).toEqual(before);

    const photo = store.getImageByPath('a/photo.jpg')!;
    const webp = store.getImageByPath('c.webp')!;
    const keep = store.addAnnotation({ imageId: photo.id, categoryId: null, rle: '0d1', width: 640, height: 480, area: 3, bbox: [0, 0, 1, 3], source: 'manual' });
    const onWebp = store.addAnnotation({ imageId: webp.id, categoryId: null, rle: '0d1', width: 30, height: 20, area: 3, bbox: [0, 0, 1, 3], source: 'manual' });
    const scan = store.getImageByPath('scan0001')!;

    put('a/new.png', await solid(9, 9, '#123456').png().toBuffer());
    put('a/photo.jpg', await noise(640, 480, 42).jpeg().toBuffer()); // same size, new content
    utimesSync(join(t.dir, 'a/photo.jpg'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    put('text.png', await solid(6, 3, '#ff0000').png().toBuffer()); // fixed
    utimesSync(join(t.dir, 'e.bmp'), new Date(2002, 1, 1), new Date(2002, 1, 1)); // touched only
    rmSync(join(t.dir, 'c.webp')); // annotated: kept as missing
    rmSync(join(t.dir, 'scan0001')); // no work on it: removed

    const r = await indexFolder(store);
    expect(r).toMatchObject({ added: 1, updated: 2, removed: 1, unchanged: before.length - 4, failed: [], setAside: [] });
    expect(r.missing).toEqual([{ path: 'c.webp', annotations: 1, since: expect.any(Number) }]);
    expect(store.getImageByPath('c.webp')).toMatchObject({ id: webp.id, missingSince: expect.any(Number), annotationCount: 1 });
    expect(existsSync(thumbnailPath(store, webp.id))).toBe(true); // the grid still shows it
    expect(store.getImageByPath('scan0001')).toBeUndefined();
    expect(existsSync(thumbnailPath(store, scan.id))).toBe(false);
    expect(store.getImageByPath('a/new.png')).toMatchObject({ width: 9, height: 9, status: 'unlabeled' });
    const changed = store.getImageByPath('a/photo.jpg')!;
    expect(changed.sha1).not.toBe(photo.sha1);
    expect(changed.sha1).toBe(createHash('sha1').update(readFileSync(join(t.dir, 'a/photo.jpg'))).digest('hex'));
    expect(changed.status).toBe('in_progress');
    expect(store.listAnnotations().map((a) => a.id)).toEqual([keep.id, onWebp.id]);
    expect(store.getImageByPath('text.png')).toMatchObject({ width: 6, height: 3, status: 'unlabeled', error: null, format: 'png' });
    expect(store.getImageByPath('e.bmp')!.mtimeMs).toBe(new Date(2002, 1, 1).getTime());

    // A file replaced by one of another size cannot hold its masks: they are set aside.
    put('a/photo.jpg', await noise(320, 240, 5).jpeg().toBuffer());
    const r2 = await indexFolder(store);
    expect(r2).toMatchObject({ added: 0, updated: 1, removed: 0 });
    expect(r2.setAside).toEqual([{ path: 'a/photo.jpg', annotations: 1, width: 320, height: 240, was: { width: 640, height: 480 } }]);
    expect(store.getImageByPath('a/photo.jpg')).toMatchObject({ width: 320, height: 240, annotationCount: 0 });
    expect(store.listAnnotations().map((a) => a.id)).toEqual([onWebp.id]);
    expect(store.stats()).toMatchObject({ setAside: 1, missing: 1 });
  });

  it('stops when cancelled', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(indexFolder(store, { signal: ac.signal })).rejects.toThrow(/abort/i);
  });
});
