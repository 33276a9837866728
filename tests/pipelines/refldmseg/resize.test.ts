// The resizes of Ref LDM-Seg's data path: cv2's INTER_LINEAR on 8-bit images (11-bit weights, integer rounding),
// and torch's bilinear (align_corners=False) on float planes. Expected values worked out by hand from the formulas
// of imgproc/src/resize.cpp and aten's upsample kernels, and OpenCV's own outputs (tests/golden/cv2_resize_R).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cv2ResizeKind } from '../../../src/core/golden/cv2Resize';
import { resizeBilinearPlanes, resizeLinearU8 } from '../../../src/core/pipelines/refldmseg/resize';

const grey = (values: number[], width: number, height: number) => ({ width, height, data: Uint8Array.from(values.flatMap((v) => [v, v, v])) });
const channel0 = (img: { data: Uint8Array }) => Array.from(img.data.filter((_, i) => i % 3 === 0));

describe('resizeLinearU8 (cv2 INTER_LINEAR)', () => {
  it('upscales with edge clamping: [0, 255] → [0, 64, 191, 255]', () => {
    // x = (d + 0.5)/2 − 0.5: −0.25 (clamped to 0), 0.25, 0.75, 1.25 (the last pixel); 63.75 and 191.25 round to 64, 191
    expect(channel0(resizeLinearU8(grey([0, 255], 2, 1), 4, 1))).toEqual([0, 64, 191, 255]);
  });

  it('downscales with the weights rounded to 11 bits: [0, 30, 60, 90] → [5, 45, 85]', () => {
    // x = 1/6: weights 1707 and 341 (of 2048), so 30·341/2048 = 4.995 → 5; x = 1.5 → 45; x = 2.833 → 85
    expect(channel0(resizeLinearU8(grey([0, 30, 60, 90], 4, 1), 3, 1))).toEqual([5, 45, 85]);
  });

  it('works on both axes and each channel; an exact 2× reduction is the rounded mean of 2×2 blocks', () => {
    const img = { width: 4, height: 2, data: Uint8Array.from([0, 1, 2, 0, 3, 2, 10, 10, 10, 20, 20, 20, 1, 0, 0, 2, 1, 0, 10, 10, 10, 21, 20, 20]) };
    // (0 + 0 + 1 + 2 + 2) >> 2 = 1, (1 + 3 + 0 + 1 + 2) >> 2 = 1, (2 + 2 + 0 + 0 + 2) >> 2 = 1; (10 + 20 + 10 + 21 + 2) >> 2 = 15
    expect(Array.from(resizeLinearU8(img, 2, 1).data)).toEqual([1, 1, 1, 15, 15, 15]);
    expect(() => resizeLinearU8({ ...img, width: 5 }, 3, 3)).toThrow(/do not fill 5×2/);
  });
});

describe('resizeBilinearPlanes (torch bilinear, align_corners=False)', () => {
  it('matches F.interpolate on known values, plane by plane', () => {
    // Plane 0: [0, 1] → [0, 0.25, 0.75, 1]; plane 1: [0, 1, 2, 3] → 3 at x = 1/6, 1.5, 2.833.
    expect(Array.from(resizeBilinearPlanes(Float32Array.of(0, 1), 1, 2, 1, 4, 1))).toEqual([0, 0.25, 0.75, 1]);
    const down = resizeBilinearPlanes(Float32Array.of(0, 1, 2, 3), 1, 4, 1, 3, 1);
    expect(down[0]).toBeCloseTo(1 / 6, 6);
    expect(down[1]).toBeCloseTo(1.5, 6);
    expect(down[2]).toBeCloseTo(2.8333333, 6);
    // Two planes 2×2 → 4×4: the second is the first + 10 everywhere.
    const two = resizeBilinearPlanes(Float32Array.of(0, 1, 2, 3, 10, 11, 12, 13), 2, 2, 2, 4, 4);
    expect(Array.from(two.subarray(0, 4))).toEqual([0, 0.25, 0.75, 1]);
    expect(two[16 + 5]! - two[5]!).toBeCloseTo(10, 5);
    expect(two[15]).toBe(3);
  });
});

describe('resizeLinearU8 against OpenCV 4.6 itself (golden cv2_resize_R)', () => {
  it('gives every byte cv2.resize gave, down, up, odd sizes and the 2× case', async () => {
    const dir = join(__dirname, '../../golden/cv2_resize_R');
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    const checks = await cv2ResizeKind.check(dir, manifest);
    expect(checks).toHaveLength(7);
    for (const c of checks) expect({ name: c.name, differ: c.error, detail: c.detail }).toEqual({ name: c.name, differ: 0, detail: undefined });
  });
});
