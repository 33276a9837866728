import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectStore, indexFolder, thumbnailPath, type IndexReport } from '../../src/core/project';
import { noise, solid } from './fixtures';
import { tempFolder } from './helpers';

// What indexing stores for a file (bytes, sha1, displayed size, format) must be what the file's own bytes say,
// read whole and probed by sharp on their own, whatever was read before it: files of one byte size with other
// content, a small file after a large one, every EXIF orientation, 16-bit, CMYK and broken files.
let t: ReturnType<typeof tempFolder>;
let store: ProjectStore;
let report: IndexReport;
const files: string[] = [];

const put = (rel: string, data: Buffer) => {
  mkdirSync(join(t.dir, rel, '..'), { recursive: true });
  writeFileSync(join(t.dir, rel), data);
  files.push(rel);
};

beforeAll(async () => {
  t = tempFolder('difflabel-index-read-');
  for (let o = 1; o <= 8; o++) put(`exif/o${o}.jpg`, await noise(40, 20, o).jpeg().withMetadata({ orientation: o }).toBuffer());
  // Uncompressed PNGs of one size: the same byte count, other pixels.
  for (const [name, colour] of [['red', '#ff0000'], ['green', '#00ff00'], ['blue', '#0000ff']]) {
    put(`same-size/${name}.png`, await solid(64, 48, colour!).png({ compressionLevel: 0 }).toBuffer());
  }
  put('sizes/a-large.png', await noise(900, 700, 3).png().toBuffer());
  put('sizes/b-small.png', await solid(3, 2, '#123456').png().toBuffer());
  put('sizes/c-large.jpg', await noise(1200, 800, 4).jpeg().toBuffer());
  put('sizes/d-small.webp', await solid(5, 4, '#654321').webp().toBuffer());
  put('deep16.png', await noise(30, 20, 5).toColourspace('rgb16').png().toBuffer());
  put('cmyk.jpg', await noise(36, 24, 6).toColourspace('cmyk').jpeg().toBuffer());
  put('rotated.tiff', await noise(24, 12, 7).tiff().withMetadata({ orientation: 8 }).toBuffer());
  const png = await noise(64, 64, 8).png().toBuffer();
  const broken = Buffer.from(png);
  for (let i = 100; i < 140; i++) broken[i] = broken[i]! ^ 0x5a; // inside IDAT: the header still reads
  put('corrupt.png', broken);
  const jpg = await noise(200, 150, 9).jpeg().toBuffer();
  put('trunc.jpg', jpg.subarray(0, Math.floor(jpg.length * 0.6)));
  store = ProjectStore.open(t.dir);
  report = await indexFolder(store);
});

afterAll(() => {
  store?.close();
  t?.cleanup();
});

/** The file's row as its bytes alone say it should be. */
async function expected(rel: string) {
  const bytes = readFileSync(join(t.dir, rel));
  const m = await sharp(bytes).metadata();
  return {
    path: rel, bytes: bytes.length, sha1: createHash('sha1').update(bytes).digest('hex'), format: m.format === 'jpeg' ? 'jpeg' : m.format,
    width: m.autoOrient?.width ?? m.width, height: m.autoOrient?.height ?? m.height,
  };
}

describe('what indexing stores for each file', () => {
  it('equals the size, sha1, format and displayed size of that file alone', async () => {
    expect(report.added + report.failed.length).toBe(files.length);
    for (const rel of files) {
      const row = store.getImageByPath(rel)!;
      expect({ path: row.path, bytes: row.bytes, sha1: row.sha1, format: row.format, width: row.width, height: row.height }).toEqual(await expected(rel));
    }
    expect(report.failed.map((f) => f.path).sort()).toEqual(['corrupt.png', 'trunc.jpg']);
  });

  it('applies EXIF orientation: 5 to 8 swap width and height, in the row and the thumbnail', async () => {
    for (let o = 1; o <= 8; o++) {
      const row = store.getImageByPath(`exif/o${o}.jpg`)!;
      const thumb = await sharp(thumbnailPath(store, row.id)).metadata();
      expect([row.width, row.height, thumb.width, thumb.height]).toEqual(o >= 5 ? [20, 40, 20, 40] : [40, 20, 40, 20]);
    }
  });

  it('makes each thumbnail from its own file, also among files of one byte size', async () => {
    const sizes = new Set(['red', 'green', 'blue'].map((c) => readFileSync(join(t.dir, `same-size/${c}.png`)).length));
    expect(sizes.size).toBe(1);
    for (const [name, rgb] of [['red', [255, 0, 0]], ['green', [0, 255, 0]], ['blue', [0, 0, 255]]] as const) {
      const { data } = await sharp(thumbnailPath(store, store.getImageByPath(`same-size/${name}.png`)!.id)).raw().toBuffer({ resolveWithObject: true });
      expect(Array.from(data.subarray(0, 3)).map((v, i) => Math.abs(v - rgb[i]!) < 8)).toEqual([true, true, true]);
    }
    const small = await sharp(thumbnailPath(store, store.getImageByPath('sizes/b-small.png')!.id)).raw().toBuffer({ resolveWithObject: true });
    expect([small.info.width, small.info.height]).toEqual([3, 2]);
    expect(Array.from(small.data.subarray(0, 3)).map((v, i) => Math.abs(v - [0x12, 0x34, 0x56][i]!) < 8)).toEqual([true, true, true]);
  });
});

describe('a file too large to read', () => {
  it('is recorded as unreadable, with the image name promising an image, without being read', async () => {
    const big = tempFolder('difflabel-index-big-');
    try {
      // Sparse: a PNG signature and header, then holes up to 2 GiB + 1 byte, one more than Node reads into a buffer.
      writeFileSync(join(big.dir, 'huge.png'), await solid(4, 4, '#ffffff').png().toBuffer());
      truncateSync(join(big.dir, 'huge.png'), 2 ** 31);
      const s = ProjectStore.open(big.dir);
      try {
        const r = await indexFolder(s);
        expect(r.failed).toEqual([{ path: 'huge.png', reason: 'unreadable: ERR_FS_FILE_TOO_LARGE' }]);
        expect(s.getImageByPath('huge.png')).toMatchObject({ status: 'error', bytes: 2 ** 31, sha1: null });
      } finally {
        s.close();
      }
    } finally {
      big.cleanup();
    }
  });
});
