// Small-fragment clean-up of label maps: islands and holes below the area take their largest neighbour's label.
import { describe, expect, it } from 'vitest';
import { mergeSmallRegions } from '../../src/shared/masks';
import { rng } from '../helpers/random';

const grid = (rows: string[]) => Int32Array.from(rows.join(''), (c) => Number(c));
const show = (l: Int32Array | Uint8Array, w: number) => Array.from({ length: l.length / w }, (_, y) => Array.from(l.subarray(y * w, (y + 1) * w)).join(''));

describe('mergeSmallRegions', () => {
  it('relabels islands and holes smaller than the area with their largest neighbour', () => {
    const l = grid([
      '111112222',
      '131112222',
      '111112422',
      '111112222',
      '000000000',
      '000000000',
    ]);
    expect(mergeSmallRegions(l, 9, 6, 2)).toBe(2);
    expect(show(l, 9)).toEqual(['111112222', '111112222', '111112222', '111112222', '000000000', '000000000']);
  });

  it('keeps regions at or above the area, and diagonal touches are separate regions (4-connectivity)', () => {
    const l = grid(['1100', '1100', '0011', '0011']);
    expect(mergeSmallRegions(l, 4, 4, 4)).toBe(0);
    const d = grid(['100', '010', '001']); // three single 1s touching only diagonally; the 0s form two regions of 3
    expect(mergeSmallRegions(d, 3, 3, 2)).toBe(3);
    expect(show(d, 3).join('').replace(/0/g, '')).toBe('');
  });

  it('a small region inside a small ring goes to the region around the ring', () => {
    const l = grid([
      '00000',
      '01110',
      '01210',
      '01110',
      '00000',
    ]);
    mergeSmallRegions(l, 5, 5, 9); // '2' (1 px) → its only neighbour '1' (8 px, small) → '0' (16 px)
    expect(show(l, 5)).toEqual(['00000', '00000', '00000', '00000', '00000']);
  });

  it('binary masks, and the whole map is never relabelled', () => {
    const m = Uint8Array.from([0, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(mergeSmallRegions(m, 3, 3, 2)).toBe(1);
    expect(Array.from(m)).toEqual(Array(9).fill(0));
    const one = new Int32Array(16).fill(3);
    expect(mergeSmallRegions(one, 4, 4, 100)).toBe(0);
    expect(() => mergeSmallRegions(one, 5, 4, 2)).toThrow(/16 labels for 5×4/);
  });

  it('leaves no region under the area on a random blocky map sprinkled with single pixels', () => {
    const R = rng(3);
    const w = 60, h = 40;
    const l = Int32Array.from({ length: w * h }, () => Math.floor(R() * 3));
    // Blocky: repeat 4×4 blocks so most regions are large, then sprinkle single pixels.
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) l[y * w + x] = l[(y - (y % 4)) * w + (x - (x % 4))]!;
    for (let i = 0; i < 50; i++) l[Math.floor(R() * w * h)] = Math.floor(R() * 3);
    mergeSmallRegions(l, w, h, 5);
    const seen = new Uint8Array(w * h);
    for (let s = 0; s < w * h; s++) {
      if (seen[s]) continue;
      let size = 0;
      const stack = [s];
      seen[s] = 1;
      while (stack.length) {
        const p = stack.pop()!;
        size++;
        const x = p % w, y = (p - x) / w;
        for (const [nx, ny] of [[x - 1, y], [x + 1, y], [x, y - 1], [x, y + 1]] as const) {
          const q = ny * w + nx;
          if (nx >= 0 && nx < w && ny >= 0 && ny < h && !seen[q] && l[q] === l[p]) (seen[q] = 1, stack.push(q));
        }
      }
      expect(size).toBeGreaterThanOrEqual(5);
    }
  });
});
