import { describe, expect, it } from 'vitest';
import {
  MaskFormatError, area, countHoles, decode, emptyRle, encode, fillHoles, hasHoles, intersect, iou, maskToPolygons, polygonsToRle,
  polygonsWithHolesToRle, rleEquals, subtract, union, type Rle,
} from '../../src/shared/masks';
import { blobMask, maskOf, rng } from './helpers';

const rleOf = (h: number, w: number, f: (x: number, y: number) => boolean) => encode(maskOf(h, w, f), h, w);
const rasterOuters = (r: Rle) => polygonsToRle(maskToPolygons(r).map((p) => p.outer), r.h, r.w);

describe('maskToPolygons (hand-checked)', () => {
  it('traces one pixel as its four corners, clockwise on screen', () => {
    expect(maskToPolygons(rleOf(4, 5, (x, y) => x === 2 && y === 1))).toEqual([{ outer: [3, 1, 3, 2, 2, 2, 2, 1], holes: [] }]);
  });

  it('keeps diagonal neighbours in one ring (8-connectivity) through the shared corner', () => {
    const polys = maskToPolygons(rleOf(3, 3, (x, y) => (x === 0 && y === 0) || (x === 1 && y === 1)));
    expect(polys).toEqual([{ outer: [1, 0, 1, 1, 2, 1, 2, 2, 1, 2, 1, 1, 0, 1, 0, 0], holes: [] }]);
  });

  it('traces a ring with its hole', () => {
    const r = rleOf(5, 5, (x, y) => x >= 1 && x <= 3 && y >= 1 && y <= 3 && !(x === 2 && y === 2));
    expect(maskToPolygons(r)).toEqual([{ outer: [4, 1, 4, 4, 1, 4, 1, 1], holes: [[3, 3, 3, 2, 2, 2, 2, 3]] }]);
    expect(countHoles(r)).toBe(1);
    expect(hasHoles(r)).toBe(true);
  });

  it('separates parts and nested islands into their own polygons', () => {
    // A frame with an island in its hole, plus a separate pixel at the far edge.
    const r = rleOf(7, 9, (x, y) => {
      const d = Math.max(Math.abs(x - 3), Math.abs(y - 3));
      return d === 3 || d === 0 || (x === 8 && y === 6);
    });
    const polys = maskToPolygons(r);
    expect(polys.length).toBe(3);
    expect(polys[0].holes.length).toBe(1);
    expect(polys[1]).toEqual({ outer: [4, 3, 4, 4, 3, 4, 3, 3], holes: [] });
    expect(polys[2]).toEqual({ outer: [9, 6, 9, 7, 8, 7, 8, 6], holes: [] });
    expect(countHoles(r)).toBe(1);
    expect(area(fillHoles(r))).toBe(49 + 1);
  });

  it('a diagonal ring encloses a 4-connected hole', () => {
    const r = rleOf(3, 3, (x, y) => Math.abs(x - 1) + Math.abs(y - 1) === 1);
    const polys = maskToPolygons(r);
    expect(polys.length).toBe(1);
    expect(polys[0].holes).toEqual([[2, 2, 2, 1, 1, 1, 1, 2]]); // counter-clockwise on screen
    expect(countHoles(r)).toBe(1);
    expect(Array.from(decode(fillHoles(r)))).toEqual([0, 1, 0, 1, 1, 1, 0, 1, 0]);
  });

  it('background touching only diagonally is not a hole', () => {
    const r = rleOf(4, 4, (x, y) => (x < 2 && y < 2 ? !(x === 1 && y === 1) : false) || (x === 2 && y === 2));
    expect(countHoles(r)).toBe(0);
    expect(hasHoles(r)).toBe(false);
  });

  it('returns nothing for an empty mask', () => {
    expect(maskToPolygons(emptyRle(4, 4))).toEqual([]);
    expect(countHoles(emptyRle(4, 4))).toBe(0);
    expect(Array.from(fillHoles(emptyRle(4, 4)).counts)).toEqual([16]);
  });
});

