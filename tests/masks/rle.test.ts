import { describe, expect, it } from 'vitest';
import {
  MaskFormatError, decode, emptyRle, encode, fromCocoRle, fromCompressedString, fullRle, rleEquals, toCocoRle,
  toCompressedString, type Rle,
} from '../../src/shared/masks';
import { maskOf, randomMask, rng } from './helpers';

const counts = (r: Rle) => Array.from(r.counts);

describe('encode / decode (hand-checked, column-major, first run zeros)', () => {
  const cases: [string, number, number, (x: number, y: number) => boolean, number[]][] = [
    ['empty', 4, 5, () => false, [20]],
    ['full', 4, 5, () => true, [0, 20]],
    ['first pixel', 4, 5, (x, y) => x === 0 && y === 0, [0, 1, 19]],
    ['last pixel', 4, 5, (x, y) => x === 4 && y === 3, [19, 1]],
    ['single column', 4, 5, (x) => x === 2, [8, 4, 8]],
    ['single row (one pixel per column)', 4, 3, (_x, y) => y === 1, [1, 1, 3, 1, 3, 1, 2]],
    ['1x1 empty', 1, 1, () => false, [1]],
    ['1x1 full', 1, 1, () => true, [0, 1]],
    ['edge pixels of 3x3', 3, 3, (x, y) => x !== 1 || y !== 1, [0, 4, 1, 4]],
    ['row-major input, x=1 y=0 of 2x3', 2, 3, (x, y) => x === 1 && y === 0, [2, 1, 3]],
    ['run wrapping into the next column', 4, 3, (x, y) => (x === 0 && y >= 2) || (x === 1 && y <= 1), [2, 4, 6]],
    ['single column image', 5, 1, (_x, y) => y === 1 || y === 2, [1, 2, 2]],
  ];
  for (const [name, h, w, f, want] of cases) {
    it(name, () => {
      const m = maskOf(h, w, f);
      const r = encode(m, h, w);
      expect(r.h).toBe(h);
      expect(r.w).toBe(w);
      expect(counts(r)).toEqual(want);
      expect(decode(r)).toEqual(m);
    });
  }

  it('treats any nonzero byte as inside', () => {
    expect(counts(encode(Uint8Array.of(0, 7, 255, 0), 2, 2))).toEqual([1, 2, 1]);
    // Width 4 takes the word-wide path: 1 above 7 differs as bytes but not as pixels.
    expect(counts(encode(Uint8Array.of(1, 0, 0, 0, 7, 0, 0, 255), 2, 4))).toEqual([0, 2, 5, 1]);
  });

  it('encodes masks that are views at odd offsets', () => {
    const R = rng(12);
    for (const [h, w] of [[8, 8], [5, 12], [7, 9]]) {
      const m = randomMask(R, h, w);
      const buf = new Uint8Array(h * w + 3);
      buf.set(m, 3);
      const view = buf.subarray(3);
      expect(counts(encode(view, h, w))).toEqual(counts(encode(m, h, w)));
      expect(decode(encode(view, h, w))).toEqual(m);
    }
  });

  it('round-trips random masks of many shapes', () => {
    const R = rng(11);
    for (let i = 0; i < 300; i++) {
      const h = 1 + Math.floor(R() * 40), w = 1 + Math.floor(R() * 40);
      const m = randomMask(R, h, w);
      const r = encode(m, h, w);
      expect(r.counts.reduce((a, b) => a + b, 0)).toBe(h * w);
      expect(decode(r)).toEqual(m);
    }
  });

  it('rejects a mask of the wrong length', () => {
    expect(() => encode(new Uint8Array(5), 2, 3)).toThrow(RangeError);
  });

  it('emptyRle / fullRle', () => {
    expect(counts(emptyRle(3, 4))).toEqual([12]);
    expect(counts(fullRle(3, 4))).toEqual([0, 12]);
    expect(decode(fullRle(3, 4)).every((v) => v === 1)).toBe(true);
  });
});

describe('rleEquals', () => {
  it('compares pixels, not the spelling of the counts', () => {
    const a: Rle = { h: 2, w: 3, counts: Uint32Array.of(1, 2, 3) };
    expect(rleEquals(a, { h: 2, w: 3, counts: Uint32Array.of(1, 2, 0, 0, 3) })).toBe(true);
    expect(rleEquals(a, { h: 2, w: 3, counts: Uint32Array.of(1, 1, 0, 1, 3) })).toBe(true);
    expect(rleEquals(a, { h: 2, w: 3, counts: Uint32Array.of(1, 3, 2) })).toBe(false);
    expect(rleEquals(a, { h: 3, w: 2, counts: Uint32Array.of(1, 2, 3) })).toBe(false);
    expect(rleEquals(emptyRle(2, 2), { h: 2, w: 2, counts: Uint32Array.of(4, 0) })).toBe(true);
    expect(rleEquals(fullRle(2, 2), emptyRle(2, 2))).toBe(false);
  });
});

