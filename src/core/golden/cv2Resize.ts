// OpenCV's cv2.resize(INTER_LINEAR) of 8-bit RGB to Ref LDM-Seg's letterbox sizes (mmcv's Resize(keep_ratio) to 256),
// which our resizeLinearU8 re-implements: every output byte must equal OpenCV's. The inputs are the closed form the
// case's make.py writes, so only the outputs are stored.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { resizeLinearU8 } from '../pipelines/refldmseg/resize';
import type { GoldenKind, OutputCheck } from './compare';

const Manifest = z.object({
  cases: z.array(z.object({ in: z.tuple([z.number().int().positive(), z.number().int().positive()]), out: z.tuple([z.number().int().positive(), z.number().int().positive()]), file: z.string() })).min(1),
});

/** make.py's image: (x·7 + y·13 + c·29 + (x·y mod 17) + 90·((⌊x/5⌋ + ⌊y/3⌋) mod 2)) mod 256. */
export function closedFormImage(width: number, height: number): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++)
        data[(y * width + x) * 3 + c] = (x * 7 + y * 13 + c * 29 + ((x * y) % 17) + ((Math.floor(x / 5) + Math.floor(y / 3)) % 2) * 90) % 256;
  return { width, height, data };
}

export const cv2ResizeKind: GoldenKind = {
  title: "OpenCV's INTER_LINEAR resize of 8-bit images (Ref LDM-Seg's letterbox)",
  async check(dir, manifest) {
    return Manifest.parse(manifest).cases.map((c): OutputCheck => {
      const want = gunzipSync(readFileSync(join(dir, c.file)));
      const got = resizeLinearU8(closedFormImage(c.in[0], c.in[1]), c.out[0], c.out[1]).data;
      const name = `${c.in[0]}x${c.in[1]}→${c.out[0]}x${c.out[1]}`;
      if (got.length !== want.length) return { name, measure: 'mismatches', error: Infinity, tolerance: 0, detail: `${got.length} bytes, the reference has ${want.length}` };
      let differ = 0;
      let worst = 0;
      for (let i = 0; i < got.length; i++) {
        const d = Math.abs(got[i]! - want[i]!);
        if (d) (differ++, (worst = Math.max(worst, d)));
      }
      return { name, measure: 'mismatches', error: differ, tolerance: 0, total: got.length, ...(differ ? { detail: `largest difference ${worst} grey levels` } : {}) };
    });
  },
};