describe('polygon round trips through pycocotools rasterisation', () => {
  it('hole-free random blobby masks come back exactly', () => {
    const R = rng(31);
    for (let i = 0; i < 250; i++) {
      const h = 1 + Math.floor(R() * 48), w = 1 + Math.floor(R() * 48);
      const m = fillHoles(encode(blobMask(R, h, w, 1 + Math.floor(R() * 5), i % 3 === 0 ? 0.07 : 0), h, w));
      expect(hasHoles(m)).toBe(false);
      const polys = maskToPolygons(m);
      for (const p of polys) {
        expect(p.holes).toEqual([]);
        expect(p.outer.length).toBeGreaterThanOrEqual(6);
        expect(p.outer.every(Number.isInteger)).toBe(true);
      }
      expect(rleEquals(rasterOuters(m), m)).toBe(true);
    }
  });

  it('masks with holes: outers rasterise to the filled mask, outers minus holes to the mask (polygonsWithHolesToRle)', () => {
    const R = rng(32);
    let holey = 0;
    for (let i = 0; i < 200; i++) {
      const h = 2 + Math.floor(R() * 40), w = 2 + Math.floor(R() * 40);
      const m = encode(blobMask(R, h, w, 1 + Math.floor(R() * 4), 0.12), h, w);
      const polys = maskToPolygons(m);
      const holes = polys.reduce((s, p) => s + p.holes.length, 0);
      expect(holes).toBe(countHoles(m));
      expect(hasHoles(m)).toBe(holes > 0);
      if (holes) holey++;
      expect(rleEquals(rasterOuters(m), fillHoles(m))).toBe(true);
      expect(rleEquals(polygonsWithHolesToRle(polys, h, w), m)).toBe(true);
      for (const p of polys) for (const ring of [p.outer, ...p.holes]) expect(ring.length).toBeGreaterThanOrEqual(6);
    }
    expect(holey).toBeGreaterThan(50);
  });

  it('masks touching every image edge round-trip', () => {
    const r = rleOf(6, 7, (x, y) => x === 0 || y === 0 || x === 6 || y === 5 || (x === 3 && y === 3));
    expect(countHoles(r)).toBe(1); // the island does not split the hole
    expect(maskToPolygons(r).length).toBe(2);
    expect(rleEquals(rasterOuters(r), fillHoles(r))).toBe(true);
    const full = rleOf(6, 7, () => true);
    expect(maskToPolygons(full)).toEqual([{ outer: [7, 0, 7, 6, 0, 6, 0, 0], holes: [] }]);
    expect(rleEquals(rasterOuters(full), full)).toBe(true);
  });
});

describe('polygonsWithHolesToRle (the rings of a mask, edited, back to a mask)', () => {
  // A 30×20 square with a 10×10 hole, a pixel island in the hole, and a second part.
  const outer = [2, 2, 32, 2, 32, 22, 2, 22], hole = [12, 7, 22, 7, 22, 17, 12, 17], island = [16, 11, 17, 11, 17, 12, 16, 12];
  const part = [36, 4, 40, 4, 40, 8, 36, 8];
  const m = rleOf(24, 42, (x, y) => {
    const inOuter = x >= 2 && x < 32 && y >= 2 && y < 22, inHole = x >= 12 && x < 22 && y >= 7 && y < 17;
    return (inOuter && !inHole) || (x === 16 && y === 11) || (x >= 36 && x < 40 && y >= 4 && y < 8);
  });

  it('gives back the traced mask: outer minus holes per polygon, polygons united, islands kept', () => {
    const polys = maskToPolygons(m);
    expect(polys.length).toBe(3);
    expect(polys.reduce((n, p) => n + p.holes.length, 0)).toBe(1);
    expect(rleEquals(polygonsWithHolesToRle(polys, 24, 42), m)).toBe(true);
    expect(rleEquals(polygonsWithHolesToRle([{ outer, holes: [hole] }, { outer: island, holes: [] }, { outer: part, holes: [] }], 24, 42), m)).toBe(true);
  });

  it('an edited hole ring moves the hole, and the other polygons stay as they were', () => {
    const moved = [12, 7, 22, 7, 26, 19, 12, 17]; // one corner of the hole dragged out and down
    const got = polygonsWithHolesToRle([{ outer, holes: [moved] }, { outer: island, holes: [] }, { outer: part, holes: [] }], 24, 42);
    const want = union(union(subtract(polygonsToRle([outer], 24, 42), polygonsToRle([moved], 24, 42)), polygonsToRle([island], 24, 42)), polygonsToRle([part], 24, 42));
    expect(rleEquals(got, want)).toBe(true);
    expect(area(got)).toBeLessThan(area(m));
    expect(decode(got)[11 * 42 + 16]).toBe(1); // the island, pixel (16, 11), row-major
  });

  it('no polygons give an empty mask; bad coordinates are refused as for polygonsToRle', () => {
    expect(Array.from(polygonsWithHolesToRle([], 3, 4).counts)).toEqual([12]);
    expect(() => polygonsWithHolesToRle([{ outer: [0, 0, NaN, 1, 2, 2], holes: [] }], 4, 4)).toThrow(MaskFormatError);
    expect(() => polygonsWithHolesToRle([{ outer, holes: [[0, 0, 1, Infinity, 2, 2]] }], 24, 42)).toThrow(MaskFormatError);
  });
});

