// `npm run bench -- rle`: throughput of the RLE codec and run-level ops on 1024×1024 masks
// (a disk, many small blobs, 50% noise), against a naive per-pixel implementation measured in the
// same run; plus polygon tracing and the drift of simplified polygons. Prints one JSON object.
//
// The codec is also measured against pycocotools' C core (maskApi.c rleEncode, rleDecode, rleToString,
// rleFrString) in the same run, through benchmarks/rle-cocoapi.c. maskApi.c is not in this repository: the
// benchmark looks for it in COCOAPI_DIR (default ../cocoapi beside the repository, a checkout of
// github.com/cocodataset/cocoapi; common/maskApi.c or maskApi.c) and compiles it with $CC (default cc) and
// the flags pycocotools builds with; without either, the peer is skipped and the output says why. The codec as
// it was before its fast paths (tests/masks/previous-codec.ts) runs in the same rounds, as a second peer.
// `npm run bench -- rle --codec` measures the codec alone.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rng } from '../tests/helpers/random';
import {
  area, decode, encode, fillHoles, fromCompressedString, intersect, iou, maskToPolygons, polygonsToRle, subtract, toCompressedString,
  union, type Rle,
} from '../src/shared/masks';
import { previousDecode, previousEncode, previousFromCompressedString, previousToCompressedString } from '../tests/masks/previous-codec';

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

/** CPU time of this process (all its threads, so the garbage collector's helpers count), in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Operations per CPU-second over one round of at least `ms` of CPU time (after one warm-up call). CPU time,
 * not wall time: on a shared machine the wall clock also counts the time other processes hold the cores.
 * Calls run in batches that grow until reading the clock (a system call) costs nothing next to them.
 */
function round(fn: () => unknown, ms: number): number {
  // Collect first (npm run bench passes --expose-gc), so that a round does not pay for the garbage of the one
  // before it: a round of decode leaves hundreds of fresh megabytes behind.
  globalThis.gc?.();
  fn();
  let n = 0, batch = 1;
  const t0 = cpuMs();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < batch; i++) fn();
    n += batch;
    const t1 = cpuMs();
    if (t1 - t < 1) batch *= 2;
    t = t1;
  }
  return (n * 1000) / (t - t0);
}

// Runs fn repeatedly for at least `ms`, returns operations per second (best of 3 rounds).
function rate(fn: () => unknown, ms = 250): number {
  return Math.max(round(fn, ms), round(fn, ms), round(fn, ms));
}
const fig = (opsPerSec: number) => ({ masksPerSec: +opsPerSec.toFixed(1), MBperSec: +(opsPerSec * MB).toFixed(1) });

// ---- pycocotools' C codec, built from a cocoapi checkout outside the repository
const CODEC_OPS = ['encode', 'decode', 'decodeInto', 'toCompressedString', 'fromCompressedString'] as const;
type CodecOp = (typeof CODEC_OPS)[number];
/** maskApi.c's operation each of ours is compared with: rleDecode writes into memory it is given either way. */
const CODEC_PEER = { encode: 'encode', decode: 'decode', decodeInto: 'decode', toCompressedString: 'toCompressedString', fromCompressedString: 'fromCompressedString' } as const;
const CFLAGS = ['-O2', '-std=c99', '-Wno-unused-function']; // pycocotools' setup.py adds -std=c99 to Python's -O2

