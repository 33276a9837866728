// COCO run-length encoding: column-major (index = x*h + y), counts alternate runs starting with
// zeros (the first run may be 0 long), size = [h, w]. This is the storage and exchange form of masks.

export interface Rle {
  h: number;
  w: number;
  counts: Uint32Array;
}

export class MaskFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MaskFormatError';
  }
}

/** Encodes a ROW-MAJOR h×w mask (index y*w+x, nonzero = inside). */
export function encode(mask: Uint8Array, h: number, w: number): Rle {
  checkSize(h, w);
  if (mask.length !== h * w) throw new RangeError(`mask has ${mask.length} pixels, expected ${h}×${w} = ${h * w}`);
  // Worst case (checkerboard) has h*w+1 runs; grow instead of allocating that up front.
  let out = new Uint32Array(Math.min(h * w + 1, 1024));
  let m = 0;
  let prev = 0; // value of the previous pixel in column-major order
  let runStart = 0; // column-major index where the current run began
  for (let x = 0; x < w; x++) {
    const base = x * h;
    // Walk down column x; the row-major stride is w.
    for (let y = 0, i = x; y < h; y++, i += w) {
      const v = mask[i] !== 0 ? 1 : 0;
      if (v !== prev) {
        if (m + 2 > out.length) out = grow(out, h * w + 1);
        out[m++] = base + y - runStart;
        runStart = base + y;
        prev = v;
      }
    }
  }
  if (m + 1 > out.length) out = grow(out, h * w + 1);
  out[m++] = h * w - runStart;
  return { h, w, counts: out.slice(0, m) };
}

function grow(a: Uint32Array, cap: number): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(Math.min(cap, a.length * 2));
  b.set(a);
  return b;
}

/** Decodes to a ROW-MAJOR h×w array of 0/1. */
export function decode(rle: Rle): Uint8Array {
  const { h, w, counts } = rle;
  const out = new Uint8Array(h * w);
  let pos = 0;
  for (let j = 0; j < counts.length; j++) {
    const n = counts[j];
    if (j & 1) fillColumnMajor(out, h, w, pos, pos + n);
    pos += n;
  }
  return out;
}

// Sets column-major indices [s, e) in a row-major buffer, one column segment at a time.
function fillColumnMajor(out: Uint8Array, h: number, w: number, s: number, e: number): void {
  while (s < e) {
    const x = Math.floor(s / h);
    const y0 = s - x * h;
    const y1 = Math.min(h, y0 + (e - s));
    for (let y = y0, i = y0 * w + x; y < y1; y++, i += w) out[i] = 1;
    s += y1 - y0;
  }
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
  const counts = new Uint32Array(s.length);
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
  const rle = { h, w, counts: counts.slice(0, m) };
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
