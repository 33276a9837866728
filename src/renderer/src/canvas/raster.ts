// Pixel operations of the editing tools, on image-resolution grids.
//
// Brush geometry (exact, so tests can predict it): stroke points are snapped to pixel centres
// (floor(x) + 0.5, floor(y) + 0.5); a pixel belongs to the stroke when its centre lies within
// radius = size / 2 of the polyline through the points (a single click is a disc; a drag is a chain of
// capsules). One stroke is one edit.
import { area, bbox, emptyRle, type Rle } from '../../../shared/masks';
import { decodeCrop, encodeCrop } from '../../../shared/masks/crop';

export interface Pt {
  x: number;
  y: number;
}

export const snapToPixelCentre = (p: Pt): Pt => ({ x: Math.floor(p.x) + 0.5, y: Math.floor(p.y) + 0.5 });

/** Snaps to the nearest pixel corner: polygon vertices live on the pixel grid, like traced outlines. */
export const snapToCorner = (p: Pt, w: number, h: number): Pt => ({
  x: Math.min(w, Math.max(0, Math.round(p.x))),
  y: Math.min(h, Math.max(0, Math.round(p.y))),
});

function distToSegment2(px: number, py: number, a: Pt, b: Pt): number {
  const dx = b.x - a.x, dy = b.y - a.y;
  const len2 = dx * dx + dy * dy;
  let t = len2 === 0 ? 0 : ((px - a.x) * dx + (py - a.y) * dy) / len2;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  const ex = a.x + t * dx - px, ey = a.y + t * dy - py;
  return ex * ex + ey * ey;
}

/**
 * Applies a brush (paint = true) or eraser (paint = false) stroke to `mask` (null: empty) and returns the
 * new mask. Works on a window covering the mask and the stroke only, so big images cost what the edit covers.
 */
export function applyStroke(mask: Rle | null, h: number, w: number, points: readonly Pt[], size: number, paint: boolean): Rle {
  const base = mask ?? emptyRle(h, w);
  const r = size / 2, r2 = r * r;
  let sx0 = Infinity, sy0 = Infinity, sx1 = -Infinity, sy1 = -Infinity;
  for (const p of points) {
    sx0 = Math.min(sx0, p.x - r); sy0 = Math.min(sy0, p.y - r);
    sx1 = Math.max(sx1, p.x + r); sy1 = Math.max(sy1, p.y + r);
  }
  sx0 = Math.max(0, Math.floor(sx0)); sy0 = Math.max(0, Math.floor(sy0));
  sx1 = Math.min(w, Math.ceil(sx1)); sy1 = Math.min(h, Math.ceil(sy1));
  if (sx1 <= sx0 || sy1 <= sy0) return base;
  // Window: the stroke's box, plus the mask's box when painting (pixels outside the window become empty).
  let [x0, y0, x1, y1] = [sx0, sy0, sx1, sy1];
  if (area(base) > 0) {
    const [bx, by, bw, bh] = bbox(base);
    x0 = Math.min(x0, bx); y0 = Math.min(y0, by);
    x1 = Math.max(x1, bx + bw); y1 = Math.max(y1, by + bh);
  }
  const crop = decodeCrop(base, x0, y0, x1 - x0, y1 - y0, 0);
  const G = crop.grid, W = crop.W;
  const v = paint ? 1 : 0;
  const segs: [Pt, Pt][] = points.length === 1 ? [[points[0]!, points[0]!]] : points.slice(1).map((p, i) => [points[i]!, p]);
  for (const [a, b] of segs) {
    const ax0 = Math.max(sx0, Math.floor(Math.min(a.x, b.x) - r)), ax1 = Math.min(sx1, Math.ceil(Math.max(a.x, b.x) + r));
    const ay0 = Math.max(sy0, Math.floor(Math.min(a.y, b.y) - r)), ay1 = Math.min(sy1, Math.ceil(Math.max(a.y, b.y) + r));
    for (let y = ay0; y < ay1; y++)
      for (let x = ax0; x < ax1; x++) if (distToSegment2(x + 0.5, y + 0.5, a, b) <= r2) G[(y - y0) * W + (x - x0)] = v;
  }
  return encodeCrop(crop, h, w);
}