/** The compiled harness, or why the peer is skipped. */
function buildCocoapi(tmp: string): { bin: string; maskApi: string; compiler: string } | { skipped: string } {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const dir = resolve(process.env.COCOAPI_DIR ?? join(root, '..', 'cocoapi'));
  const common = [join(dir, 'common'), dir].find((d) => existsSync(join(d, 'maskApi.c')) && existsSync(join(d, 'maskApi.h')));
  if (!common) return { skipped: `no maskApi.c in ${dir} or ${join(dir, 'common')} (set COCOAPI_DIR to a checkout of github.com/cocodataset/cocoapi)` };
  const cc = process.env.CC ?? 'cc';
  const version = spawnSync(cc, ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) return { skipped: `no C compiler: \`${cc} --version\` ${version.error ? `failed (${version.error.message})` : `exited ${version.status}`}` };
  const bin = join(tmp, 'rle-cocoapi');
  const args = [...CFLAGS, `-I${common}`, '-o', bin, join(root, 'benchmarks', 'rle-cocoapi.c'), join(common, 'maskApi.c'), '-lm'];
  const built = spawnSync(cc, args, { encoding: 'utf8' });
  if (built.status !== 0) return { skipped: `${cc} ${args.join(' ')} failed: ${built.stderr.trim().slice(0, 500)}` };
  return { bin, maskApi: join(common, 'maskApi.c'), compiler: `${cc} ${CFLAGS.join(' ')} (${version.stdout.split('\n')[0]})` };
}

/** Writes a row-major mask for the harness, column-major as pycocotools takes it. */
function writeColumnMajor(file: string, mask: Uint8Array, h: number, w: number): void {
  const buf = Buffer.alloc(8 + h * w);
  buf.writeUInt32LE(h, 0);
  buf.writeUInt32LE(w, 4);
  for (let x = 0; x < w; x++) for (let y = 0; y < h; y++) buf[8 + x * h + y] = mask[y * w + x] ? 1 : 0;
  writeFileSync(file, buf);
}

