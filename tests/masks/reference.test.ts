// Compares against outputs of cocoapi's maskApi.c (see the note inside the fixture).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  area, bbox, decode, encode, fromCompressedString, intersect, iou, polygonsToRle, rleEquals, toCompressedString, union,
  type Rle,
} from '../../src/shared/masks';

interface Fixture {
  polygons: { name: string; h: number; w: number; polys: number[][]; counts: number[] }[];
  masks: { name: string; h: number; w: number; pixels: string; counts: number[]; string: string; area: number; bbox: number[] }[];
  strings: { counts: number[]; string: string }[];
  fromStrings: { string: string; counts: number[] }[];
  merges: { h: number; w: number; a: number[]; b: number[]; union: number[]; intersect: number[]; iou: number }[];
  roundTrips: { h: number; w: number; counts: number[]; outers: number[][]; rasterised: number[] }[];
}
const fx: Fixture = JSON.parse(readFileSync(new URL('./fixtures/pycocotools-reference.json', import.meta.url), 'utf8'));
const rle = (h: number, w: number, c: number[]): Rle => ({ h, w, counts: Uint32Array.from(c) });

describe('pycocotools reference', () => {
  it('has a non-trivial fixture', () => {
    expect(fx.polygons.length).toBeGreaterThan(60);
    expect(fx.masks.length).toBeGreaterThan(20);
  });

  for (const c of fx.polygons) {
    it(`rasterises polygons: ${c.name}`, () => {
      expect(Array.from(polygonsToRle(c.polys, c.h, c.w).counts)).toEqual(c.counts);
    });
  }

  it('encodes masks, compressed strings, area and bbox', () => {
    for (const m of fx.masks) {
      const pixels = Uint8Array.from(m.pixels, (ch) => (ch === '1' ? 1 : 0));
      const r = encode(pixels, m.h, m.w);
      expect(Array.from(r.counts), m.name).toEqual(m.counts);
      expect(decode(r), m.name).toEqual(pixels);
      expect(toCompressedString(r), m.name).toBe(m.string);
      expect(Array.from(fromCompressedString(m.string, m.h, m.w).counts), m.name).toEqual(m.counts);
      expect(area(r), m.name).toBe(m.area);
      expect(bbox(r), m.name).toEqual(m.bbox);
    }
  });

  it('writes compressed strings of arbitrary counts', () => {
    for (const s of fx.strings) expect(toCompressedString(rle(1, 1, s.counts))).toBe(s.string);
  });

  it('reads compressed strings', () => {
    for (const s of fx.fromStrings) {
      const total = s.counts.reduce((a, b) => a + b, 0);
      expect(Array.from(fromCompressedString(s.string, 1, total).counts)).toEqual(s.counts);
    }
  });

  it('merges and IoU', () => {
    for (const m of fx.merges) {
      const a = rle(m.h, m.w, m.a), b = rle(m.h, m.w, m.b);
      expect(Array.from(union(a, b).counts)).toEqual(m.union);
      expect(Array.from(intersect(a, b).counts)).toEqual(m.intersect);
      expect(iou(a, b)).toBe(m.iou);
    }
  });

  it('traced outer rings rasterise back to the mask in the reference and here', () => {
    for (const t of fx.roundTrips) {
      expect(t.rasterised).toEqual(t.counts);
      expect(rleEquals(polygonsToRle(t.outers, t.h, t.w), rle(t.h, t.w, t.counts))).toBe(true);
    }
  });
});
