// Holes: background regions (4-connected, the partner of 8-connected foreground used by
// maskToPolygons) that do not reach the image border or the space around the mask.

import { area, bbox } from './ops';
import { decodeCrop, encodeCrop, type Crop } from './crop';
import type { Rle } from './rle';

export function countHoles(rle: Rle): number {
  if (area(rle) === 0) return 0;
  const c = crop(rle);
  const reached = floodOutside(c);
  const { grid: G, W, H } = c;
  const stack = new Int32Array(W * H);
  let holes = 0;
  for (let p = W; p < W * (H - 1); p++) {
    if (G[p] || reached[p]) continue;
    holes++;
    reached[p] = 1;
    stack[0] = p;
    flood4(G, W, reached, stack, 1);
  }
  return holes;
}

export function hasHoles(rle: Rle): boolean {
  if (area(rle) === 0) return false;
  const c = crop(rle);
  const reached = floodOutside(c);
  for (let p = c.W; p < c.W * (c.H - 1); p++) if (!c.grid[p] && !reached[p]) return true;
  return false;
}

/** The mask with every hole filled in. */
export function fillHoles(rle: Rle): Rle {
  if (area(rle) === 0) return { h: rle.h, w: rle.w, counts: rle.counts.slice() };
  const c = crop(rle);
  const reached = floodOutside(c);
  const G = c.grid;
  for (let p = 0; p < G.length; p++) if (!reached[p]) G[p] = 1;
  return encodeCrop(c, rle.h, rle.w);
}

// The bounding box with a one-pixel blank border, which connects all outside background.
function crop(rle: Rle): Crop {
  const [x, y, w, h] = bbox(rle);
  return decodeCrop(rle, x, y, w, h, 1);
}

// Marks the border and every background cell 4-connected to it.
function floodOutside(c: Crop): Uint8Array {
  const { grid: G, W, H } = c;
  const reached = new Uint8Array(W * H);
  for (let x = 0; x < W; x++) reached[x] = reached[(H - 1) * W + x] = 1;
  for (let y = 0; y < H; y++) reached[y * W] = reached[y * W + W - 1] = 1;
  const stack = new Int32Array(W * H);
  let sp = 0;
  // Seed with interior cells next to the border; from then on only interior cells are expanded,
  // so neighbours never leave the grid.
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1; x < W - 1; x++) {
      if (y !== 1 && y !== H - 2 && x !== 1 && x !== W - 2) continue;
      const p = y * W + x;
      if (!G[p] && !reached[p]) {
        reached[p] = 1;
        stack[sp++] = p;
      }
    }
  }
  flood4(G, W, reached, stack, sp);
  return reached;
}

function flood4(G: Uint8Array, W: number, reached: Uint8Array, stack: Int32Array, sp: number): void {
  while (sp > 0) {
    const q = stack[--sp];
    const a = q - 1, b = q + 1, c = q - W, d = q + W;
    if (!G[a] && !reached[a]) { reached[a] = 1; stack[sp++] = a; }
    if (!G[b] && !reached[b]) { reached[b] = 1; stack[sp++] = b; }
    if (!G[c] && !reached[c]) { reached[c] = 1; stack[sp++] = c; }
    if (!G[d] && !reached[d]) { reached[d] = 1; stack[sp++] = d; }
  }
}
