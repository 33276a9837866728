// `npm run bench -- rle`: throughput of the RLE codec and run-level ops on 1024×1024 masks
// (a disk, many small blobs, 50% noise), against a naive per-pixel implementation measured in the
// same run; plus polygon tracing and the drift of simplified polygons. Prints one JSON object.

import os from 'node:os';
import { rng } from '../tests/helpers/random';
import {
  area, decode, encode, fillHoles, fromCompressedString, intersect, iou, maskToPolygons, polygonsToRle, subtract, toCompressedString,
  union, type Rle,
} from '../src/shared/masks';

const H = 1024, W = 1024;
const MB = (H * W) / 1e6; // one byte per pixel of the row-major mask


function disk(cx: number, cy: number, r: number, m = new Uint8Array(H * W)): Uint8Array {
  for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(H, Math.ceil(cy + r)); y++) {
    for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(W, Math.ceil(cx + r)); x++) {
      if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r) m[y * W + x] = 1;
    }
  }
  return m;
}

const R = rng(1);
const shapes: Record<string, Uint8Array> = {
  disk: disk(500, 480, 300),
  blobs: (() => {
    const m = new Uint8Array(H * W);
    for (let i = 0; i < 300; i++) disk(R() * W, R() * H, 4 + R() * 14, m);
    return m;
  })(),
  noise: Uint8Array.from({ length: H * W }, () => (R() < 0.5 ? 1 : 0)),
};

// ---- naive per-pixel baseline: plain arrays, one pixel at a time, decode → OR → encode for ops
function naiveEncode(mask: Uint8Array, h: number, w: number): number[] {
  const counts: number[] = [];
  let prev = 0, run = 0;
  for (let i = 0; i < h * w; i++) {
    const x = Math.floor(i / h), y = i % h;
    const v = mask[y * w + x] ? 1 : 0;
    if (v !== prev) { counts.push(run); run = 0; prev = v; }
    run++;
  }
  counts.push(run);
  return counts;
}
function naiveDecode(counts: number[], h: number, w: number): Uint8Array {
  const out = new Uint8Array(h * w);
  let i = 0, v = 0;
  for (const c of counts) {
    for (let k = 0; k < c; k++, i++) { const x = Math.floor(i / h), y = i % h; out[y * w + x] = v; }
    v ^= 1;
  }
  return out;
}
function naiveOp(a: number[], b: number[], f: (p: number, q: number) => number): number[] {
  const ma = naiveDecode(a, H, W), mb = naiveDecode(b, H, W);
  const out = new Uint8Array(H * W);
  for (let i = 0; i < H * W; i++) out[i] = f(ma[i], mb[i]);
  return naiveEncode(out, H, W);
}

// Runs fn repeatedly for at least `ms`, returns operations per second (best of 3 rounds).
function rate(fn: () => unknown, ms = 250): number {
  fn();
  let best = 0;
  for (let round = 0; round < 3; round++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ms) { fn(); n++; t = performance.now(); }
    best = Math.max(best, (n * 1000) / (t - t0));
  }
  return best;
}
const fig = (opsPerSec: number) => ({ masksPerSec: +opsPerSec.toFixed(1), MBperSec: +(opsPerSec * MB).toFixed(1) });

const codec: Record<string, unknown> = {};
const rles: Record<string, Rle> = {};
for (const [name, m] of Object.entries(shapes)) {
  process.stderr.write(`codec ${name}\n`);
  const r = encode(m, H, W);
  rles[name] = r;
  const s = toCompressedString(r);
  const nc = naiveEncode(m, H, W);
  const enc = rate(() => encode(m, H, W)), dec = rate(() => decode(r));
  const nEnc = rate(() => naiveEncode(m, H, W)), nDec = rate(() => naiveDecode(nc, H, W));
  codec[name] = {
    runs: r.counts.length,
    area: area(r),
    compressedChars: s.length,
    encode: { ...fig(enc), naive: fig(nEnc), speedup: +(enc / nEnc).toFixed(1) },
    decode: { ...fig(dec), naive: fig(nDec), speedup: +(dec / nDec).toFixed(1) },
    toCompressedString: fig(rate(() => toCompressedString(r))),
    fromCompressedString: fig(rate(() => fromCompressedString(s, H, W))),
  };
}

const ops: Record<string, unknown> = {};
for (const [a, b] of [['disk', 'blobs'], ['blobs', 'noise'], ['disk', 'noise']] as const) {
  process.stderr.write(`ops ${a}+${b}\n`);
  const ra = rles[a], rb = rles[b];
  const na = Array.from(ra.counts), nb = Array.from(rb.counts);
  const u = rate(() => union(ra, rb)), i = rate(() => intersect(ra, rb));
  const nu = rate(() => naiveOp(na, nb, (p, q) => p | q), 400);
  const ni = rate(() => naiveOp(na, nb, (p, q) => p & q), 400);
  ops[`${a}+${b}`] = {
    union: { ...fig(u), naive: fig(nu), speedup: +(u / nu).toFixed(1) },
    intersect: { ...fig(i), naive: fig(ni), speedup: +(i / ni).toFixed(1) },
    subtract: fig(rate(() => subtract(ra, rb))),
    iou: fig(rate(() => iou(ra, rb))),
  };
}

// Polygons: tracing speed, and how far Douglas–Peucker simplification drifts once rasterised back.
const polygons: Record<string, unknown> = {};
for (const name of ['disk', 'blobs'] as const) {
  process.stderr.write(`polygons ${name}\n`);
  const r = rles[name];
  const exact = maskToPolygons(r);
  const numbers = (ps: typeof exact) => ps.reduce((s, p) => s + p.outer.length + p.holes.reduce((t, h) => t + h.length, 0), 0);
  // Outer rings cannot carry holes, so drift is measured against the hole-filled mask.
  const target = fillHoles(r);
  const drift: Record<string, unknown> = {};
  for (const tolerance of [0, 0.5, 1, 2]) {
    const ps = maskToPolygons(r, { tolerance });
    const back = polygonsToRle(ps.map((p) => p.outer), H, W);
    drift[`tolerance ${tolerance}`] = {
      numbers: numbers(ps),
      pixelsChanged: area(subtract(union(back, target), intersect(back, target))),
      iou: +iou(back, target).toFixed(5),
    };
  }
  polygons[name] = {
    maskToPolygons: fig(rate(() => maskToPolygons(r))),
    polygonsToRle: fig(rate(() => polygonsToRle(exact.map((p) => p.outer), H, W))),
    drift,
  };
}

console.log(JSON.stringify({
  benchmark: 'rle',
  size: [H, W],
  note: 'masksPerSec = operations per second on one 1024×1024 mask (or pair); MBperSec counts 1 byte per pixel; naive = per-pixel JS arrays, ops via decode → per-pixel op → encode',
  codec,
  ops,
  polygons,
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, totalMemGiB: +(os.totalmem() / 2 ** 30).toFixed(1), node: process.version },
}, null, 1));
