// Square maps (a label per pixel, or a probability) back to RLE masks at the image's size, through the frame they were
// made in (frame.ts). Runs are written straight from the map: no image-size array is made.
import { emptyRle, mergeSmallRegions, type Rle } from '../../../shared/masks';
import { frameOrigin, type Frame } from './frame';

/**
 * One RLE per label 0..n-1 (null when absent) of a row-major mapSide×mapSide map over the frame's window, at the image
 * size (nearest when the map is smaller than the window); image pixels outside the window (a crop) get no label. With
 * minArea, pieces smaller than that (in map pixels) first join their largest neighbour within the part of the map the
 * image covers, so the cut leaves no sliver of a region lying mostly in a letterbox's padding.
 */
export function cutOutRles(map: Int32Array | Uint8Array, mapSide: number, frame: Frame, n: number, minArea = 0): Array<Rle | null> {
  const { width: w, height: h } = frame;
  const o = frameOrigin(frame);
  const f = mapSide / frame.side;
  const at = (u: number) => Math.min(mapSide - 1, Math.floor(u * f));
  // Image columns [xLo, xHi) and rows [yLo, yHi) lie in the window; they sample the map rectangle from (mx0, my0).
  const xLo = Math.max(0, o.x), xHi = Math.min(w, o.x + frame.side);
  const yLo = Math.max(0, o.y), yHi = Math.min(h, o.y + frame.side);
  const mx0 = at(xLo - o.x + 0.5), my0 = at(yLo - o.y + 0.5);
  const cw = at(xHi - 1 - o.x + 0.5) - mx0 + 1, ch = at(yHi - 1 - o.y + 0.5) - my0 + 1;
  const part = new (map.constructor as new (k: number) => Int32Array | Uint8Array)(cw * ch);
  for (let y = 0; y < ch; y++) part.set(map.subarray((my0 + y) * mapSide + mx0, (my0 + y) * mapSide + mx0 + cw), y * cw);
  if (minArea > 1) mergeSmallRegions(part, cw, ch, minArea);
  const cols = Int32Array.from({ length: w }, (_, x) => (x >= xLo && x < xHi ? at(x - o.x + 0.5) - mx0 : -1));
  const rowStart = new Int32Array(ch + 1).fill(yHi);
  for (let y = yHi - 1; y >= yLo; y--) rowStart[at(y - o.y + 0.5) - my0] = y;
  return scaledLabelRles(part, cw, ch, cols, rowStart, h, n);
}

/** One RLE per label value 0..n-1 of a row-major h×w label map (empty labels: null). */
export function labelMapToRles(labels: Int32Array, h: number, w: number, n: number): Array<Rle | null> {
  return scaledLabelRles(labels, w, h, Int32Array.from({ length: w }, (_, x) => x), Int32Array.from({ length: h + 1 }, (_, y) => y), h, n);
}

/**
 * The mask where a mapSide² map over the frame's window is at least `threshold` (a probability, or a 0/1 map), at the
 * image size; minArea as in cutOutRles (specks of either side of the threshold join their neighbours).
 */
export function probabilityMapToRle(
  map: Float32Array | Uint8Array, mapSide: number, frame: Frame, opts: { threshold?: number; minArea?: number } = {},
): Rle {
  const t = opts.threshold ?? 0.5;
  const labels = Uint8Array.from(map, (v) => (v >= t ? 1 : 0));
  return cutOutRles(labels, mapSide, frame, 2, opts.minArea)[1] ?? emptyRle(frame.height, frame.width);
}

/**
 * Column-major runs per label of a mw×mh map shown at h rows × cols.length columns: image column x shows map column
 * cols[x] (−1: nothing); image rows [rowStart[r], rowStart[r+1]) show map row r (monotone; empty blocks allowed).
 */
function scaledLabelRles(map: Int32Array | Uint8Array, mw: number, mh: number, cols: Int32Array, rowStart: Int32Array, h: number, n: number): Array<Rle | null> {
  const w = cols.length;
  const runs: number[][] = Array.from({ length: n }, () => []);
  const start = new Float64Array(n).fill(-1);
  const end = new Float64Array(n);
  for (let x = 0; x < w; x++) {
    const c = cols[x]!;
    if (c < 0) continue;
    for (let r = 0; r < mh; r++) {
      const len = rowStart[r + 1]! - rowStart[r]!;
      if (len <= 0) continue;
      const l = map[r * mw + c]!;
      if (l < 0 || l >= n) continue;
      const i = x * h + rowStart[r]!;
      if (start[l]! >= 0 && end[l] === i) {
        end[l]! += len;
        continue;
      }
      const run = runs[l]!;
      if (start[l]! >= 0) run.push(end[l]! - start[l]!, i - end[l]!);
      else run.push(i);
      start[l] = i;
      end[l] = i + len;
    }
  }
  const total = h * w;
  return runs.map((run, l) => {
    if (start[l]! < 0) return null;
    run.push(end[l]! - start[l]!);
    if (end[l]! < total) run.push(total - end[l]!);
    return { h, w, counts: Uint32Array.from(run) };
  });
}
