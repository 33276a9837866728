// Synthetic scenes for the DiffSeg fixture tests: 3–6 flat-coloured rectangles and disks on a flat background,
// with their exact masks, written as real image files with sharp; plus Hungarian matching and mIoU.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import sharp from 'sharp';

export interface Shape {
  kind: 'rect' | 'disk';
  /** rect: x, y, w, h; disk: cx, cy, r (pixels). */
  x: number;
  y: number;
  w: number;
  h: number;
  color: [number, number, number];
}

export interface Scene {
  width: number;
  height: number;
  background: [number, number, number];
  shapes: Shape[];
  /** Row-major RGB. */
  rgb: Uint8Array;
  /** Row-major label per pixel: 0 background, i+1 shape i (later shapes drawn over earlier ones). */
  truth: Int32Array;
}

/** Well separated colours (squared distance in [-1,1] RGB ≥ 1 between any two, and to the backgrounds). */
export const PALETTE: [number, number, number][] = [
  [230, 25, 75], [60, 180, 75], [0, 130, 200], [255, 225, 25], [145, 30, 180], [70, 240, 240],
];
export const BACKGROUNDS: [number, number, number][] = [[30, 30, 30], [250, 250, 250]];

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function inside(s: Shape, x: number, y: number): boolean {
  if (s.kind === 'rect') return x >= s.x && x < s.x + s.w && y >= s.y && y < s.y + s.h;
  const dx = x + 0.5 - s.x, dy = y + 0.5 - s.y;
  return dx * dx + dy * dy <= s.w * s.w;
}

/** Bounding box of a shape [x0, y0, x1, y1) for placement. */
function extent(s: Shape): [number, number, number, number] {
  return s.kind === 'rect' ? [s.x, s.y, s.x + s.w, s.y + s.h] : [s.x - s.w, s.y - s.w, s.x + s.w, s.y + s.w];
}

/** A scene of `count` non-overlapping shapes (separated by a margin), deterministic in `seed`. */
export function makeScene(width: number, height: number, count: number, seed: number): Scene {
  const r = rng(seed);
  const m = Math.min(width, height);
  const margin = Math.round(m * 0.04);
  const shapes: Shape[] = [];
  const colors = [...PALETTE].sort(() => r() - 0.5);
  for (let tries = 0; shapes.length < count && tries < 5000; tries++) {
    const disk = r() < 0.4;
    const size = m * (0.26 + r() * 0.12); // ≥ ~10 latent cells across: DiffSeg works on a 64² grid
    const s: Shape = disk
      ? { kind: 'disk', x: 0, y: 0, w: Math.round(size / 2), h: 0, color: colors[shapes.length]! }
      : { kind: 'rect', x: 0, y: 0, w: Math.round(size * (0.7 + r() * 0.6)), h: Math.round(size * (0.7 + r() * 0.6)), color: colors[shapes.length]! };
    const [ew, eh] = disk ? [2 * s.w, 2 * s.w] : [s.w, s.h];
    if (ew + 2 * margin >= width || eh + 2 * margin >= height) continue;
    const x0 = margin + Math.floor(r() * (width - ew - 2 * margin));
    const y0 = margin + Math.floor(r() * (height - eh - 2 * margin));
    if (disk) (s.x = x0 + s.w, s.y = y0 + s.w);
    else (s.x = x0, s.y = y0);
    const [a0, b0, a1, b1] = extent(s);
    const clash = shapes.some((o) => {
      const [c0, d0, c1, d1] = extent(o);
      return a0 < c1 + margin && c0 < a1 + margin && b0 < d1 + margin && d0 < b1 + margin;
    });
    if (!clash) shapes.push(s);
  }
  if (shapes.length < count) throw new Error(`could not place ${count} shapes in ${width}×${height}`);
  const background = BACKGROUNDS[seed % BACKGROUNDS.length]!;
  const rgb = new Uint8Array(width * height * 3);
  const truth = new Int32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let l = 0;
      shapes.forEach((s, i) => {
        if (inside(s, x, y)) l = i + 1;
      });
      const c = l ? shapes[l - 1]!.color : background;
      const p = (y * width + x) * 3;
      rgb[p] = c[0];
      rgb[p + 1] = c[1];
      rgb[p + 2] = c[2];
      truth[y * width + x] = l;
    }
  }
  return { width, height, background, shapes, rgb, truth };
}

export async function writeScene(file: string, scene: Scene): Promise<void> {
  mkdirSync(dirname(file), { recursive: true });
  const buf = await sharp(Buffer.from(scene.rgb), { raw: { width: scene.width, height: scene.height, channels: 3 } }).png().toBuffer();
  writeFileSync(file, buf);
}

/** Row-major 0/1 mask of a truth label. */
export function truthMask(scene: Scene, label: number): Uint8Array {
  return Uint8Array.from(scene.truth, (l) => (l === label ? 1 : 0));
}

/** A pixel well inside shape i (its centre). */
export function shapeCentre(s: Shape): { x: number; y: number } {
  return s.kind === 'rect' ? { x: Math.floor(s.x + s.w / 2), y: Math.floor(s.y + s.h / 2) } : { x: Math.floor(s.x), y: Math.floor(s.y) };
}

export function iouMasks(a: Uint8Array, b: Uint8Array): number {
  let inter = 0, uni = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! > 0, y = b[i]! > 0;
    if (x && y) inter++;
    if (x || y) uni++;
  }
  return uni ? inter / uni : 1;
}

/** Maximum-weight assignment of rows to columns (Hungarian, on a square padded cost matrix). Returns col per row (-1 none). */
export function hungarian(weights: number[][]): number[] {
  const nr = weights.length, nc = weights[0]?.length ?? 0;
  const n = Math.max(nr, nc);
  const max = Math.max(0, ...weights.flat());
  // cost = max - weight, padded with max (weight 0)
  const cost = Array.from({ length: n + 1 }, (_, i) => Array.from({ length: n + 1 }, (_, j) => (i >= 1 && j >= 1 && i <= nr && j <= nc ? max - weights[i - 1]![j - 1]! : max)));
  const u = new Array(n + 1).fill(0), v = new Array(n + 1).fill(0), p = new Array(n + 1).fill(0), way = new Array(n + 1).fill(0);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Array(n + 1).fill(Infinity), used = new Array(n + 1).fill(false);
    do {
      used[j0] = true;
      const i0 = p[j0];
      let delta = Infinity, j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const cur = cost[i0]![j]! - u[i0] - v[j];
        if (cur < minv[j]) (minv[j] = cur, way[j] = j0);
        if (minv[j] < delta) (delta = minv[j], j1 = j);
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) (u[p[j]] += delta, v[j] -= delta);
        else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  const out = new Array(nr).fill(-1);
  for (let j = 1; j <= n; j++) if (p[j] >= 1 && p[j] <= nr && j <= nc) out[p[j] - 1] = j - 1;
  return out;
}

/**
 * mIoU of predicted masks against the scene's truth (background + each shape), after Hungarian matching of
 * predictions to truth labels (an unmatched truth label scores 0).
 */
export function matchedMiou(scene: Scene, predicted: Uint8Array[]): { miou: number; ious: number[] } {
  const truths = Array.from({ length: scene.shapes.length + 1 }, (_, l) => truthMask(scene, l));
  const w = truths.map((t) => predicted.map((p) => iouMasks(t, p)));
  const match = predicted.length ? hungarian(w) : truths.map(() => -1);
  const ious = match.map((j, i) => (j >= 0 ? w[i]![j]! : 0));
  return { miou: ious.reduce((a, b) => a + b, 0) / ious.length, ious };
}
