import { describe, expect, it } from 'vitest';
import { area, connectedComponents, decode, encode, unionAll } from '../../src/shared/masks';

/** Reference labelling by flood fill on pixels (8-connectivity). */
function pixelComponents(m: Uint8Array, h: number, w: number): number {
  const seen = new Uint8Array(h * w);
  let n = 0;
  for (let i = 0; i < h * w; i++) {
    if (!m[i] || seen[i]) continue;
    n++;
    const stack = [i];
    seen[i] = 1;
    while (stack.length) {
      const p = stack.pop()!;
      const y = Math.floor(p / w), x = p % w;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy, xx = x + dx;
          if (yy < 0 || xx < 0 || yy >= h || xx >= w) continue;
          const q = yy * w + xx;
          if (m[q] && !seen[q]) (seen[q] = 1), stack.push(q);
        }
    }
  }
  return n;
}

function grid(rows: string[]): { m: Uint8Array; h: number; w: number } {
  const h = rows.length, w = rows[0]!.length;
  const m = new Uint8Array(h * w);
  rows.forEach((r, y) => [...r].forEach((c, x) => (m[y * w + x] = c === '#' ? 1 : 0)));
  return { m, h, w };
}

describe('connectedComponents', () => {
  it('splits hand-drawn parts, joins diagonals, keeps holes inside their part', () => {
    const { m, h, w } = grid([
      '##....#',
      '##...#.',
      '.....#.',
      '###....',
      '#.#...#',
      '###...#',
    ]);
    const parts = connectedComponents(encode(m, h, w));
    expect(parts.map(area)).toEqual([8, 4, 3, 2]); // ring with a hole, square, diagonal line, bottom-right bar
    expect(decode(unionAll(parts))).toEqual(m);
    const ring = decode(parts[0]!);
    expect(ring[4 * w + 1]).toBe(0);
  });

  it('handles runs that wrap across column edges, full and empty masks', () => {
    const { m, h, w } = grid(['.#', '.#', '##']); // column 0 bottom joins column 1 top in one RLE run
    expect(connectedComponents(encode(m, h, w)).map(area)).toEqual([4]);
    expect(connectedComponents(encode(new Uint8Array(12), 3, 4))).toEqual([]);
    expect(connectedComponents(encode(new Uint8Array(12).fill(1), 3, 4)).map(area)).toEqual([12]);
  });

  it('agrees with pixel flood fill on random masks', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let t = 0; t < 60; t++) {
      const h = 5 + Math.floor(rand() * 30), w = 5 + Math.floor(rand() * 30);
      const m = new Uint8Array(h * w).map(() => (rand() < 0.35 ? 1 : 0));
      const parts = connectedComponents(encode(m, h, w));
      expect(parts.length).toBe(pixelComponents(m, h, w));
      expect(decode(unionAll(parts.length ? parts : [encode(new Uint8Array(h * w), h, w)]))).toEqual(m);
      for (const p of parts) expect(pixelComponents(decode(p), h, w)).toBe(1);
    }
  });
});
