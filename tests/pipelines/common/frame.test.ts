// Frames (letterbox and centre crop) and their exact inverse: a square map over the frame comes back to the image
// pixel for pixel (nearest when smaller), pixels a crop leaves out get no label, and a probability map becomes a mask.
import { describe, expect, it } from 'vitest';
import { centreCrop, frameImage, frameOrigin, letterbox, pixelToCell, type Frame } from '../../../src/core/pipelines/common/frame';
import { cutOutRles, probabilityMapToRle } from '../../../src/core/pipelines/common/masks';
import { decode, type Rle } from '../../../src/shared/masks';
import { rng } from '../../helpers/random';

/** Row-major label per image pixel from per-label RLEs; -1 where no label. */
function labelsOf(rles: Array<Rle | null>, h: number, w: number): Int32Array {
  const out = new Int32Array(h * w).fill(-1);
  rles.forEach((r, l) => r && decode(r).forEach((v, i) => v && (out[i] = l)));
  return out;
}

/** The label a mapSide² map over the frame gives image pixel (x, y), sampled one pixel at a time; -1 outside it. */
function sampled(map: Int32Array, mapSide: number, f: Frame, x: number, y: number): number {
  const o = frameOrigin(f);
  const u = x - o.x, v = y - o.y;
  if (u < 0 || v < 0 || u >= f.side || v >= f.side) return -1;
  const at = (t: number) => Math.min(mapSide - 1, Math.floor((t + 0.5) * (mapSide / f.side)));
  return map[at(v) * mapSide + at(u)]!;
}

describe('frames', () => {
  it('a centre crop is the middle square in original pixels, and clicks map to its cells', () => {
    expect(centreCrop(640, 480)).toEqual({ width: 640, height: 480, side: 480, cropX: 80, cropY: 0 });
    expect(centreCrop(301, 500)).toEqual({ width: 301, height: 500, side: 301, cropX: 0, cropY: 99 });
    const c = centreCrop(640, 480);
    expect(pixelToCell(c, 80, 0)).toEqual({ x: 0, y: 0 });
    expect(pixelToCell(c, 559, 479)).toEqual({ x: 63, y: 63 });
    expect(pixelToCell(c, 0, 0)).toEqual({ x: 0, y: 0 }); // left of the crop: its nearest cell
    expect(pixelToCell(c, 639, 240)).toEqual({ x: 63, y: 32 });
    expect(() => centreCrop(0, 5)).toThrow(RangeError);
  });

  it('frameImage: a crop is the middle of the image, a letterbox repeats the edge pixels', async () => {
    const w = 7, h = 4;
    const data = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256);
    const px = (x: number, y: number) => Array.from(data.subarray((y * w + x) * 3, (y * w + x) * 3 + 3));
    const crop = centreCrop(w, h);
    const cut = await frameImage({ data, width: w, height: h }, crop, crop.side);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) expect(Array.from(cut.subarray((y * 4 + x) * 3, (y * 4 + x) * 3 + 3))).toEqual(px(x + crop.cropX, y));
    const box = letterbox(w, h);
    const sq = await frameImage({ data, width: w, height: h }, box, box.side);
    const at = (x: number, y: number) => Array.from(sq.subarray((y * 7 + x) * 3, (y * 7 + x) * 3 + 3));
    for (let x = 0; x < 7; x++) {
      expect(at(x, box.padY)).toEqual(px(x, 0));
      for (let y = 0; y < box.padY; y++) expect(at(x, y)).toEqual(px(x, 0)); // padding above: the top row again
      for (let y = box.padY + h; y < 7; y++) expect(at(x, y)).toEqual(px(x, h - 1));
    }
    expect((await frameImage({ data, width: w, height: h }, crop, 8)).length).toBe(8 * 8 * 3);
  });

  it('cutOutRles brings a map over either frame back pixel for pixel, at any map size; a crop leaves the rest unlabelled', () => {
    const R = rng(11);
    for (let k = 0; k < 40; k++) {
      const w = 1 + Math.floor(R() * 40), h = 1 + Math.floor(R() * 40);
      for (const f of [letterbox(w, h), centreCrop(w, h)]) {
        const mapSide = 1 + Math.floor(R() * f.side);
        const map = Int32Array.from({ length: mapSide * mapSide }, () => Math.floor(R() * 4));
        const got = labelsOf(cutOutRles(map, mapSide, f, 4), h, w);
        const want = Int32Array.from({ length: w * h }, (_, i) => sampled(map, mapSide, f, i % w, Math.floor(i / w)));
        expect(Array.from(got), `${w}×${h} ${'padX' in f ? 'letterbox' : 'crop'} map ${mapSide}`).toEqual(Array.from(want));
      }
    }
  });

  it('the exact inverse: labels put through a full-size frame come back unchanged', () => {
    const R = rng(12);
    const w = 33, h = 20;
    const labels = Int32Array.from({ length: w * h }, () => Math.floor(R() * 3));
    for (const f of [letterbox(w, h), centreCrop(w, h)]) {
      const o = frameOrigin(f);
      // The square as a model would see it at full size: the image's labels where it lies, 3 (padding) elsewhere.
      const map = Int32Array.from({ length: f.side * f.side }, (_, i) => {
        const x = (i % f.side) + o.x, y = Math.floor(i / f.side) + o.y;
        return x >= 0 && y >= 0 && x < w && y < h ? labels[y * w + x]! : 3;
      });
      const back = labelsOf(cutOutRles(map, f.side, f, 4), h, w);
      for (let i = 0; i < w * h; i++) {
        const x = i % w, inside = x - o.x >= 0 && x - o.x < f.side;
        expect(back[i]).toBe(inside ? labels[i] : -1);
      }
    }
  });

  it('probabilityMapToRle keeps the pixels at or above the threshold', () => {
    const f = letterbox(4, 2); // a 4×4 square, the image on rows 1–2
    const prob = Float32Array.from([0.9, 0.9, 0.9, 0.9, 0.2, 0.5, 0.7, 0.1, 0.6, 0.49, 0.0, 1.0, 0.9, 0.9, 0.9, 0.9]);
    expect(Array.from(decode(probabilityMapToRle(prob, 4, f)))).toEqual([0, 1, 1, 0, 1, 0, 0, 1]);
    expect(Array.from(decode(probabilityMapToRle(prob, 4, f, { threshold: 0.65 })))).toEqual([0, 0, 1, 0, 0, 0, 0, 1]);
    const none = probabilityMapToRle(new Float32Array(16), 4, f);
    expect({ h: none.h, w: none.w, ones: decode(none).reduce((a, b) => a + b, 0) }).toEqual({ h: 2, w: 4, ones: 0 });
  });
});
