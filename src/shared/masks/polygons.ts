// COCO polygons <-> masks.
//
// Rasterisation reproduces pycocotools (common/maskApi.c rleFrPoly) bit for bit, because that is
// what every COCO consumer will do with our polygons: vertices are scaled ×5 and rounded, the
// boundary is walked densely, and wherever the walk crosses a pixel-centre column (x = k + 0.5 in
// image coordinates, pixel k spans [k, k+1]) the column toggles at row ceil(y - 0.5) of the
// crossing. Several polygons of one object are united (frPyObjects + merge).
//
// Tracing follows pixel edges ("cracks"), so every vertex is an integer pixel corner. With such
// rings rleFrPoly only sees horizontal edges, each at an exact integer row, which toggles exactly
// the pixels below it: rasterising the outer rings gives back the mask exactly for a hole-free
// mask. Connectivity: foreground is 8-connected (diagonal neighbours belong to one component and one
// ring, which then passes through the shared corner twice); background and therefore holes are
// 4-connected, the consistent pair, so holes here are exactly what countHoles/fillHoles see.
// Outer rings run clockwise on screen (y down), holes counter-clockwise.

import { area, bbox, subtract, unionAll } from './ops';
import { decodeCrop } from './crop';
import { checkSize, emptyRle, MaskFormatError, type Rle } from './rle';
import { simplifyRing } from './simplify';

export interface Polygon {
  /** Flat [x1, y1, x2, y2, ...] in image pixel coordinates. */
  outer: number[];
  holes: number[][];
}

// Coordinates beyond this are rejected: pycocotools' int conversion breaks long before, and the
// dense boundary walk costs time proportional to the perimeter.
const MAX_COORD = 1e7;

/** Union of the given polygons (flat xy lists), rasterised exactly as pycocotools does. */
export function polygonsToRle(polys: number[][], h: number, w: number): Rle {
  checkSize(h, w);
  if (polys.length === 0) return emptyRle(h, w);
  // A single polygon is returned as rasterised, like rleMerge with n = 1 (it is canonical anyway).
  if (polys.length === 1) return polygonToRle(polys[0], h, w);
  return unionAll(polys.map((p) => polygonToRle(p, h, w)));
}

/**
 * The mask of polygons with holes (maskToPolygons' form, e.g. after a vertex edit): each polygon is its outer
 * ring minus its hole rings, and the polygons are united. It inverts maskToPolygons exactly: an outer ring
 * rasterises to its part with the holes filled, a hole ring to the hole together with any island inside it,
 * and an island is a polygon of its own, so the union brings it back.
 */
export function polygonsWithHolesToRle(polys: readonly Polygon[], h: number, w: number): Rle {
  checkSize(h, w);
  if (polys.length === 0) return emptyRle(h, w);
  return unionAll(polys.map((p) => (p.holes.length ? subtract(polygonToRle(p.outer, h, w), polygonsToRle(p.holes, h, w)) : polygonToRle(p.outer, h, w))));
}

/** One polygon, exactly as maskApi.c rleFrPoly (an odd trailing number is ignored, as there). */
function polygonToRle(xy: readonly number[], h: number, w: number): Rle {
  const k = Math.floor(xy.length / 2);
  const X = new Int32Array(k + 1), Y = new Int32Array(k + 1);
  for (let j = 0; j < 2 * k; j++) {
    const v = xy[j];
    if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > MAX_COORD) {
      throw new MaskFormatError(`polygon coordinate ${j} is not a finite number within ±${MAX_COORD}: ${v}`);
    }
  }
  for (let j = 0; j < k; j++) {
    X[j] = Math.trunc(5 * xy[2 * j] + 0.5); // C (int) truncates toward zero
    Y[j] = Math.trunc(5 * xy[2 * j + 1] + 0.5);
  }
  X[k] = X[0];
  Y[k] = Y[0];

  // Walk the upsampled boundary point by point (as the C code's u/v arrays, but streamed) and
  // record a boundary point each time the walk crosses a pixel-centre column.
  let pts = new Uint32Array(64);
  let np = 0;
  let pu = 0, pv = 0, have = false;
  const step = (u: number, v: number): void => {
    if (have && u !== pu) {
      let xd = u < pu ? u : u - 1;
      xd = (xd + 0.5) / 5 - 0.5;
      if (Math.floor(xd) === xd && xd >= 0 && xd <= w - 1) {
        let yd = v < pv ? v : pv;
        yd = (yd + 0.5) / 5 - 0.5;
        if (yd < 0) yd = 0;
        else if (yd > h) yd = h;
        yd = Math.ceil(yd);
        if (np === pts.length) {
          const b = new Uint32Array(np * 2);
          b.set(pts);
          pts = b;
        }
        pts[np++] = xd * h + yd;
      }
    }
    pu = u;
    pv = v;
    have = true;
  };
  for (let j = 0; j < k; j++) {
    let xs = X[j], xe = X[j + 1], ys = Y[j], ye = Y[j + 1];
    const dx = Math.abs(xe - xs), dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      let t = xs; xs = xe; xe = t;
      t = ys; ys = ye; ye = t;
    }
    // A repeated vertex gives 0/0 in C (an undefined int); that point never sits next to a column
    // crossing (its neighbours have the same u), so any finite slope gives the same result.
    const s = dx >= dy ? (dx === 0 ? 0 : (ye - ys) / dx) : (xe - xs) / dy;
    if (dx >= dy) {
      for (let d = 0; d <= dx; d++) {
        const t = flip ? dx - d : d;
        step(t + xs, Math.trunc(ys + s * t + 0.5));
      }
    } else {
      for (let d = 0; d <= dy; d++) {
        const t = flip ? dy - d : d;
        step(Math.trunc(xs + s * t + 0.5), t + ys);
      }
    }
  }

  // Sorted toggle positions (plus the end, h*w) -> run lengths; a zero-length run means two
  // toggles at one position, which cancel: fold the following run into the previous one.
  const a = new Uint32Array(np + 1);
  a.set(pts.subarray(0, np));
  a[np] = h * w;
  a.sort();
  for (let j = np; j > 0; j--) a[j] -= a[j - 1];
  const counts = new Uint32Array(np + 1);
  let m = 0, j = 0;
  counts[m++] = a[j++];
  while (j <= np) {
    if (a[j] > 0) counts[m++] = a[j++];
    else if (++j <= np) counts[m - 1] += a[j++];
  }
  return { h, w, counts: counts.slice(0, m) };
}