describe('compressed strings (pycocotools rleToString / rleFrString)', () => {
  it('hand-checked encodings', () => {
    const s = (c: number[]) => toCompressedString({ h: 1, w: 1, counts: Uint32Array.from(c) });
    expect(s([0])).toBe('0');
    expect(s([1])).toBe('1');
    expect(s([15])).toBe('?'); // 15 fits in 4 bits: one char, 48+15
    expect(s([16])).toBe('`0'); // 16 sets the sign bit of a 5-bit group: (16 | 0x20) + 48, then '0'
    expect(s([32])).toBe('P1');
    expect(s([3, 5, 7, 1])).toBe('357L'); // 4th count is stored as 1 - 5 = -4: 28 + 48 = 'L'
  });

  it('round-trips large counts and large negative deltas', () => {
    const h = 65535, w = 65535; // h*w = 4294836225 < 2^32
    const R = rng(5);
    for (let i = 0; i < 50; i++) {
      const c: number[] = [];
      let left = h * w;
      while (left > 0) {
        const n = Math.min(left, R() < 0.5 ? Math.floor(R() * 40) : Math.floor(R() ** 2 * 4e9));
        c.push(n);
        left -= n;
      }
      const rle: Rle = { h, w, counts: Uint32Array.from(c) };
      const s = toCompressedString(rle);
      expect(counts(fromCompressedString(s, h, w))).toEqual(c);
      expect(counts(fromCocoRle(toCocoRle(rle, true)))).toEqual(c);
      expect(counts(fromCocoRle(toCocoRle(rle, false)))).toEqual(c);
    }
    const one: Rle = { h, w, counts: Uint32Array.of(0, h * w) };
    expect(counts(fromCompressedString(toCompressedString(one), h, w))).toEqual([0, h * w]);
  });

  it('round-trips random masks', () => {
    const R = rng(6);
    for (let i = 0; i < 200; i++) {
      const h = 1 + Math.floor(R() * 50), w = 1 + Math.floor(R() * 50);
      const r = encode(randomMask(R, h, w), h, w);
      expect(counts(fromCompressedString(toCompressedString(r), h, w))).toEqual(counts(r));
    }
  });
});

describe('toCocoRle / fromCocoRle', () => {
  const r: Rle = { h: 2, w: 3, counts: Uint32Array.of(1, 2, 3) };

  it('writes size [h, w] and counts as list or string', () => {
    expect(toCocoRle(r, false)).toEqual({ size: [2, 3], counts: [1, 2, 3] });
    expect(toCocoRle(r, true)).toEqual({ size: [2, 3], counts: '123' });
    expect(counts(fromCocoRle({ size: [2, 3], counts: '123' }))).toEqual([1, 2, 3]);
    expect(counts(fromCocoRle(JSON.parse(JSON.stringify(toCocoRle(r, false)))))).toEqual([1, 2, 3]);
  });

  const bad: [string, unknown, RegExp][] = [
    ['null', null, /object/],
    ['an array', [1, 2], /object/],
    ['missing size', { counts: [6] }, /size/],
    ['size with one number', { size: [6], counts: [6] }, /size/],
    ['size with three numbers', { size: [1, 2, 3], counts: [6] }, /size/],
    ['zero height', { size: [0, 6], counts: [0] }, /positive integers/],
    ['fractional width', { size: [2, 1.5], counts: [3] }, /positive integers/],
    ['string size', { size: ['2', 3], counts: [6] }, /positive integers/],
    ['size beyond 2^32 pixels', { size: [70000, 70000], counts: [1] }, /2\^32/],
    ['missing counts', { size: [2, 3] }, /counts/],
    ['counts an object', { size: [2, 3], counts: { 0: 6 } }, /counts/],
    ['negative count', { size: [2, 3], counts: [7, -1] }, /counts\[1\]/],
    ['fractional count', { size: [2, 3], counts: [5.5, 0.5] }, /counts\[0\]/],
    ['string count', { size: [2, 3], counts: ['6'] }, /counts\[0\]/],
    ['NaN count', { size: [2, 3], counts: [NaN] }, /counts\[0\]/],
    ['count above 2^32', { size: [2, 3], counts: [2 ** 32] }, /counts\[0\]/],
    ['counts summing short', { size: [2, 3], counts: [1, 2] }, /sum to 3/],
    ['counts summing long', { size: [2, 3], counts: [4, 4] }, /sum to 8/],
    ['empty counts', { size: [2, 3], counts: [] }, /sum to 0/],
    ['string summing wrong', { size: [2, 3], counts: '12' }, /sum to 3/],
    ['string with invalid character', { size: [2, 3], counts: '1~3' }, /invalid character/],
    ['string with a space', { size: [2, 3], counts: '12 3' }, /invalid character/],
    ['string ending mid-count', { size: [2, 3], counts: '12P' }, /middle/],
    ['string decoding to a negative count', { size: [2, 3], counts: 'O7' }, /invalid count/],
    ['delta making a count negative', { size: [2, 3], counts: '123L' }, /invalid count/],
  ];
  for (const [name, obj, msg] of bad) {
    it(`rejects ${name}`, () => {
      expect(() => fromCocoRle(obj)).toThrow(MaskFormatError);
      expect(() => fromCocoRle(obj)).toThrow(msg);
    });
  }

  it('MaskFormatError is an Error with its own name', () => {
    const e = new MaskFormatError('x');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('MaskFormatError');
  });
});
