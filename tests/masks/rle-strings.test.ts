// The compressed-string codec takes integer fast paths and reuses its buffers; these tests hold it to the plain
// arithmetic implementation it replaced (kept here as the reference), on random counts of every width and on
// corrupted strings, whose errors must be the same too.
import { describe, expect, it } from 'vitest';
import { MaskFormatError, fromCompressedString, toCompressedString, type Rle } from '../../src/shared/masks';
import { rng } from './helpers';

function referenceToString(c: ArrayLike<number>): string {
  let out = '';
  for (let i = 0; i < c.length; i++) {
    let x = i > 2 ? c[i] - c[i - 2] : c[i];
    for (;;) {
      const low = x - Math.floor(x / 32) * 32;
      x = Math.floor(x / 32);
      const more = low & 0x10 ? x !== -1 : x !== 0;
      out += String.fromCharCode((more ? low | 0x20 : low) + 48);
      if (!more) break;
    }
  }
  return out;
}

function referenceFromString(s: string, h: number, w: number): number[] {
  let runs = 0;
  for (let p = 0; p < s.length; p++) if (!((s.charCodeAt(p) - 48) & 0x20)) runs++;
  if (runs > h * w + 1) throw new MaskFormatError(`compressed RLE string has ${runs} runs; a ${h}×${w} mask has at most ${h * w + 1}`);
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let scale = 1;
    for (;;) {
      if (p >= s.length) throw new MaskFormatError('compressed RLE string ends in the middle of a count');
      const ch = s.charCodeAt(p++) - 48;
      if (ch < 0 || ch > 63) throw new MaskFormatError(`compressed RLE string has an invalid character at ${p - 1}`);
      x += (ch & 0x1f) * scale;
      scale *= 32;
      if (!(ch & 0x20)) {
        if (ch & 0x10) x -= scale;
        break;
      }
      if (scale > 2 ** 40) throw new MaskFormatError('compressed RLE string has a count that is too long');
    }
    const m = counts.length;
    if (m > 2) x += counts[m - 2];
    if (x < 0 || x > 0xffffffff) throw new MaskFormatError(`compressed RLE string decodes to an invalid count ${x} at run ${m}`);
    counts.push(x);
  }
  const total = counts.reduce((a, b) => a + b, 0);
  if (total !== h * w) throw new MaskFormatError(`RLE counts sum to ${total}, expected h*w = ${h}*${w} = ${h * w}`);
  return counts;
}

/** Up to 500 random counts covering h·w, drawn from a width class (up to 2^0 to up to 2^31), plus tiny ones. */
function randomCounts(R: () => number, h: number, w: number): number[] {
  const c: number[] = R() < 0.5 ? [0] : []; // a mask may start with ones
  let left = h * w;
  const bits = Math.floor(R() * 32);
  while (left > 0 && c.length < 500) {
    const n = Math.min(left, 1 + Math.floor(R() * (R() < 0.3 ? 20 : 2 ** bits)));
    c.push(n);
    left -= n;
  }
  if (left > 0) c.push(left);
  return c;
}

/** The outcome of a call: its value or its error's class and message. */
function outcome<T>(f: () => T): { value: T } | { error: string } {
  try {
    return { value: f() };
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}` };
  }
}

describe('compressed strings against the plain-arithmetic reference', () => {
  const sizes: [number, number][] = [[1, 1], [3, 7], [480, 640], [65535, 65535], [1, 0xffffffff]];

  it('writes the same string and reads the same counts, for counts and differences of every width', () => {
    const R = rng(17);
    for (let i = 0; i < 600; i++) {
      const [h, w] = sizes[i % sizes.length];
      const c = randomCounts(R, h, w);
      const rle: Rle = { h, w, counts: Uint32Array.from(c) };
      const s = toCompressedString(rle);
      expect(s).toBe(referenceToString(c));
      expect(Array.from(fromCompressedString(s, h, w).counts)).toEqual(c);
    }
  });

  it('a long string after a short one, and the other way round, each gets exactly its own counts', () => {
    const R = rng(18);
    const long = randomCounts(R, 2000, 2000), short = [3, 1, 2];
    for (const c of [long, short, long, short]) {
      const [h, w] = c === short ? [2, 3] : [2000, 2000];
      const s = toCompressedString({ h, w, counts: Uint32Array.from(c) });
      expect(s).toBe(referenceToString(c));
      expect(Array.from(fromCompressedString(s, h, w).counts)).toEqual(c);
    }
  });

  it('corrupted strings fail with the same error as the reference, or decode to the same counts', () => {
    const R = rng(19);
    let failures = 0;
    for (let i = 0; i < 3000; i++) {
      const [h, w] = sizes[i % 3];
      const chars = referenceToString(randomCounts(R, h, w)).split('');
      // Replace, insert or drop a few chars: out-of-range ones, continuation bits, sign bits.
      for (let k = 1 + Math.floor(R() * 3); k > 0; k--) {
        const at = Math.floor(R() * (chars.length + 1));
        const ch = String.fromCharCode(40 + Math.floor(R() * 80));
        const how = Math.floor(R() * 3);
        if (how === 0) chars[at] = ch;
        else if (how === 1) chars.splice(at, 0, ch);
        else chars.splice(at, 1);
      }
      const s = chars.join('');
      const ours = outcome(() => Array.from(fromCompressedString(s, h, w).counts));
      expect(ours).toEqual(outcome(() => referenceFromString(s, h, w)));
      if ('error' in ours) failures++;
    }
    expect(failures).toBeGreaterThan(2000); // most corruptions are caught, so the error paths were compared
  });

  it('counts too long for 33 bits and strings of too many runs fail as in the reference', () => {
    for (const [s, h, w] of [['ooooooooooo0', 2, 3], ['oooooo0', 2, 3], ['1'.repeat(8), 2, 3], ['0'.repeat(7) + '6', 2, 3]] as const) {
      expect(outcome(() => Array.from(fromCompressedString(s, h, w).counts))).toEqual(outcome(() => referenceFromString(s, h, w)));
    }
  });
});