/** One round of maskApi.c: operations per second of each op, and what it encoded. */
function cocoapiRound(bin: string, file: string, ms: number): Record<(typeof CODEC_PEER)[CodecOp], number> & { runs: number; compressedChars: number } {
  const run = spawnSync(bin, [String(ms), file], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${bin} exited ${run.status}: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

// Ours and the peer take turns, round by round, so that both see the same load on a shared machine; each side
// keeps its best round.
const CODEC_ROUNDS = 7;
const tmp = mkdtempSync(join(os.tmpdir(), 'difflabel-bench-rle-'));
const cocoapi = buildCocoapi(tmp);
const codec: Record<string, unknown> = {};
const rles: Record<string, Rle> = {};
try {
  for (const [name, m] of Object.entries(shapes)) {
    process.stderr.write(`codec ${name}\n`);
    const r = encode(m, H, W);
    rles[name] = r;
    const s = toCompressedString(r);
    const file = join(tmp, `${name}.mask`);
    if ('bin' in cocoapi) writeColumnMajor(file, m, H, W);
    const into = new Uint8Array(H * W);
    const run: Record<CodecOp, () => unknown> = {
      encode: () => encode(m, H, W),
      decode: () => decode(r),
      decodeInto: () => decode(r, into),
      toCompressedString: () => toCompressedString(r),
      fromCompressedString: () => fromCompressedString(s, H, W),
    };
    const previousRun: Record<CodecOp, () => unknown> = {
      encode: () => previousEncode(m, H, W),
      decode: () => previousDecode(r),
      decodeInto: () => previousDecode(r),
      toCompressedString: () => previousToCompressedString(r),
      fromCompressedString: () => previousFromCompressedString(s, H, W),
    };
    const ours = { encode: 0, decode: 0, decodeInto: 0, toCompressedString: 0, fromCompressedString: 0 };
    const peer = { ...ours }, previous = { ...ours };
    // What JavaScript cannot avoid, measured alongside: the zeroed h×w array decode returns, making the string
    // from its finished chars, and getting the string's chars as bytes (the cheapest way to read them all) plus
    // allocating the counts array.
    const chars = new TextEncoder().encode(s), ascii = new TextDecoder(), utf8 = new TextEncoder();
    const bytes = new Uint8Array(s.length);
    const floorRun = {
      decode: () => new Uint8Array(H * W),
      toCompressedString: () => ascii.decode(chars),
      fromCompressedString: () => [utf8.encodeInto(s, bytes), new Uint32Array(r.counts.length)],
    };
    const floor = { decode: 0, toCompressedString: 0, fromCompressedString: 0 };
    for (let k = 0; k < CODEC_ROUNDS; k++) {
      for (const op of CODEC_OPS) {
        ours[op] = Math.max(ours[op], round(run[op], 100));
        if (op !== 'decodeInto') previous[op] = Math.max(previous[op], round(previousRun[op], 100));
      }
      for (const op of ['decode', 'toCompressedString', 'fromCompressedString'] as const) floor[op] = Math.max(floor[op], round(floorRun[op], 100));
      if (!('bin' in cocoapi)) continue;
      const c = cocoapiRound(cocoapi.bin, file, 100);
      if (c.runs !== r.counts.length || c.compressedChars !== s.length) {
        throw new Error(`maskApi.c encodes ${name} as ${c.runs} runs / ${c.compressedChars} chars, we as ${r.counts.length} / ${s.length}`);
      }
      for (const op of CODEC_OPS) peer[op] = Math.max(peer[op], c[CODEC_PEER[op]]);
    }
    const nc = naiveEncode(m, H, W);
    const nEnc = rate(() => naiveEncode(m, H, W)), nDec = rate(() => naiveDecode(nc, H, W));
    previous.decodeInto = previous.decode; // the previous decode always allocated its array
    const withPeer = (op: CodecOp) => ({
      ...fig(ours[op]),
      ...('bin' in cocoapi ? { cocoapi: fig(peer[op]), vsCocoapi: +(ours[op] / peer[op]).toFixed(2) } : {}),
      previous: fig(previous[op]),
      vsPrevious: +(ours[op] / previous[op]).toFixed(2),
      ...(op !== 'encode' && op !== 'decodeInto'
        ? { floor: fig(floor[op]), ...('bin' in cocoapi ? { floorVsCocoapi: +(floor[op] / peer[op]).toFixed(2) } : {}) }
        : {}),
    });
    codec[name] = {
      runs: r.counts.length,
      area: area(r),
      compressedChars: s.length,
      encode: { ...withPeer('encode'), naive: fig(nEnc), speedup: +(ours.encode / nEnc).toFixed(1) },
      decode: { ...withPeer('decode'), naive: fig(nDec), speedup: +(ours.decode / nDec).toFixed(1) },
      decodeInto: withPeer('decodeInto'),
      toCompressedString: withPeer('toCompressedString'),
      fromCompressedString: withPeer('fromCompressedString'),
    };
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const ops: Record<string, unknown> = {};
const codecOnly = process.argv.includes('--codec');
for (const [a, b] of codecOnly ? [] : ([['disk', 'blobs'], ['blobs', 'noise'], ['disk', 'noise']] as const)) {
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
for (const name of codecOnly ? [] : (['disk', 'blobs'] as const)) {
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
  note: 'masksPerSec = operations per CPU-second (this process, all threads) on one 1024×1024 mask (or pair); MBperSec counts 1 byte per pixel; naive = per-pixel JS arrays, ops via decode → per-pixel op → encode; cocoapi = maskApi.c on the same mask in column-major order (what pycocotools takes), vsCocoapi = ours / cocoapi; floor = the part JavaScript cannot avoid, alone (decode: allocating the zeroed h×w array it returns; toCompressedString: making the string from its finished chars; fromCompressedString: copying the chars into bytes and allocating the counts array; decodeInto: none, the array is reused), previous = the codec before its fast paths (tests/masks/previous-codec.ts), vsPrevious = ours / previous (decodeInto: against the previous decode, which always allocated), floorVsCocoapi = the best ratio the operation could reach',
  cocoapi: 'bin' in cocoapi ? { maskApi: cocoapi.maskApi, compiler: cocoapi.compiler } : cocoapi,
  codec,
  ops,
  polygons,
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, totalMemGiB: +(os.totalmem() / 2 ** 30).toFixed(1), node: process.version },
}, null, 1));
