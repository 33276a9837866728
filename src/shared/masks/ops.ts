// Mask arithmetic directly on runs: one merge pass over both count arrays, never decoding pixels.
// Outputs are canonical: no zero-length runs except possibly the first (a mask starting with ones).

import type { Rle } from './rle';

export function area(rle: Rle): number {
  const c = rle.counts;
  let a = 0;
  for (let j = 1; j < c.length; j += 2) a += c[j];
  return a;
}

/** COCO bbox [x, y, width, height] of the set pixels; [0, 0, 0, 0] for an empty mask. */
export function bbox(rle: Rle): [number, number, number, number] {
  const { h, w, counts: c } = rle;
  let xs = w, ys = h, xe = -1, ye = -1;
  let pos = 0;
  for (let j = 0; j < c.length; j++) {
    const n = c[j];
    if (j & 1 && n > 0) {
      const e = pos + n - 1;
      const x0 = Math.floor(pos / h), x1 = Math.floor(e / h);
      if (x0 < xs) xs = x0;
      if (x1 > xe) xe = x1;
      if (x0 !== x1) {
        // A run that wraps into the next column covers the bottom row of one and the top of the next.
        ys = 0;
        ye = h - 1;
      } else {
        const y0 = pos - x0 * h, y1 = e - x1 * h;
        if (y0 < ys) ys = y0;
        if (y1 > ye) ye = y1;
      }
    }
    pos += n;
  }
  return xe < 0 ? [0, 0, 0, 0] : [xs, ys, xe - xs + 1, ye - ys + 1];
}

/**
 * The pixels of an h×w image whose centre lies in the box [x, y, w, h] (continuous coordinates, as a drawn box),
 * clipped to the image: a box on pixel corners covers exactly the pixels it frames.
 */
export function boxRle(box: readonly [number, number, number, number], h: number, w: number): Rle {
  const lo = (v: number, n: number) => Math.min(n, Math.max(0, Math.ceil(v - 0.5)));
  const x0 = lo(box[0], w), x1 = lo(box[0] + box[2], w), y0 = lo(box[1], h), y1 = lo(box[1] + box[3], h);
  if (x1 <= x0 || y1 <= y0) return { h, w, counts: Uint32Array.of(h * w) };
  // Full-height columns are one run; otherwise one run per column, h − (y1 − y0) zeros apart.
  const counts = [x0 * h + y0];
  if (y1 - y0 === h) counts.push((x1 - x0) * h);
  else for (let x = x0; x < x1; x++) counts.push(y1 - y0, ...(x + 1 < x1 ? [h - (y1 - y0)] : []));
  const tail = h - y1 + (w - x1) * h;
  if (tail > 0) counts.push(tail);
  return { h, w, counts: Uint32Array.from(counts) };
}

// Truth tables indexed by (va << 1) | vb.
const UNION = 0b1110, INTERSECT = 0b1000, SUBTRACT = 0b0100;

export function union(a: Rle, b: Rle): Rle {
  return merge(a, b, UNION);
}

export function intersect(a: Rle, b: Rle): Rle {
  return merge(a, b, INTERSECT);
}

/** Pixels of a that are not in b. */
export function subtract(a: Rle, b: Rle): Rle {
  return merge(a, b, SUBTRACT);
}

/** Union of one or more masks of the same size (pairwise tree, so n masks cost O(total · log n)). */
export function unionAll(list: readonly Rle[]): Rle {
  if (list.length === 0) throw new RangeError('unionAll needs at least one mask (the size is unknown otherwise)');
  let level = list.slice();
  if (level.length === 1) return merge(level[0], level[0], UNION); // canonical copy
  while (level.length > 1) {
    const next: Rle[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(merge(level[i], level[i + 1], UNION));
    if (level.length & 1) next.push(level[level.length - 1]);
    level = next;
  }
  return level[0];
}

/** Intersection over union; 0 when both masks are empty (as pycocotools). */
export function iou(a: Rle, b: Rle): number {
  checkSame(a, b);
  const ca = a.counts, cb = b.counts;
  let i = 0, j = 0, ra = ca.length ? ca[0] : 0, rb = cb.length ? cb[0] : 0, va = 0, vb = 0;
  let inter = 0, uni = 0;
  for (;;) {
    while (ra === 0 && i + 1 < ca.length) { ra = ca[++i]; va ^= 1; }
    while (rb === 0 && j + 1 < cb.length) { rb = cb[++j]; vb ^= 1; }
    if (ra === 0 || rb === 0) break;
    const c = ra < rb ? ra : rb;
    if (va | vb) {
      uni += c;
      if (va & vb) inter += c;
    }
    ra -= c;
    rb -= c;
  }
  return inter === 0 ? 0 : inter / uni;
}

function merge(a: Rle, b: Rle, table: number): Rle {
  checkSame(a, b);
  const ca = a.counts, cb = b.counts;
  const out = new Uint32Array(ca.length + cb.length + 1);
  let m = 0, cur = 0, acc = 0;
  let i = 0, j = 0, ra = ca.length ? ca[0] : 0, rb = cb.length ? cb[0] : 0, va = 0, vb = 0;
  for (;;) {
    // Zero-length runs just flip the value without covering pixels.
    while (ra === 0 && i + 1 < ca.length) { ra = ca[++i]; va ^= 1; }
    while (rb === 0 && j + 1 < cb.length) { rb = cb[++j]; vb ^= 1; }
    if (ra === 0 || rb === 0) break;
    const c = ra < rb ? ra : rb;
    const v = (table >> ((va << 1) | vb)) & 1;
    if (v !== cur) {
      out[m++] = acc;
      acc = 0;
      cur = v;
    }
    acc += c;
    ra -= c;
    rb -= c;
  }
  out[m++] = acc;
  return { h: a.h, w: a.w, counts: out.slice(0, m) };
}

function checkSame(a: Rle, b: Rle): void {
  if (a.h !== b.h || a.w !== b.w) throw new RangeError(`mask sizes differ: ${a.h}×${a.w} vs ${b.h}×${b.w}`);
}