describe('simplification (tolerance > 0)', () => {
  // Measured (see benchmarks/rle.ts): at 0.5 only staircase corners go and no pixel changes; at 1
  // a 60 px disk drops from 568 to 48 numbers with 98 pixels changed (IoU 0.991).
  it('shrinks disks and stays within the measured drift', () => {
    for (const radius of [6, 20, 60]) {
      const size = 2 * radius + 10;
      const m = rleOf(size, size, (x, y) => (x + 0.5 - size / 2) ** 2 + (y + 0.5 - size / 2) ** 2 <= radius * radius);
      const exact = maskToPolygons(m)[0].outer.length;
      for (const tolerance of [0.5, 1, 2]) {
        const polys = maskToPolygons(m, { tolerance });
        expect(polys.length).toBe(1);
        const n = polys[0].outer.length;
        expect(n).toBeGreaterThanOrEqual(6);
        expect(n).toBeLessThanOrEqual(exact);
        if (tolerance >= 1) expect(n).toBeLessThan(exact / 3);
        const back = polygonsToRle(polys.map((p) => p.outer), size, size);
        const changed = area(subtract(union(back, m), intersect(back, m)));
        if (tolerance === 0.5) expect(changed).toBe(0);
        expect(changed).toBeLessThanOrEqual(2 * Math.PI * radius * tolerance);
        expect(iou(back, m)).toBeGreaterThanOrEqual(1 - (2 * tolerance) / radius);
      }
    }
  });

  it('never returns rings under 3 points, even for single pixels', () => {
    const r = rleOf(9, 9, (x, y) => (x + y) % 4 === 0);
    for (const tolerance of [0.5, 1, 5, 100]) {
      const polys = maskToPolygons(r, { tolerance });
      expect(polys.length).toBeGreaterThan(0);
      for (const p of polys) for (const ring of [p.outer, ...p.holes]) expect(ring.length).toBeGreaterThanOrEqual(6);
    }
    expect(() => maskToPolygons(r, { tolerance: -1 })).toThrow(RangeError);
  });
});

describe('polygonsToRle input handling', () => {
  it('rejects non-finite and absurd coordinates', () => {
    expect(() => polygonsToRle([[0, 0, NaN, 1, 2, 2]], 4, 4)).toThrow(MaskFormatError);
    expect(() => polygonsToRle([[0, 0, Infinity, 1, 2, 2]], 4, 4)).toThrow(MaskFormatError);
    expect(() => polygonsToRle([[0, 0, 1e12, 1, 2, 2]], 4, 4)).toThrow(MaskFormatError);
  });

  it('an empty list or empty polygon gives an empty mask', () => {
    expect(Array.from(polygonsToRle([], 3, 4).counts)).toEqual([12]);
    expect(Array.from(polygonsToRle([[]], 3, 4).counts)).toEqual([12]);
  });
});
