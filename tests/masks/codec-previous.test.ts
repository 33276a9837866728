// The codec's fast paths (int32 arithmetic, chars read as bytes, reused buffers, decoding into the caller's
// array) must give exactly what the codec gave before them (tests/masks/previous-codec.ts): the same counts,
// pixels and strings, and the same errors, on masks of every shape from one pixel up.
import { describe, expect, it } from 'vitest';
import { decode, encode, fromCompressedString, toCompressedString, type Rle } from '../../src/shared/masks';
import { randomMask, rng } from './helpers';
import { previousDecode, previousEncode, previousFromCompressedString, previousToCompressedString } from './previous-codec';

/** The outcome of a call: its value or its error's class and message. */
function outcome<T>(f: () => T): { value: T } | { error: string } {
  try {
    return { value: f() };
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}` };
  }
}

/** Sizes from a single pixel up: widths 1 to 9 (multiples of four and not), odd sizes, a 640×480 image. */
function sizes(R: () => number): [number, number][] {
  const out: [number, number][] = [[1, 1], [1, 7], [7, 1], [2, 2], [3, 4], [5, 8], [240, 320], [97, 61]];
  for (let w = 1; w <= 9; w++) out.push([1 + Math.floor(R() * 40), w]);
  for (let i = 0; i < 40; i++) out.push([1 + Math.floor(R() * 90), 1 + Math.floor(R() * 90)]);
  return out;
}

describe('the codec against the previous codec', () => {
  it('encodes, decodes and writes and reads strings exactly as before, for empty, full, noisy and blob masks', () => {
    const R = rng(71);
    for (const [h, w] of sizes(R)) {
      for (let k = 0; k < 6; k++) {
        const m = randomMask(R, h, w);
        const r = encode(m, h, w);
        expect(Array.from(r.counts), `${h}×${w} mask ${k}`).toEqual(Array.from(previousEncode(m, h, w).counts));
        expect(decode(r)).toEqual(previousDecode(r));
        const s = toCompressedString(r);
        expect(s).toBe(previousToCompressedString(r));
        expect(Array.from(fromCompressedString(s, h, w).counts)).toEqual(Array.from(r.counts));
      }
    }
  });

  it('decodes into a caller\'s array, whatever it held, the same pixels as a fresh decode, and returns that array', () => {
    const R = rng(72);
    let k0 = 0;
    for (const [h, w] of sizes(R)) {
      // A view at an offset of a larger buffer too, as a caller may hand one out of a pool.
      const out = k0 % 2 ? new Uint8Array(h * w) : new Uint8Array(h * w + 3).subarray(1 + (k0 % 3), 1 + (k0 % 3) + h * w);
      k0++;
      for (let k = 0; k < 4; k++) {
        out.fill(k === 0 ? 0 : k === 1 ? 1 : 7); // left over from an earlier mask, or never a mask at all
        const r = encode(randomMask(R, h, w), h, w);
        const got = decode(r, out);
        expect(got).toBe(out);
        expect(got, `${h}×${w} mask ${k}`).toEqual(previousDecode(r));
      }
    }
  });

  it('refuses an output array of the wrong length', () => {
    const r = encode(new Uint8Array(12).fill(1), 3, 4);
    expect(() => decode(r, new Uint8Array(11))).toThrow(new RangeError('output has 11 pixels, expected 3×4 = 12'));
  });

  it('reads strings with chars beyond ASCII, in any place and after longer strings, with the previous errors', () => {
    const R = rng(73);
    const long = toCompressedString(encode(randomMask(R, 60, 60), 60, 60));
    const short = toCompressedString(encode(randomMask(R, 6, 5), 6, 5));
    for (const odd of ['é', '\u20ac', '\ud83d', '\ud83d\ude00', '\u0130', '\u00b0', '\u0070']) {
      for (const at of [0, 1, short.length - 1, short.length]) {
        const s = short.slice(0, at) + odd + short.slice(at);
        fromCompressedString(long, 60, 60); // leaves its bytes behind in whatever the reader reuses
        expect(outcome(() => Array.from(fromCompressedString(s, 6, 5).counts)), JSON.stringify(s)).toEqual(
          outcome(() => Array.from(previousFromCompressedString(s, 6, 5).counts)),
        );
      }
    }
  });

  it('writes and reads counts of 2^31 and more (masks of billions of pixels) as before', () => {
    const cases: Rle[] = [
      { h: 65536, w: 65535, counts: Uint32Array.of(2 ** 31, 2 ** 31 - 65536) },
      { h: 65536, w: 65535, counts: Uint32Array.of(0, 5, 2 ** 32 - 65536 - 10, 5) },
      { h: 1, w: 0xffffffff, counts: Uint32Array.of(3, 2 ** 31 + 7, 1, 2 ** 31 - 12) },
      { h: 32768, w: 32768, counts: Uint32Array.of(1, 2 ** 30 - 2, 1) },
    ];
    for (const r of cases) {
      const s = toCompressedString(r);
      expect(s).toBe(previousToCompressedString(r));
      expect(Array.from(fromCompressedString(s, r.h, r.w).counts)).toEqual(Array.from(previousFromCompressedString(s, r.h, r.w).counts));
    }
  });
});
