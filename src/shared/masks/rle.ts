// COCO run-length encoding: column-major (index = x*h + y), counts alternate runs starting with
// zeros (the first run may be 0 long), size = [h, w]. This is the storage and exchange form of masks.

export interface Rle {
  h: number;
  w: number;
  counts: Uint32Array;
}

import { area, bbox } from './ops';

export class MaskFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MaskFormatError';
  }
}

/** Encodes a ROW-MAJOR h×w mask (index y*w+x, nonzero = inside). */
export function encode(mask: Uint8Array, h: number, w: number): Rle {
  checkSize(h, w);
  const n = h * w;
  if (mask.length !== n) throw new RangeError(`mask has ${mask.length} pixels, expected ${h}×${w} = ${n}`);
  // Walking columns of a row-major image is cache-hostile, so scan rows instead and collect the
  // vertical transitions (pixel differs from the one above; above row 0 counts as empty), then
  // order them by column. Run boundaries are these transitions plus column starts where the top
  // pixel differs from the bottom pixel of the previous column.
  const K = verticalTransitions(mask, h, w);
  const tr = transitions;
  const colStart = new Int32Array(w + 1);
  for (let k = 0; k < K; k++) colStart[(tr[k] % w) + 1]++;
  for (let x = 0; x < w; x++) colStart[x + 1] += colStart[x];
  const rows = new Uint32Array(K);
  const fillAt = colStart.slice(0, w);
  for (let k = 0; k < K; k++) {
    const i = tr[k], x = i % w;
    rows[fillAt[x]++] = (i - x) / w; // row-major scan order keeps rows ascending per column
  }
  const out = new Uint32Array(K + w + 1);
  let m = 0, runStart = 0, prev = 0;
  for (let x = 0; x < w; x++) {
    let k = colStart[x];
    const end = colStart[x + 1];
    const base = x * h;
    const top = k < end && rows[k] === 0 ? 1 : 0;
    if (top) k++;
    if (top !== prev) {
      out[m++] = base - runStart;
      runStart = base;
    }
    for (; k < end; k++) {
      const p = base + rows[k];
      out[m++] = p - runStart;
      runStart = p;
    }
    prev = (end - colStart[x]) & 1; // value of the column's bottom pixel
  }
  out[m++] = n - runStart;
  return { h, w, counts: out.slice(0, m) };
}

// Row-major indices of vertical transitions, in scan order; reused between calls.
let transitions = new Uint32Array(4096);

function pushTransition(K: number, i: number): number {
  if (K === transitions.length) {
    const b = new Uint32Array(K * 2);
    b.set(transitions);
    transitions = b;
  }
  transitions[K] = i;
  return K + 1;
}

function verticalTransitions(mask: Uint8Array, h: number, w: number): number {
  let K = 0;
  if ((w & 3) === 0 && (mask.byteOffset & 3) === 0) {
    // Four pixels per step: identical words above and below cannot hold a transition.
    const M = new Uint32Array(mask.buffer, mask.byteOffset, (h * w) >> 2);
    const wq = w >> 2;
    for (let k = 0; k < wq; k++) {
      if (M[k] === 0) continue;
      for (let i = 4 * k; i < 4 * k + 4; i++) if (mask[i] !== 0) K = pushTransition(K, i);
    }
    for (let k = wq, nw = M.length; k < nw; k++) {
      if (M[k] === M[k - wq]) continue;
      for (let i = 4 * k; i < 4 * k + 4; i++) if ((mask[i] !== 0) !== (mask[i - w] !== 0)) K = pushTransition(K, i);
    }
  } else {
    for (let i = 0; i < w; i++) if (mask[i] !== 0) K = pushTransition(K, i);
    for (let i = w, n = h * w; i < n; i++) if ((mask[i] !== 0) !== (mask[i - w] !== 0)) K = pushTransition(K, i);
  }
  return K;
}

