import { describe, expect, it } from 'vitest';
import { bbox, decode, encode, emptyRle } from '../../src/shared/masks';
import { maskCells } from '../../src/renderer/src/canvas/sprites';
import { randomMask, rng } from './helpers';

/** The cells by definition: a cell is set when any pixel of its step×step block inside the box is. */
function reference(px: Uint8Array, h: number, w: number, box: number[], step: number) {
  const [bx, by, bw, bh] = box as [number, number, number, number];
  const x0 = Math.floor(bx / step) * step, y0 = Math.floor(by / step) * step;
  const cw = Math.ceil((bx + bw - x0) / step), ch = Math.ceil((by + bh - y0) / step);
  const cells = new Uint8Array((cw + 2) * (ch + 2));
  for (let y = y0; y < Math.min(h, y0 + ch * step); y++)
    for (let x = x0; x < Math.min(w, x0 + cw * step); x++) if (px[y * w + x]) cells[(((y - y0) / step | 0) + 1) * (cw + 2) + ((x - x0) / step | 0) + 1] = 1;
  return { cells, cw, ch, x0, y0 };
}

describe('mask cells at 1/step (the sprites\' and the live mask\'s bitmaps)', () => {
  it('from the runs equal the cells of the decoded pixels, for steps 1 to 8 and any box', () => {
    const R = rng(77);
    for (let i = 0; i < 300; i++) {
      const h = 1 + Math.floor(R() * 30), w = 1 + Math.floor(R() * 30);
      const px = randomMask(R, h, w);
      const m = encode(px, h, w);
      const step = [1, 2, 3, 4, 8][i % 5]!;
      // The mask's bbox (as the canvas asks), or a window inside the image.
      const x = Math.floor(R() * w), y = Math.floor(R() * h);
      const box = i % 2 ? bbox(m) : [x, y, 1 + Math.floor(R() * (w - x)), 1 + Math.floor(R() * (h - y))];
      const got = maskCells(m, box, step);
      if (box[2]! <= 0 || box[3]! <= 0) {
        expect(got).toBeNull();
        continue;
      }
      expect(got, `mask ${i} ${w}×${h} step ${step} box ${box}`).toEqual(reference(decode(m), h, w, box, step));
    }
    expect(maskCells(emptyRle(5, 5), [0, 0, 0, 0], 1)).toBeNull();
  });
});
