import { describe, expect, it } from 'vitest';
import { area, bbox, decode, emptyRle, encode, fullRle, intersect, iou, subtract, union, unionAll, type Rle } from '../../src/shared/masks';
import { isCanonical, maskOf, randomMask, rng } from './helpers';

// Pixel-level truth to compare the run-level operations against.
function pixelOp(a: Uint8Array, b: Uint8Array, f: (x: number, y: number) => number): Uint8Array {
  return a.map((v, i) => f(v, b[i]));
}

// Same pixels, spelt with zero-length runs sprinkled in (legal COCO, never produced by us).
function withZeroRuns(r: Rle, R: () => number): Rle {
  const out: number[] = [];
  for (const c of r.counts) {
    out.push(c);
    if (R() < 0.3) out.push(0, 0);
  }
  return { h: r.h, w: r.w, counts: Uint32Array.from(out) };
}

describe('set operations on runs', () => {
  it('match pixel-level truth on random masks, with canonical output', () => {
    const R = rng(21);
    for (let i = 0; i < 300; i++) {
      const h = 1 + Math.floor(R() * 30), w = 1 + Math.floor(R() * 30);
      const a = randomMask(R, h, w), b = randomMask(R, h, w);
      let ra = encode(a, h, w), rb = encode(b, h, w);
      if (i % 2) { ra = withZeroRuns(ra, R); rb = withZeroRuns(rb, R); }
      const checks: [Rle, Uint8Array][] = [
        [union(ra, rb), pixelOp(a, b, (x, y) => (x || y ? 1 : 0))],
        [intersect(ra, rb), pixelOp(a, b, (x, y) => (x && y ? 1 : 0))],
        [subtract(ra, rb), pixelOp(a, b, (x, y) => (x && !y ? 1 : 0))],
      ];
      for (const [got, want] of checks) {
        expect(got.h).toBe(h);
        expect(got.w).toBe(w);
        expect(Array.from(got.counts)).toEqual(Array.from(encode(want, h, w).counts));
        expect(isCanonical(got.counts)).toBe(true);
      }
      const inter = checks[1][1].reduce((s, v) => s + v, 0), uni = checks[0][1].reduce((s, v) => s + v, 0);
      expect(iou(ra, rb)).toBe(inter === 0 ? 0 : inter / uni);
      expect(area(ra)).toBe(a.reduce((s, v) => s + (v ? 1 : 0), 0));
    }
  });

  it('unionAll equals pixel OR of many masks', () => {
    const R = rng(22);
    for (let n = 1; n <= 9; n++) {
      const h = 17, w = 23;
      const ms = Array.from({ length: n }, () => randomMask(R, h, w));
      const want = new Uint8Array(h * w);
      for (const m of ms) m.forEach((v, i) => { if (v) want[i] = 1; });
      const got = unionAll(ms.map((m) => withZeroRuns(encode(m, h, w), R)));
      expect(Array.from(got.counts)).toEqual(Array.from(encode(want, h, w).counts));
    }
    expect(() => unionAll([])).toThrow(RangeError);
  });

  it('handles empty and full masks', () => {
    const e = emptyRle(3, 4), f = fullRle(3, 4);
    expect(Array.from(union(e, e).counts)).toEqual([12]);
    expect(Array.from(union(e, f).counts)).toEqual([0, 12]);
    expect(Array.from(intersect(e, f).counts)).toEqual([12]);
    expect(Array.from(subtract(f, e).counts)).toEqual([0, 12]);
    expect(Array.from(subtract(f, f).counts)).toEqual([12]);
    expect(iou(e, e)).toBe(0);
    expect(iou(f, f)).toBe(1);
  });

  it('throws on size mismatch', () => {
    expect(() => union(emptyRle(3, 4), emptyRle(4, 3))).toThrow(/sizes differ/);
    expect(() => intersect(emptyRle(3, 4), emptyRle(3, 5))).toThrow(RangeError);
    expect(() => iou(emptyRle(3, 4), emptyRle(4, 3))).toThrow(RangeError);
  });
});

describe('bbox', () => {
  it('hand-checked boxes', () => {
    expect(bbox(emptyRle(5, 6))).toEqual([0, 0, 0, 0]);
    expect(bbox(fullRle(5, 6))).toEqual([0, 0, 6, 5]);
    expect(bbox(encode(maskOf(5, 6, (x, y) => x === 2 && y === 3), 5, 6))).toEqual([2, 3, 1, 1]);
    expect(bbox(encode(maskOf(5, 6, (x, y) => x === 5 && y === 4), 5, 6))).toEqual([5, 4, 1, 1]);
    expect(bbox(encode(maskOf(5, 6, (x, y) => (x === 1 && y === 4) || (x === 2 && y === 0)), 5, 6))).toEqual([1, 0, 2, 5]);
    expect(bbox(encode(maskOf(5, 6, (x, y) => x >= 1 && x <= 3 && y >= 1 && y <= 2), 5, 6))).toEqual([1, 1, 3, 2]);
  });

  it('matches the pixel extent on random masks', () => {
    const R = rng(23);
    for (let i = 0; i < 200; i++) {
      const h = 1 + Math.floor(R() * 30), w = 1 + Math.floor(R() * 30);
      const m = randomMask(R, h, w);
      let x0 = w, y0 = h, x1 = -1, y1 = -1;
      m.forEach((v, k) => {
        if (!v) return;
        const x = k % w, y = Math.floor(k / w);
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      });
      const want = x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
      expect(bbox(encode(m, h, w))).toEqual(want);
      expect(decode(encode(m, h, w))).toEqual(m);
    }
  });
});
