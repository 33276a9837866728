// countHoles works on runs (the cycle count of touching column segments); these tests hold it to a pixel
// flood fill kept here as the reference, and to the hole rings maskToPolygons traces, on random masks.
import { describe, expect, it } from 'vitest';
import { countHoles, decode, encode, fillHoles, hasHoles, maskToPolygons, type Rle } from '../../src/shared/masks';
import { blobMask, randomMask, rng } from './helpers';

/** Background regions (4-connected) that do not reach the border, by flood fill on the pixels. */
function referenceCountHoles(rle: Rle): number {
  const { h, w } = rle;
  const m = decode(rle);
  const seen = new Uint8Array(h * w);
  const stack: number[] = [];
  const flood = (start: number): boolean => {
    let border = false;
    seen[start] = 1;
    stack.push(start);
    while (stack.length) {
      const p = stack.pop()!;
      const x = p % w, y = (p - x) / w;
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1) border = true;
      for (const [nx, ny] of [[x - 1, y], [x + 1, y], [x, y - 1], [x, y + 1]]) {
        if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
        const q = ny * w + nx;
        if (!m[q] && !seen[q]) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
    return border;
  };
  let holes = 0;
  for (let p = 0; p < h * w; p++) if (!m[p] && !seen[p] && !flood(p)) holes++;
  return holes;
}

describe('countHoles on runs', () => {
  it('matches the pixel flood fill and the traced hole rings on random masks', () => {
    const R = rng(31);
    let withHoles = 0;
    for (let i = 0; i < 400; i++) {
      const h = 1 + Math.floor(R() * 40), w = 1 + Math.floor(R() * 40);
      const m = i % 2 ? randomMask(R, h, w) : blobMask(R, h, w, 1 + Math.floor(R() * 5), R() * 0.3);
      const r = encode(m, h, w);
      const want = referenceCountHoles(r);
      expect(countHoles(r)).toBe(want);
      expect(hasHoles(r)).toBe(want > 0);
      expect(maskToPolygons(r).reduce((n, p) => n + p.holes.length, 0)).toBe(want);
      expect(countHoles(fillHoles(r))).toBe(0);
      if (want > 0) withHoles++;
    }
    expect(withHoles).toBeGreaterThan(100); // the masks exercised holes, not only their absence
  });

  it('counts holes that touch only diagonally, one-pixel holes, and rings around rings', () => {
    const cases: [string[], number][] = [
      [['###', '#.#', '###'], 1],
      [['.#.', '#.#', '.#.'], 1], // a diamond of diagonal neighbours encloses the centre
      [['##.', '#.#', '.##'], 1],
      [['#####', '#...#', '#.#.#', '#...#', '#####'], 1],
      [['#######', '#.....#', '#.###.#', '#.#.#.#', '#.###.#', '#.....#', '#######'], 2],
      [['####', '#..#', '####', '#..#', '####'], 2],
      [['#.#', '.#.', '#.#'], 0], // diagonal background never leaks, but here every gap reaches the border
      [['....', '....'], 0],
    ];
    for (const [rows, holes] of cases) {
      const h = rows.length, w = rows[0].length;
      const m = Uint8Array.from(rows.join(''), (c) => (c === '#' ? 1 : 0));
      const r = encode(m, h, w);
      expect(countHoles(r)).toBe(holes);
      expect(referenceCountHoles(r)).toBe(holes);
    }
  });
});
