// The codec as it was before its integer fast paths and reused output arrays: the peer that
// tests/masks/codec-previous.test.ts holds the current codec to, mask by mask and string by string, and that
// `npm run bench -- rle` measures beside it in the same run.
import { bbox } from '../../src/shared/masks/ops';
import { MaskFormatError, checkSize, type Rle } from '../../src/shared/masks/rle';

/** Encodes a ROW-MAJOR h×w mask (index y*w+x, nonzero = inside). */
export function previousEncode(mask: Uint8Array, h: number, w: number): Rle {
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

// Reused between calls, so a call allocates only its result; kept only up to this many entries (a 2-megapixel
// mask's worth: at most 8 MB per buffer stays allocated).
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
export function previousDecode(rle: Rle): Uint8Array {
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

let chars = new Uint8Array(4096);
let runs = new Uint32Array(1024);

export function previousToCompressedString(rle: Rle): string {
  const c = rle.counts;
  let buf = chars;
  if (buf.length < c.length * 7) {
    buf = new Uint8Array(c.length * 7); // 33 bits take at most 7 chars
    if (buf.length <= SCRATCH_KEEP) chars = buf;
  }
  let p = 0;
  for (let i = 0; i < c.length; i++) {
    let x = i > 2 ? c[i] - c[i - 2] : c[i];
    if (x >= -16 && x < 16) {
      buf[p++] = (x & 0x1f) + 48; // one char: the common case of a difference between neighbouring runs
      continue;
    }
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
  return ascii.decode(buf.subarray(0, p));
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

export function previousFromCompressedString(s: string, h: number, w: number): Rle {
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
  return { h, w, counts: counts.slice(0, readCounts(s, counts, h, w)) };
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

/** h·w pixels make at most h·w + 1 runs (every pixel its own run, after an empty first run of zeros). */
function checkRuns(runs: number, h: number, w: number, what: string): void {
  if (runs > h * w + 1) throw new MaskFormatError(`${what} has ${runs} runs; a ${h}×${w} mask has at most ${h * w + 1}`);
}

function checkTotal(total: number, h: number, w: number): void {
  if (total !== h * w) throw new MaskFormatError(`RLE counts sum to ${total}, expected h*w = ${h}*${w} = ${h * w}`);
}