/** Decodes to a ROW-MAJOR h×w array of 0/1. */
export function decode(rle: Rle): Uint8Array {
  const { h, w, counts } = rle;
  const out = new Uint8Array(h * w);
  // Mark where each run of ones starts and ends in its column (XOR, so runs that touch cancel),
  // then turn the marks into pixels by XOR-ing each row into the next: row-major and word-wide.
  const [x0, y0, bw, bh] = bbox(rle);
  if (bw === 0) return out;
  let pos = 0;
  for (let j = 0; j < counts.length; j++) {
    const c = counts[j];
    if (j & 1 && c > 0) {
      let s = pos;
      const e = pos + c;
      while (s < e) {
        const x = Math.floor(s / h);
        const ys = s - x * h;
        const ye = Math.min(h, ys + (e - s));
        out[ys * w + x] ^= 1;
        if (ye < h) out[ye * w + x] ^= 1;
        s += ye - ys;
      }
    }
    pos += c;
  }
  const yEnd = Math.min(h - 1, y0 + bh); // the row after the box holds end marks too
  if ((w & 3) === 0) {
    const O = new Uint32Array(out.buffer, 0, (h * w) >> 2);
    const wq = w >> 2, k0 = x0 >> 2, k1 = (x0 + bw + 3) >> 2;
    for (let y = y0 + 1; y <= yEnd; y++) {
      for (let k = y * wq + k0, e = y * wq + k1; k < e; k++) O[k] ^= O[k - wq];
    }
  } else {
    for (let y = y0 + 1; y <= yEnd; y++) {
      for (let i = y * w + x0, e = i + bw; i < e; i++) out[i] ^= out[i - w];
    }
  }
  return out;
}

export function emptyRle(h: number, w: number): Rle {
  checkSize(h, w);
  return { h, w, counts: Uint32Array.of(h * w) };
}

export function fullRle(h: number, w: number): Rle {
  checkSize(h, w);
  return { h, w, counts: Uint32Array.of(0, h * w) };
}

/** Same size and same pixels (zero-length runs in either operand do not matter). */
export function rleEquals(a: Rle, b: Rle): boolean {
  if (a.h !== b.h || a.w !== b.w) return false;
  const ca = a.counts, cb = b.counts;
  let i = 0, j = 0;
  let ra = ca.length ? ca[0] : 0, rb = cb.length ? cb[0] : 0;
  let va = 0, vb = 0;
  for (;;) {
    while (ra === 0 && i + 1 < ca.length) { ra = ca[++i]; va ^= 1; }
    while (rb === 0 && j + 1 < cb.length) { rb = cb[++j]; vb ^= 1; }
    if (ra === 0 || rb === 0) return ra === rb;
    if (va !== vb) return false;
    const c = ra < rb ? ra : rb;
    ra -= c;
    rb -= c;
  }
}

// ---------------------------------------------------------------------------------------------
// Compressed strings, exactly pycocotools' rleToString / rleFrString: each count (or, from the
// fourth on, its difference to the count two before) is written 5 bits per char, low bits first,
// bit 0x20 = more chars follow, the last char's bit 0x10 is the sign, chars offset by 48 ('0').
// Arithmetic uses plain numbers because counts and differences need up to 33 bits.

export function toCompressedString(rle: Rle): string {
  const c = rle.counts;
  const buf = new Uint8Array(c.length * 7);
  let p = 0;
  for (let i = 0; i < c.length; i++) {
    let x = i > 2 ? c[i] - c[i - 2] : c[i];
    for (;;) {
      const low = x - Math.floor(x / 32) * 32; // x & 0x1f for any sign
      x = Math.floor(x / 32); // arithmetic shift right by 5
      const more = low & 0x10 ? x !== -1 : x !== 0;
      buf[p++] = (more ? low | 0x20 : low) + 48;
      if (!more) break;
    }
  }
  return latin1.decode(buf.subarray(0, p));
}

const latin1 = new TextDecoder('latin1');

