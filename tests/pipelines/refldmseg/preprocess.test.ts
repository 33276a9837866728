// Ref LDM-Seg's letterbox (long side to 256, padded right/bottom), the support mask's nearest resize and 255 padding,
// and the k-shot token mask the UNet's cross-attention takes.
import { describe, expect, it } from 'vitest';
import { letterbox, supportMask, supportTokenMask } from '../../../src/core/pipelines/refldmseg/preprocess';

describe('letterbox', () => {
  it('scales the long side to 256 and rounds the other as mmcv does (int(x·s + 0.5))', () => {
    expect(letterbox(640, 480)).toEqual({ width: 640, height: 480, resizedWidth: 256, resizedHeight: 192, size: 256 });
    // 300 · 0.512 = 153.6 → 154; 333 · 256/500 = 170.496 → 170
    expect(letterbox(300, 500)).toMatchObject({ resizedWidth: 154, resizedHeight: 256 });
    expect(letterbox(333, 500)).toMatchObject({ resizedWidth: 170, resizedHeight: 256 });
    // exactly .5 rounds up: 3 · 256/512 = 1.5 → 2
    expect(letterbox(3, 512)).toMatchObject({ resizedWidth: 2, resizedHeight: 256 });
    expect(letterbox(100, 100)).toMatchObject({ resizedWidth: 256, resizedHeight: 256 });
    expect(letterbox(1, 1000)).toMatchObject({ resizedWidth: 1, resizedHeight: 256 });
    expect(() => letterbox(0, 10)).toThrow(RangeError);
  });
});

describe('supportMask', () => {
  it("nearest-resizes with cv2's rule and pads the right and bottom with 255", () => {
    // 3×2 → factor 4/3: 4×3 (int(4.5), int(3.17)); cv2 source columns floor(x · 0.75) = 0,0,1,2, rows floor(y · 2/3) = 0,0,1
    const box = letterbox(3, 2, 4);
    expect(box).toMatchObject({ resizedWidth: 4, resizedHeight: 3 });
    expect(Array.from(supportMask([1, 0, 255, 0, 1, 0], box))).toEqual([
      1, 1, 0, 255,
      1, 1, 0, 255,
      0, 0, 1, 0,
      255, 255, 255, 255,
    ]);
    expect(() => supportMask([1, 0], box)).toThrow(/2 mask values do not fill 3×2/);
  });
});

describe('supportTokenMask', () => {
  it('one 16×16 row per shot, h-major, shots concatenated; the 255 padding and background are masked', () => {
    const shot = (x0: number, y0: number) => {
      const m = new Uint8Array(256 * 256).fill(255);
      for (let y = 0; y < 200; y++) for (let x = 0; x < 256; x++) m[y * 256 + x] = 0;
      for (let y = y0; y < y0 + 16; y++) for (let x = x0; x < x0 + 16; x++) m[y * 256 + x] = 1;
      return m;
    };
    const row = supportTokenMask([shot(32, 48), shot(0, 0)]);
    expect(row.length).toBe(512);
    const ones = Array.from(row).flatMap((v, i) => (v === 1 ? [i] : []));
    // shot 0: token (row 3, column 2) = 3·16 + 2; shot 1: token 0 of the second block of 256
    expect(ones).toEqual([3 * 16 + 2, 256]);
    expect(() => supportTokenMask([])).toThrow(/no support shots/);
  });
});
