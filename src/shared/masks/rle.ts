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
  return looksDense(mask, h, w) ? walkColumns(mask, h, w) : fromTransitions(mask, h, w);
}

/**
 * Whether more than one pixel in 16 differs from the one above, judged on up to 8 evenly spaced rows (more
 * rows cost sparse masks time and change few choices). Above that (noise, dithering) walking the columns costs
 * less than sorting the transitions by column.
 */
function looksDense(mask: Uint8Array, h: number, w: number): boolean {
  if (h < 2) return false;
  const step = Math.max(1, Math.floor((h - 1) / 8));
  let changed = 0, seen = 0;
  for (let y = 1; y < h; y += step) {
    for (let i = y * w, e = i + w; i < e; i++) changed += (mask[i] !== 0) !== (mask[i - w] !== 0) ? 1 : 0;
    seen += w;
  }
  return changed * 16 > seen;
}

/** Column by column, as pycocotools does, with a branch-free step per pixel (a dense mask's runs are short). */
function walkColumns(mask: Uint8Array, h: number, w: number): Rle {
  const n = h * w;
  let out = walked;
  if (out.length < n + 1) {
    out = new Uint32Array(n + 1);
    if (out.length <= SCRATCH_KEEP) walked = out;
  }
  let m = 0, prev = 0, runStart = 0;
  // One flat loop over column-major positions p (row-major index i): a nested loop spends its time
  // leaving and re-entering compiled code column by column.
  for (let p = 0, i = 0; p < n; p++) {
    const v = mask[i] !== 0 ? 1 : 0;
    const d = v ^ prev;
    out[m] = p - runStart;
    m += d;
    runStart = d ? p : runStart;
    prev = v;
    i += w;
    if (i >= n) i -= n - 1; // the top of the next column
  }
  out[m] = n - runStart;
  m += 1;
  return { h, w, counts: out.slice(0, m) };
}

// Reused between calls, so a call allocates only its result; kept only up to this many 4-byte entries (a
// 2-megapixel mask's worth), or four times as many bytes: at most 8 MB per buffer stays allocated.
const SCRATCH_KEEP = 1 << 21;
let walked = new Uint32Array(4096);

function fromTransitions(mask: Uint8Array, h: number, w: number): Rle {
  const n = h * w;
  // Walking columns of a row-major image reads with a stride, so scan rows instead and collect the
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
  if ((w & 3) === 0 && (mask.byteOffset & 3) === 0 && LITTLE_ENDIAN) {
    // Four pixels per word, eight words per step: identical words above and below cannot hold a transition,
    // and a word that differs yields its transitions from its bits, without a branch per pixel.
    const M = new Uint32Array(mask.buffer, mask.byteOffset, (h * w) >> 2);
    const wq = w >> 2, nw = M.length;
    for (let k = 0; k < wq; k++) K = pushWord(K, 4 * k, inside(M[k]));
    let k = wq;
    for (; k + 8 <= nw; k += 8) {
      const j = k - wq;
      const d = (M[k] ^ M[j]) | (M[k + 1] ^ M[j + 1]) | (M[k + 2] ^ M[j + 2]) | (M[k + 3] ^ M[j + 3]) |
        (M[k + 4] ^ M[j + 4]) | (M[k + 5] ^ M[j + 5]) | (M[k + 6] ^ M[j + 6]) | (M[k + 7] ^ M[j + 7]);
      if (d === 0) continue;
      for (let q = k; q < k + 8; q++) K = pushWord(K, 4 * q, inside(M[q]) ^ inside(M[q - wq]));
    }
    for (; k < nw; k++) K = pushWord(K, 4 * k, inside(M[k]) ^ inside(M[k - wq]));
  } else {
    for (let i = 0; i < w; i++) if (mask[i] !== 0) K = pushTransition(K, i);
    for (let i = w, n = h * w; i < n; i++) if ((mask[i] !== 0) !== (mask[i - w] !== 0)) K = pushTransition(K, i);
  }
  return K;
}

// The bit arithmetic below numbers a word's bytes from its low end.
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** The high bit of each byte of `v` that is not zero. */
function inside(v: number): number {
  return (((v & 0x7f7f7f7f) + 0x7f7f7f7f) | v) & 0x80808080;
}

/** Pushes pixel i + b for each byte b whose high bit is set in `bits`. */
function pushWord(K: number, i: number, bits: number): number {
  while (bits !== 0) {
    const low = bits & -bits;
    K = pushTransition(K, i + ((31 - Math.clz32(low)) >> 3));
    bits ^= low;
  }
  return K;
}

/**
 * Decodes to a ROW-MAJOR h×w array of 0/1: a new one, or `out` (h·w long, whatever it holds) for callers that
 * decode mask after mask. A fresh megabyte costs more than decoding into it: it is zeroed memory outside the
 * JavaScript heap, and allocating it again and again makes the collector run.
 */
