// Connected parts of a mask, on runs: each run of ones is cut into per-column segments, segments in adjacent
// columns whose rows touch (8-connectivity, the same rule as the polygon tracer) are joined with union-find,
// and each group is written back as its own RLE. Largest part first.
import type { Rle } from './rle';

export function connectedComponents(rle: Rle): Rle[] {
  const { h, w, counts } = rle;
  // Segments: column, first row, end row (exclusive), in column-major order.
  const col: number[] = [];
  const y0: number[] = [];
  const y1: number[] = [];
  let pos = 0;
  for (let j = 0; j < counts.length; j++) {
    const n = counts[j]!;
    if (j & 1) {
      let p = pos;
      const end = pos + n;
      while (p < end) {
        const c = Math.floor(p / h);
        const stop = Math.min(end, (c + 1) * h);
        col.push(c);
        y0.push(p - c * h);
        y1.push(stop - c * h);
        p = stop;
      }
    }
    pos += n;
  }
  const n = col.length;
  if (n === 0) return [];
  const parent = new Int32Array(n).map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  // Sweep column pairs with two pointers: a segment in column c touches one in c-1 when their row ranges,
  // widened by one for diagonals, overlap.
  let prevStart = 0;
  let start = 0;
  while (start < n) {
    let end = start;
    while (end < n && col[end] === col[start]) end++;
    if (start > 0 && col[start - 1] === col[start]! - 1) {
      let a = prevStart;
      for (let b = start; b < end; b++) {
        while (a < start && y1[a]! < y0[b]!) a++; // a ends more than one row above b: never touches later b either
        for (let k = a; k < start && y0[k]! <= y1[b]!; k++) {
          const ra = find(k), rb = find(b);
          if (ra !== rb) parent[ra] = rb;
        }
      }
    }
    prevStart = start;
    start = end;
  }
  const groups = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const r = find(i);
    const g = groups.get(r);
    if (g) g.push(i);
    else groups.set(r, [i]);
  }
  const parts = [...groups.values()].map((segs) => {
    const runs: number[] = [];
    let cursor = 0;
    let area = 0;
    for (const s of segs) {
      const from = col[s]! * h + y0[s]!;
      const len = y1[s]! - y0[s]!;
      if (from === cursor && runs.length) runs[runs.length - 1]! += len; // continues the previous run across a column edge
      else runs.push(from - cursor, len);
      cursor = from + len;
      area += len;
    }
    if (cursor < h * w) runs.push(h * w - cursor);
    return { area, rle: { h, w, counts: Uint32Array.from(runs) } };
  });
  return parts.sort((a, b) => b.area - a.area).map((p) => p.rle);
}
