// Small-fragment clean-up of a label map: every 4-connected region of one label smaller than minArea takes the
// label of its largest neighbouring region (islands and holes alike; a chain of small regions ends at one that stays). Works on row runs joined with union-find,
// so the cost follows the number of runs, not pixels.

/**
 * In place on a row-major w×h label map (any integer labels; a binary mask is a map of 0 and 1). Returns how
 * many regions were relabelled. A region with no neighbour (the whole map) is kept.
 */
export function mergeSmallRegions(labels: Int32Array | Uint8Array, w: number, h: number, minArea: number): number {
  if (labels.length !== w * h) throw new RangeError(`mergeSmallRegions: ${labels.length} labels for ${w}×${h}`);
  if (minArea <= 1 || labels.length === 0) return 0;
  // Runs: label, row, x0, x1 (exclusive); rowStart[y] = first run of row y.
  const runX0: number[] = [], runX1: number[] = [], runLabel: number[] = [];
  const rowStart = new Int32Array(h + 1);
  for (let y = 0; y < h; y++) {
    rowStart[y] = runX0.length;
    const o = y * w;
    let x0 = 0;
    for (let x = 1; x <= w; x++) {
      if (x === w || labels[o + x] !== labels[o + x0]) {
        runX0.push(x0);
        runX1.push(x);
        runLabel.push(labels[o + x0]!);
        x0 = x;
      }
    }
  }
  const n = runX0.length;
  rowStart[h] = n;
  const parent = new Int32Array(n).map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  // Visit every pair of vertically touching runs (two pointers per row pair); `touch` gets them.
  const eachVerticalPair = (touch: (a: number, b: number) => void) => {
    for (let y = 1; y < h; y++) {
      let a = rowStart[y - 1]!, b = rowStart[y]!;
      const aEnd = rowStart[y]!, bEnd = rowStart[y + 1]!;
      while (a < aEnd && b < bEnd) {
        if (runX0[a]! < runX1[b]! && runX0[b]! < runX1[a]!) touch(a, b);
        if (runX1[a]! <= runX1[b]!) a++;
        else b++;
      }
    }
  };
  eachVerticalPair((a, b) => {
    if (runLabel[a] === runLabel[b]) parent[find(a)] = find(b);
  });
  const area = new Float64Array(n);
  for (let i = 0; i < n; i++) area[find(i)] += runX1[i]! - runX0[i]!;
  // Largest neighbouring region of each small region.
  const best = new Int32Array(n).fill(-1);
  const consider = (a: number, b: number) => {
    const ra = find(a), rb = find(b);
    if (ra === rb) return;
    if (area[ra]! < minArea && (best[ra]! < 0 || area[rb]! > area[best[ra]!]!)) best[ra] = rb;
    if (area[rb]! < minArea && (best[rb]! < 0 || area[ra]! > area[best[rb]!]!)) best[rb] = ra;
  };
  for (let y = 0; y < h; y++) for (let i = rowStart[y]! + 1; i < rowStart[y + 1]!; i++) consider(i - 1, i);
  eachVerticalPair(consider);
  // A small region whose largest neighbour is small too follows the chain to a region that stays.
  const target = (r: number): number => {
    let t = best[r]!;
    for (let steps = 0; steps < 64 && t >= 0 && area[t]! < minArea && best[t]! >= 0 && best[t] !== r; steps++) t = best[t]!;
    return t;
  };
  let merged = 0;
  const counted = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = find(i), to = best[r]! < 0 ? -1 : target(r);
    if (to < 0) continue;
    const label = runLabel[to]!;
    labels.fill(label, runRow(i) * w + runX0[i]!, runRow(i) * w + runX1[i]!);
    if (!counted[r]) (counted[r] = 1, merged++);
  }
  return merged;

  function runRow(i: number): number {
    // Binary search over rowStart for the row holding run i.
    let lo = 0, hi = h - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (rowStart[mid]! <= i) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
