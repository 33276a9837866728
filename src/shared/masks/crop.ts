// Pixel windows of an RLE: decode just the bounding box (plus a blank border) for pixel algorithms
// such as contour tracing and hole filling, and encode such a window back into a full-size RLE.

import type { Rle } from './rle';

export interface Crop {
  /** Row-major W×H grid of 0/1, W = cw + 2*pad, H = ch + 2*pad. */
  grid: Uint8Array;
  W: number;
  H: number;
  /** Image coordinates of grid cell (pad, pad). */
  x0: number;
  y0: number;
  pad: number;
}

/** Decodes the window [x0, x0+cw) × [y0, y0+ch) with a `pad`-pixel blank border around it. */
export function decodeCrop(rle: Rle, x0: number, y0: number, cw: number, ch: number, pad: number): Crop {
  const { h, counts } = rle;
  const W = cw + 2 * pad, H = ch + 2 * pad;
  const grid = new Uint8Array(W * H);
  const x1 = x0 + cw, y1 = y0 + ch;
  let pos = 0;
  for (let j = 0; j < counts.length; j++) {
    const n = counts[j];
    if (j & 1 && n > 0) {
      let s = pos;
      const e = pos + n;
      while (s < e) {
        const x = Math.floor(s / h);
        const ys = s - x * h;
        const ye = Math.min(h, ys + (e - s));
        if (x >= x1) break;
        if (x >= x0) {
          const a = Math.max(ys, y0), b = Math.min(ye, y1);
          for (let y = a, i = (y - y0 + pad) * W + (x - x0 + pad); y < b; y++, i += W) grid[i] = 1;
        }
        s += ye - ys;
      }
    }
    pos += n;
  }
  return { grid, W, H, x0, y0, pad };
}

/** Encodes a crop's grid (everything outside it empty) as an h×w RLE. */
export function encodeCrop(c: Crop, h: number, w: number): Rle {
  const { grid, W, H, pad } = c;
  const ox = c.x0 - pad, oy = c.y0 - pad; // image coordinates of grid cell (0, 0)
  const cx0 = Math.max(0, -ox), cx1 = Math.min(W, w - ox);
  const cy0 = Math.max(0, -oy), cy1 = Math.min(H, h - oy);
  const fullHeight = oy + cy0 === 0 && oy + cy1 === h;
  const out: number[] = [];
  let prev = 0, runStart = 0;
  for (let cx = cx0; cx < cx1; cx++) {
    const base = (cx + ox) * h + oy;
    for (let cy = cy0, i = cy0 * W + cx; cy < cy1; cy++, i += W) {
      const v = grid[i];
      if (v !== prev) {
        out.push(base + cy - runStart);
        runStart = base + cy;
        prev = v;
      }
    }
    if (prev === 1 && !fullHeight) {
      // Rows outside the window are empty, so a run cannot continue into the next column.
      out.push(base + cy1 - runStart);
      runStart = base + cy1;
      prev = 0;
    }
  }
  // In a full-height window a run may still be open after the last column: it ends there unless the image does.
  const after = (cx1 + ox) * h;
  if (prev === 1 && after < h * w) {
    out.push(after - runStart);
    runStart = after;
  }
  // A run cut at the window's edge may already end at h*w; never leave a zero-length last run.
  if (runStart < h * w || out.length === 0) out.push(h * w - runStart);
  return { h, w, counts: Uint32Array.from(out) };
}
