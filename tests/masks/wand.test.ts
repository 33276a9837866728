import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import sharp from 'sharp';
import { MagicWand, area, bbox, encode, rleEquals, type Rle } from '../../src/shared/masks';
import { decodeCrop } from '../../src/shared/masks/crop';
import { rng } from './helpers';

/** The definition, as plainly as it can be written: 4-connected BFS over pixels within the tolerance in every channel. */
function oracle(rgba: Uint8Array, w: number, h: number, sx: number, sy: number, t: number): Rle {
  const s = (sy * w + sx) * 4;
  const near = (p: number) => [0, 1, 2].every((c) => Math.abs(rgba[p * 4 + c]! - rgba[s + c]!) <= t);
  const m = new Uint8Array(w * h);
  const queue = [sy * w + sx];
  m[queue[0]!] = 1;
  while (queue.length) {
    const p = queue.shift()!;
    const x = p % w, y = (p - x) / w;
    for (const [nx, ny] of [[x - 1, y], [x + 1, y], [x, y - 1], [x, y + 1]] as const) {
      const q = ny * w + nx;
      if (nx >= 0 && ny >= 0 && nx < w && ny < h && !m[q] && near(q)) {
        m[q] = 1;
        queue.push(q);
      }
    }
  }
  return encode(m, h, w);
}

/** RGBA noise over a few flat patches, so regions both stop at edges and leak through noise. */
function randomImage(R: () => number, w: number, h: number): Uint8Array {
  const px = new Uint8Array(w * h * 4);
  const patches = Array.from({ length: 4 }, () => ({ x: R() * w, y: R() * h, rgb: [R() * 255, R() * 255, R() * 255] }));
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const near = patches.reduce((a, b) => ((a.x - x) ** 2 + (a.y - y) ** 2 <= (b.x - x) ** 2 + (b.y - y) ** 2 ? a : b));
      for (let c = 0; c < 3; c++) px[(y * w + x) * 4 + c] = Math.max(0, Math.min(255, Math.round(near.rgb[c]! + (R() - 0.5) * 60)));
      px[(y * w + x) * 4 + 3] = 255;
    }
  return px;
}

describe('MagicWand (the region at every tolerance, computed as the tolerance is asked for)', () => {
  it('gives exactly the flood fill at each tolerance, asked for in any order', () => {
    const R = rng(41);
    for (let i = 0; i < 40; i++) {
      const w = 1 + Math.floor(R() * 30), h = 1 + Math.floor(R() * 30);
      const px = randomImage(R, w, h);
      const sx = Math.floor(R() * w), sy = Math.floor(R() * h);
      const wand = new MagicWand(px, w, h, sx, sy);
      // Up, down, and jumps: the region only ever grows with the tolerance, lower ones are read back.
      for (const t of [10, 3, 40, 0, 255, 25, 70, 40]) {
        const want = oracle(px, w, h, sx, sy, t);
        const got = wand.rle(t);
        expect(rleEquals(got, want), `image ${i}, tolerance ${t}`).toBe(true);
        expect(wand.area(t)).toBe(area(want));
        expect(wand.bbox(t)).toEqual(bbox(want));
      }
    }
  });

  it('on the cat photo: the fur seed of the browser test, at the tolerances it uses', async () => {
    const { data, info } = await sharp(join(__dirname, '..', 'images', 'chelsea.png')).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const px = new Uint8Array(data.buffer, data.byteOffset, data.length);
    const wand = new MagicWand(px, info.width, info.height, 240, 40);
    // Measured: 69 pixels at 24 (the old default), 799 at 32.
    expect(wand.area(24)).toBe(69);
    expect(wand.area(32)).toBe(799);
    for (const t of [0, 24, 32, 36, 44]) expect(rleEquals(wand.rle(t), oracle(px, info.width, info.height, 240, 40, t)), `tolerance ${t}`).toBe(true);
  });

  it('crop(t) is the region inside its bbox, with the asked-for blank border', () => {
    const px = new Uint8Array(6 * 4 * 4);
    for (const [x, y] of [[2, 1], [3, 1], [3, 2]]) px[(y * 6 + x) * 4] = 200; // an L of red on black
    const wand = new MagicWand(px, 6, 4, 3, 1);
    const c = wand.crop(0, 1);
    expect([c.x0, c.y0, c.W, c.H, c.pad]).toEqual([2, 1, 4, 4, 1]);
    expect(Array.from(c.grid)).toEqual(Array.from(decodeCrop(wand.rle(0), 2, 1, 2, 2, 1).grid));
    expect(Array.from(c.grid)).toEqual([0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
  });

  it('crop(t, pad, step) samples the top-left pixel of every step×step block, for a cheap preview', () => {
    const R = rng(42);
    for (let i = 0; i < 20; i++) {
      const w = 5 + Math.floor(R() * 40), h = 5 + Math.floor(R() * 40), step = 2 + Math.floor(R() * 3);
      const px = randomImage(R, w, h);
      const wand = new MagicWand(px, w, h, Math.floor(R() * w), Math.floor(R() * h));
      const exact = wand.crop(60), cells = wand.crop(60, 1, step);
      expect([cells.x0, cells.y0, cells.W, cells.H]).toEqual([exact.x0, exact.y0, Math.ceil(exact.W / step) + 2, Math.ceil(exact.H / step) + 2]);
      for (let y = 0; y < cells.H; y++)
        for (let x = 0; x < cells.W; x++) {
          const inside = x > 0 && y > 0 && x < cells.W - 1 && y < cells.H - 1;
          const want = inside ? exact.grid[(y - 1) * step * exact.W + (x - 1) * step]! : 0;
          expect(cells.grid[y * cells.W + x], `image ${i} cell ${x},${y}`).toBe(want);
        }
    }
  });

  it('refuses a seed outside the image, a tolerance outside 0–255 and too few pixels', () => {
    const px = new Uint8Array(4 * 3 * 4);
    expect(() => new MagicWand(px, 4, 3, 4, 0)).toThrow(RangeError);
    expect(() => new MagicWand(px, 4, 3, 0, -1)).toThrow(RangeError);
    expect(() => new MagicWand(px.subarray(4), 4, 3, 0, 0)).toThrow(RangeError);
    const wand = new MagicWand(px, 4, 3, 1, 1);
    expect(() => wand.area(256)).toThrow(RangeError);
    expect(() => wand.rle(1.5)).toThrow(RangeError);
    expect(wand.area(0)).toBe(12);
  });
});
