import { describe, expect, it } from 'vitest';
import { area, encode, intersect, rleEquals } from '../../src/shared/masks';
import { decodeCrop, encodeCrop } from '../../src/shared/masks/crop';
import { applyStroke } from '../../src/renderer/src/canvas/raster';
import { maskOf, randomMask, rng } from './helpers';

describe('pixel windows (decodeCrop / encodeCrop)', () => {
  it('a window round-trips to the mask inside it, for every kind of window (full height and width too)', () => {
    const R = rng(51);
    for (let i = 0; i < 400; i++) {
      const h = 1 + Math.floor(R() * 12), w = 1 + Math.floor(R() * 12);
      const m = encode(randomMask(R, h, w), h, w);
      // Every third window spans the full height, where runs may go on from one column into the next.
      const y0 = i % 3 ? Math.floor(R() * h) : 0, ch = i % 3 ? 1 + Math.floor(R() * (h - y0)) : h;
      const x0 = Math.floor(R() * w), cw = 1 + Math.floor(R() * (w - x0));
      const pad = Math.floor(R() * 2);
      const inWindow = encode(maskOf(h, w, (x, y) => x >= x0 && x < x0 + cw && y >= y0 && y < y0 + ch), h, w);
      const back = encodeCrop(decodeCrop(m, x0, y0, cw, ch, pad), h, w);
      expect(rleEquals(back, intersect(m, inWindow)), `mask ${i}: window ${x0},${y0} ${cw}×${ch} pad ${pad}`).toBe(true);
    }
  });

  it('a full-height window whose last column ends with a set pixel stops there', () => {
    // 3 columns × 2 rows; the window is column 0, its bottom pixel set: one pixel, not the rest of the image.
    const back = encodeCrop({ grid: Uint8Array.from([0, 1]), W: 1, H: 2, x0: 0, y0: 0, pad: 0 }, 2, 3);
    expect(Array.from(back.counts)).toEqual([1, 1, 4]);
  });

  it('so a brush dab on an image as short as the brush covers the disc only', () => {
    const dab = applyStroke(null, 3, 10, [{ x: 0.5, y: 1.5 }], 3, true);
    const disc = encode(maskOf(3, 10, (x, y) => (x + 0.5 - 0.5) ** 2 + (y + 0.5 - 1.5) ** 2 <= 1.5 ** 2), 3, 10);
    expect(area(dab)).toBe(area(disc));
    expect(rleEquals(dab, disc)).toBe(true);
  });
});