export function fromCompressedString(s: string, h: number, w: number): Rle {
  checkSize(h, w, MaskFormatError);
  // A count ends at each char without the 0x20 bit: count them before allocating, so a string of millions of
  // runs for a small mask is refused without an array per char.
  let runs = 0;
  for (let p = 0; p < s.length; p++) if (!((s.charCodeAt(p) - 48) & 0x20)) runs++;
  checkRuns(runs, h, w, 'compressed RLE string');
  const counts = new Uint32Array(runs);
  let m = 0;
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let scale = 1; // 32^k
    for (;;) {
      if (p >= s.length) throw new MaskFormatError('compressed RLE string ends in the middle of a count');
      const ch = s.charCodeAt(p++) - 48;
      if (ch < 0 || ch > 63) throw new MaskFormatError(`compressed RLE string has an invalid character at ${p - 1}`);
      x += (ch & 0x1f) * scale;
      scale *= 32;
      if (!(ch & 0x20)) {
        if (ch & 0x10) x -= scale; // sign-extend
        break;
      }
      if (scale > 2 ** 40) throw new MaskFormatError('compressed RLE string has a count that is too long');
    }
    if (m > 2) x += counts[m - 2];
    if (x < 0 || x > 0xffffffff) throw new MaskFormatError(`compressed RLE string decodes to an invalid count ${x} at run ${m}`);
    counts[m++] = x;
  }
  const rle = { h, w, counts };
  checkTotal(rle);
  return rle;
}

// ---------------------------------------------------------------------------------------------
// COCO JSON objects: { size: [h, w], counts: number[] | string }.

export function toCocoRle(rle: Rle, compressed: boolean): { size: [number, number]; counts: string | number[] } {
  return { size: [rle.h, rle.w], counts: compressed ? toCompressedString(rle) : Array.from(rle.counts) };
}

/** Parses and validates a COCO RLE object; throws MaskFormatError on anything malformed. */
export function fromCocoRle(obj: unknown): Rle {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new MaskFormatError('RLE must be an object with size and counts');
  const { size, counts } = obj as { size?: unknown; counts?: unknown };
  if (!Array.isArray(size) || size.length !== 2) throw new MaskFormatError('RLE size must be [height, width]');
  const [h, w] = size as unknown[];
  if (!isPosInt(h) || !isPosInt(w)) throw new MaskFormatError(`RLE size must be two positive integers, got ${JSON.stringify(size)}`);
  checkSize(h, w, MaskFormatError);
  if (typeof counts === 'string') return fromCompressedString(counts, h, w);
  if (!Array.isArray(counts)) throw new MaskFormatError('RLE counts must be an array of integers or a compressed string');
  checkRuns(counts.length, h, w, 'RLE counts');
  const c = new Uint32Array(counts.length);
  for (let i = 0; i < counts.length; i++) {
    const v = counts[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new MaskFormatError(`RLE counts[${i}] must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
    c[i] = v;
  }
  const rle = { h, w, counts: c };
  checkTotal(rle);
  return rle;
}

function isPosInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** h·w pixels make at most h·w + 1 runs (every pixel its own run, after an empty first run of zeros). */
function checkRuns(runs: number, h: number, w: number, what: string): void {
  if (runs > h * w + 1) throw new MaskFormatError(`${what} has ${runs} runs; a ${h}×${w} mask has at most ${h * w + 1}`);
}

function checkTotal(rle: Rle): void {
  let total = 0;
  for (let i = 0; i < rle.counts.length; i++) total += rle.counts[i];
  if (total !== rle.h * rle.w) {
    throw new MaskFormatError(`RLE counts sum to ${total}, expected h*w = ${rle.h}*${rle.w} = ${rle.h * rle.w}`);
  }
}

// Counts are uint32 (as in pycocotools), so h*w must fit.
export function checkSize(h: number, w: number, E: new (m: string) => Error = RangeError): void {
  if (!isPosInt(h) || !isPosInt(w)) throw new E(`mask size must be two positive integers, got ${h}×${w}`);
  if (h * w > 0xffffffff) throw new E(`mask size ${h}×${w} exceeds 2^32 pixels`);
}

/** What a project stores of a mask: the compressed counts, its size, area and bbox. */
export function maskFields(rle: Rle): { rle: string; height: number; width: number; area: number; bbox: [number, number, number, number] } {
  return { rle: toCompressedString(rle), height: rle.h, width: rle.w, area: area(rle), bbox: bbox(rle) };
}