/**
 * Traces every 8-connected component's outer boundary and its (4-connected) holes along pixel
 * edges. tolerance > 0 simplifies each ring with Douglas–Peucker (in pixels); 0 keeps it exact.
 * Measured drift after pycocotools rasterisation (benchmarks/rle.ts, disk of radius 300 and 300
 * small blobs on 1024²): 0.5 drops only staircase corners and changes no pixel (−20% numbers);
 * 1 keeps ~1/7 (disk) to ~1/5 (blobs) of the numbers with IoU 0.998 / 0.967; 2 gives IoU 0.996 / 0.945.
 */
export function maskToPolygons(rle: Rle, opts: { tolerance?: number } = {}): Polygon[] {
  const tolerance = opts.tolerance ?? 0;
  if (!(tolerance >= 0)) throw new RangeError(`tolerance must be >= 0, got ${tolerance}`);
  if (area(rle) === 0) return [];
  const [bx, by, bw, bh] = bbox(rle);
  const { grid: G, W, H } = decodeCrop(rle, bx, by, bw, bh, 1);
  let label: Int32Array | null = null; // component labels, only needed once a hole shows up
  const visited = new Uint8Array(W * H); // top edges already traced, indexed by the pixel below
  const result: Polygon[] = [];
  const ox = bx - 1, oy = by - 1; // image coordinates of grid vertex (0, 0)

  for (let py = 1; py < H - 1; py++) {
    for (let px = 1, p = py * W + 1; px < W - 1; px++, p++) {
      if (!G[p] || G[p - W] || visited[p]) continue;
      const { ring, area2 } = traceRing(G, W, visited, px, py, ox, oy);
      const simplified = tolerance > 0 ? simplifyRing(ring, tolerance) : ring;
      if (area2 > 0) {
        result.push({ outer: simplified, holes: [] });
      } else {
        // Hole rings start at a component pixel under the hole; that component's outer ring was
        // met earlier (its top row comes first), and outer rings are found in label order.
        label ??= labelComponents8(G, W, H);
        result[label[p] - 1].holes.push(simplified);
      }
    }
  }
  return result;
}

// Directions: 0 right, 1 down, 2 left, 3 up (clockwise on screen).
const DX = [1, 0, -1, 0], DY = [0, 1, 0, -1];

// Walks cracks with the foreground on the right, from the top edge of pixel (px, py). At each corner
// it prefers a left turn, then straight, then right: that keeps diagonal foreground neighbours in one
// ring (8-connectivity). Emits a vertex at every turn only. area2 is twice the signed area
// (positive for outer rings, negative for holes).
function traceRing(G: Uint8Array, W: number, visited: Uint8Array, px: number, py: number, ox: number, oy: number): { ring: number[]; area2: number } {
  const ring: number[] = [];
  let vx = px, vy = py, dir = 0, area2 = 0;
  do {
    if (dir === 0) visited[vy * W + vx] = 1;
    const nx = vx + DX[dir], ny = vy + DY[dir];
    area2 += vx * ny - nx * vy;
    vx = nx;
    vy = ny;
    const n = (vy - 1) * W + vx, s = vy * W + vx;
    const nw = G[n - 1], ne = G[n], sw = G[s - 1], se = G[s];
    let al: number, ar: number;
    switch (dir) {
      case 0: al = ne; ar = se; break;
      case 1: al = se; ar = sw; break;
      case 2: al = sw; ar = nw; break;
      default: al = nw; ar = ne;
    }
    const nd = al ? (dir + 3) & 3 : ar ? dir : (dir + 1) & 3;
    if (nd !== dir) ring.push(vx + ox, vy + oy);
    dir = nd;
  } while (vx !== px || vy !== py || dir !== 0);
  return { ring, area2 };
}

// 8-connected labels (1, 2, ... in raster order of first pixel); 0 for background.
function labelComponents8(G: Uint8Array, W: number, H: number): Int32Array {
  const label = new Int32Array(W * H);
  const stack = new Int32Array(W * H);
  const nb = Int32Array.of(-W - 1, -W, -W + 1, -1, 1, W - 1, W, W + 1);
  let next = 0;
  for (let p = W; p < W * (H - 1); p++) {
    if (!G[p] || label[p]) continue;
    const id = ++next;
    let sp = 0;
    stack[sp++] = p;
    label[p] = id;
    while (sp > 0) {
      const q = stack[--sp];
      // The blank border guarantees all 8 neighbours are inside the grid.
      for (let k = 0; k < 8; k++) {
        const r = q + nb[k];
        if (G[r] && !label[r]) {
          label[r] = id;
          stack[sp++] = r;
        }
      }
    }
  }
  return label;
}