export function decode(rle: Rle, out?: Uint8Array): Uint8Array {
  const { h, w, counts } = rle;
  if (out === undefined) out = new Uint8Array(h * w);
  else if (out.length !== h * w) throw new RangeError(`output has ${out.length} pixels, expected ${h}×${w} = ${h * w}`);
  else out.fill(0);
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
  if ((w & 3) === 0 && (out.byteOffset & 3) === 0) {
    const O = new Uint32Array(out.buffer, out.byteOffset, (h * w) >> 2);
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
// Counts and differences need up to 33 bits: both directions take an int32-only path where everything fits
// (counts below 2^31 when writing, masks of up to 2^30 pixels when reading) and plain numbers beyond.

let chars = new Uint8Array(4096);
let runs = new Uint32Array(1024);

export function toCompressedString(rle: Rle): string {
  const c = rle.counts;
  let buf = chars;
  if (buf.length < c.length * 7) {
    buf = new Uint8Array(c.length * 7); // 33 bits take at most 7 chars
    if (buf.length <= SCRATCH_KEEP * 4) chars = buf;
  }
  let p = writeInt32(c, buf);
  if (p < 0) p = writeAny(c, buf);
  return ascii.decode(buf.subarray(0, p));
}

/**
 * The chars of counts below 2^31 (their differences then fit in int32 too), in int32 arithmetic throughout;
 * -1 if a count is larger. The two previous counts stay in locals: reading them back, or a typed-array view
 * made per call, costs more than the step itself on a mask of a few runs.
 */
function writeInt32(c: Uint32Array, buf: Uint8Array): number {
  let p = 0, c2 = 0, c1 = 0, all = 0; // c2, c1: the counts two and one before
  for (let i = 0; i < c.length; i++) {
    const v = c[i] | 0;
    all |= v; // negative once a count has bit 31
    let x = i > 2 ? (v - c2) | 0 : v;
    c2 = c1;
    c1 = v;
    if (((x + 16) | 0) >>> 0 < 32) {
      buf[p++] = (x & 0x1f) + 48; // one char: the common case of a difference between neighbouring runs
      continue;
    }
    for (;;) {
      const low = x & 0x1f;
      x >>= 5;
      if (low & 0x10 ? x !== -1 : x !== 0) buf[p++] = low + 80; // 48 + the 0x20 "more" bit
      else {
        buf[p++] = low + 48;
        break;
      }
    }
  }
  return all < 0 ? -1 : p;
}

/** The chars of any counts: integer arithmetic where a value fits in 32 bits, plain numbers beyond. */
function writeAny(c: Uint32Array, buf: Uint8Array): number {
  let p = 0;
  for (let i = 0; i < c.length; i++) {
    let x = i > 2 ? c[i] - c[i - 2] : c[i];
    if (x < -0x80000000 || x > 0x7fffffff) {
      p = writeWide(x, buf, p);
      continue;
    }
    for (;;) {
      const low = x & 0x1f;
      x >>= 5;
      const more = low & 0x10 ? x !== -1 : x !== 0;
      buf[p++] = (more ? low | 0x20 : low) + 48;
      if (!more) break;
    }
  }
  return p;
}

/** One value beyond 32-bit integers, in plain arithmetic: x & 0x1f and x >> 5 for any sign. */
function writeWide(x: number, buf: Uint8Array, p: number): number {
  for (;;) {
    const low = x - Math.floor(x / 32) * 32;
    x = Math.floor(x / 32);
    const more = low & 0x10 ? x !== -1 : x !== 0;
    buf[p++] = (more ? low | 0x20 : low) + 48;
    if (!more) return p;
  }
}

// The chars are '0' to 'o', plain ASCII: UTF-8 decoding gives the same string and is the fastest decoder.
const ascii = new TextDecoder();
const utf8 = new TextEncoder();
let bytes = new Uint8Array(4096);

export function fromCompressedString(s: string, h: number, w: number): Rle {
  checkSize(h, w, MaskFormatError);
  const n = s.length;
  // Every count takes at least one char, so only a string longer than h·w + 1 can hold too many runs: count
  // them before decoding, so that a string of millions of runs for a small mask is refused without an array
  // per char.
  if (n > h * w + 1) {
    let k = 0;
    for (let p = 0; p < n; p++) if (!((s.charCodeAt(p) - 48) & 0x20)) k++;
    checkRuns(k, h, w, 'compressed RLE string');
  }
  let counts = runs;
  if (counts.length < n) {
    counts = new Uint32Array(n);
    if (n <= SCRATCH_KEEP) runs = counts;
  }
  let m = h * w <= INT32_PIXELS ? readInt32(s, counts, h * w) : -1;
  if (m < 0) m = readCounts(s, counts, h, w);
  return { h, w, counts: counts.slice(0, m) };
}

// Up to 2^30 pixels, a count (≤ 2^30) plus a difference of up to six chars (30 bits) stays within int32.
const INT32_PIXELS = 2 ** 30;

/**
 * The counts of a well-formed string of ASCII chars for a mask of n ≤ 2^30 pixels, read from its bytes (one
 * charCodeAt costs about as much as the whole step) in int32 arithmetic; -1 on anything else (a char out of
 * range or beyond ASCII, a count of more than six chars or out of range, a wrong total), which readCounts then
 * reads again and reports exactly.
 */
function readInt32(s: string, counts: Uint32Array, n: number): number {
  const len = s.length;
  let b = bytes;
  if (b.length <= len) {
    b = new Uint8Array(len + 1);
    if (len < SCRATCH_KEEP * 4) bytes = b;
  }
  const { read, written } = utf8.encodeInto(s, b);
  if (read !== len || written !== len) return -1; // a char beyond ASCII takes more than one byte
  // A 0 after the last char reads as out of range, so that only a char out of range needs to ask whether the
  // string has ended: the step of a one-char count tests nothing else.
  b[len] = 0;
  let m = 0, p = 0, sum = 0, c2 = 0, c1 = 0; // c2, c1: the counts two and one before
  for (;;) {
    let ch = b[p++] - 48;
    let x: number;
    if (ch >>> 0 < 32) x = (ch << 27) >> 27; // one char: five bits, the sign in bit 4
    else {
      if (p > len) break;
      if (ch >>> 0 >= 64) return -1;
      x = ch & 0x1f;
      let shift = 5;
      for (;;) {
        ch = b[p++] - 48; // the 0 after the last char fails below: the string ends in the middle of a count
        if (ch >>> 0 >= 64) return -1;
        x |= (ch & 0x1f) << shift;
        shift += 5;
        if (ch < 32) break;
        if (shift === 30) return -1;
      }
      if (ch & 0x10) x |= -1 << shift; // sign-extend
    }
    if (m > 2) x += c2;
    if (x >>> 0 > n - sum) return -1; // negative, or more pixels than are left
    counts[m++] = x;
    sum += x;
    c2 = c1;
    c1 = x;
  }
  return sum === n ? m : -1;
}

/** Decodes the counts of `s` into `counts` (at least s.length long), checks that they cover h×w and returns
 * how many there are. */
function readCounts(s: string, counts: Uint32Array, h: number, w: number): number {
  const n = s.length;
  let m = 0, p = 0, sum = 0;
  while (p < n) {
    const start = p;
    // Up to six chars (30 bits) in integer arithmetic; a longer count is read again in plain numbers.
    let x = 0, shift = 0, ch = 0;
    do {
      if (p >= n) throw new MaskFormatError('compressed RLE string ends in the middle of a count');
      ch = s.charCodeAt(p++) - 48;
      if (ch < 0 || ch > 63) throw new MaskFormatError(`compressed RLE string has an invalid character at ${p - 1}`);
      x |= (ch & 0x1f) << shift;
      shift += 5;
    } while (ch & 0x20 && shift < 30);
    if (ch & 0x20) {
      x = readWide(s, start);
      while ((s.charCodeAt(p++) - 48) & 0x20); // readWide checked these chars
    } else if (ch & 0x10) x |= -1 << shift; // sign-extend
    if (m > 2) x += counts[m - 2];
    if (x < 0 || x > 0xffffffff) throw new MaskFormatError(`compressed RLE string decodes to an invalid count ${x} at run ${m}`);
    counts[m++] = x;
    sum += x;
  }
  checkTotal(sum, h, w);
  return m;
}

/** The count that starts at `p`, in plain arithmetic. */
function readWide(s: string, p: number): number {
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
      return x;
    }
    if (scale > 2 ** 40) throw new MaskFormatError('compressed RLE string has a count that is too long');
  }
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
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    const v = counts[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new MaskFormatError(`RLE counts[${i}] must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
    c[i] = v;
    total += v;
  }
  checkTotal(total, h, w);
  return { h, w, counts: c };
}

function isPosInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** h·w pixels make at most h·w + 1 runs (every pixel its own run, after an empty first run of zeros). */
function checkRuns(runs: number, h: number, w: number, what: string): void {
  if (runs > h * w + 1) throw new MaskFormatError(`${what} has ${runs} runs; a ${h}×${w} mask has at most ${h * w + 1}`);
}

function checkTotal(total: number, h: number, w: number): void {
  if (total !== h * w) throw new MaskFormatError(`RLE counts sum to ${total}, expected h*w = ${h}*${w} = ${h * w}`);
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
