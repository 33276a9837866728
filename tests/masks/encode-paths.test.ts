// encode walks the columns of dense masks and sorts the vertical transitions of sparse ones; both must give
// exactly what a plain per-pixel column walk (kept here as the reference) gives, at every density, for widths
// that are and are not multiples of four, and for masks that are views into a larger buffer.
import { describe, expect, it } from 'vitest';
import { encode } from '../../src/shared/masks';
import { rng } from './helpers';

function referenceEncode(mask: Uint8Array, h: number, w: number): number[] {
  const counts: number[] = [];
  let prev = 0, run = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      const v = mask[y * w + x] ? 1 : 0;
      if (v !== prev) {
        counts.push(run);
        run = 0;
        prev = v;
      }
      run++;
    }
  }
  counts.push(run);
  return counts;
}

describe('encode on dense and sparse masks', () => {
  it('equals the per-pixel column walk from blank to pure noise', () => {
    const R = rng(41);
    for (let i = 0; i < 300; i++) {
      const h = 1 + Math.floor(R() * 70), w = 1 + Math.floor(R() * 70);
      // Flip probability from 0 to 0.5 spans masks on both sides of the dense/sparse choice; values other than
      // 1 count as inside too.
      const flip = (i % 20) / 40;
      const m = new Uint8Array(h * w);
      let v = 0;
      for (let p = 0; p < h * w; p++) {
        if (R() < flip || (flip === 0 && R() < 0.01)) v ^= 1;
        m[p] = v ? 1 + Math.floor(R() * 255) : 0;
      }
      expect(Array.from(encode(m, h, w).counts)).toEqual(referenceEncode(m, h, w));
      // The same pixels at an odd offset in a larger buffer.
      const big = new Uint8Array(h * w + 3);
      big.set(m, 1);
      expect(Array.from(encode(big.subarray(1, 1 + h * w), h, w).counts)).toEqual(referenceEncode(m, h, w));
    }
  });

  it('a dense mask after a sparse one, and the other way round, each gets exactly its own runs', () => {
    const R = rng(42);
    const h = 64, w = 48;
    const noise = Uint8Array.from({ length: h * w }, () => (R() < 0.5 ? 1 : 0));
    const square = Uint8Array.from({ length: h * w }, (_, p) => ((p % w) > 10 && (p % w) < 30 && p / w > 5 && p / w < 40 ? 1 : 0));
    for (const m of [noise, square, noise, square]) expect(Array.from(encode(m, h, w).counts)).toEqual(referenceEncode(m, h, w));
  });
});
