// CLIP image preprocessing: the golden case (real photos, openai and transformers paths, bit for bit) through the kind
// `npm run golden` runs; Pillow's resampler on what the photos do not exercise (enlarging, grey + alpha, nearest),
// checked against Pillow 9.4.0's own output; the places where the two references part; Alpha-CLIP's mask → alpha.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import {
  alphaFromMask, CLIP_MEAN, CLIP_STD, decodeClipImage, preprocessClipImage, resizedSize, resizeNearestPlane, tokenMaskFromMask, type ClipImage,
} from '../../src/core/ml/models/clipPreprocess';
import { resizeBicubic, resizeNearest, type Pixels } from '../../src/core/ml/models/pilResample';
import { clipPreprocessKind } from '../../src/core/golden/clipPreprocess';
import { withinTolerance, type CaseManifest } from '../../src/core/golden/compare';
import { SafetensorsFile } from '../../src/core/ml/weights';
import { golden } from './weights.helpers';

/** The uint8 value a normalised CLIP input came from (channel c). */
const level = (v: number, c: number) => Math.round((v * CLIP_STD[c]! + CLIP_MEAN[c]!) * 255) + 0; // + 0: no -0

/** A w×h image whose samples follow a formula (the same formula fed Pillow for the expected hashes below). */
function pattern(channels: Pixels['channels'], w: number, h: number): Pixels {
  const d = new Uint8Array(w * h * channels);
  let i = 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < channels; c++)
        d[i++] = c === channels - 1 && (channels === 2 || channels === 4) ? (x * 13 + y * 7 + 40) % 256 : (x * 37 + y * 91 + c * 53 + ((x * y) % 17)) % 256;
  return { data: d, width: w, height: h, channels };
}
const sha = (p: Pixels) => createHash('sha256').update(p.data).digest('hex');

describe('clip_preprocess_Y golden', () => {
  it('every stored tensor remade bit for bit from its decoded file (openai at 224 and 336, transformers), decoded pixels as Pillow\'s', async () => {
    const checks = await clipPreprocessKind.check(golden('clip_preprocess_Y'), JSON.parse(readFileSync(golden('clip_preprocess_Y', 'manifest.json'), 'utf8')) as CaseManifest);
    expect(checks.filter((c) => !withinTolerance(c))).toEqual([]);
    expect(checks.every((c) => c.tolerance === 0)).toBe(true);
    const stored = SafetensorsFile.open(golden('clip_preprocess_Y', 'preprocessed.safetensors')).keys();
    expect(checks.map((c) => c.name).sort()).toEqual([
      ...stored,
      // chelsea_p is a palette image: Pillow's bytes are indices, sharp gives colours.
      ...['camera.png', 'hubble_deep_field.jpg', 'astronaut_crop455x300.png', 'chelsea_rgba.png', 'chelsea.png'].map((f) => `decoded ${f}`),
    ].sort());
  });
});

describe("Pillow 9.4's resize", () => {
  // sha256 of Image.frombytes(mode, size, <pattern>).resize(size, filter).tobytes() computed with Pillow 9.4.0.
  it.each([
    ['RGB enlarged 32×', 3, [7, 5], [224, 224], 'bicubic', 'bb2dd3592e2070550fe8cfcda3bb5f695c41e8f2b5b4261cf6e7ddd37bd4edf8'],
    ['L shrunk across, enlarged down', 1, [50, 50], [13, 29], 'bicubic', '24b38a0c0cf8650c4b2e54dc33858c7a2de82cc2efaf0d8cc1a5ebdf85f29bab'],
    ['LA (premultiplied)', 2, [40, 30], [17, 45], 'bicubic', '98fa2704e5d92ee83c34739a4e8dcbf5c89221c916f974a5cc551216788d0951'],
    ['RGBA (premultiplied)', 4, [31, 17], [64, 35], 'bicubic', 'ec485ab484805c5a440bd7b6b24d12e031c7cfa98b3364c0ea77d10e03b5eec2'],
    ['RGBA, vertical pass only', 4, [33, 9], [33, 20], 'bicubic', 'eb3b7b624a608aa3641d87289c728142093b55598bdcff04996891337d6a1fee'],
    ['nearest', 3, [45, 30], [20, 13], 'nearest', 'a5a1a7a2c89232f9dd11c7df40f2429ba452f7504bb4f6ce5c49a5879cc9c88b'],
  ] as const)('%s: the same bytes as Pillow', (_name, channels, [w, h], [W, H], filter, want) => {
    const img = pattern(channels, w, h);
    const out = filter === 'nearest' ? resizeNearest(img, W, H) : resizeBicubic(img, W, H);
    expect([out.width, out.height, out.channels]).toEqual([W, H, channels]);
    expect(sha(out)).toBe(want);
  });

  it('refuses sizes and sample counts that do not make an image', () => {
    const img = pattern(3, 4, 4);
    expect(() => resizeBicubic(img, 0, 3)).toThrow('cannot resize to 0×3');
    expect(() => resizeNearest({ ...img, width: 5 }, 2, 2)).toThrow('5×4×3 pixels do not match 48 samples');
  });
});

describe('CLIP preprocessing', () => {
  const image = (channels: ClipImage['channels'], w: number, h: number, sample: (x: number, y: number, c: number) => number, indexed = false): ClipImage => {
    const data = new Uint8Array(w * h * channels);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < channels; c++) data[(y * w + x) * channels + c] = sample(x, y, c);
    return { data, width: w, height: h, channels, ...(indexed ? { indexed } : {}) };
  };

  it('shorter side to the size, longer side truncated; a half-pixel crop offset: openai rounds half to even, transformers floors', () => {
    expect(resizedSize(451, 300, 224)).toEqual({ width: 336, height: 224 });
    expect(resizedSize(300, 455, 224)).toEqual({ width: 224, height: 339 });
    // Already 300 high: no resampling, so each column keeps its index as its red value.
    const cols = image(3, 455, 300, (x, _y, c) => (c === 0 ? x % 256 : 128));
    const openai = preprocessClipImage(cols, 300, 'openai');
    const hf = preprocessClipImage(cols, 300, 'transformers');
    expect(level(openai[0]!, 0)).toBe(78); // round(77.5) = 78 (even)
    expect(level(hf[0]!, 0)).toBe(77);
    expect(level(openai[299]!, 0)).toBe((78 + 299) % 256);
    // 84.5 goes down to the even 84 (JavaScript's Math.round would give 85).
    expect(level(preprocessClipImage(image(3, 469, 300, (x, _y, c) => (c === 0 ? x % 256 : 128)), 300, 'openai')[0]!, 0)).toBe(84);
  });

  it('normalises in float32 exactly as ToTensor and Normalize do', () => {
    const grey = preprocessClipImage(image(1, 224, 224, () => 200), 224);
    const want = CLIP_MEAN.map((m, c) => Math.fround(Math.fround(Math.fround(200 / 255) - Math.fround(m)) / Math.fround(CLIP_STD[c]!)));
    expect([grey[0], grey[224 * 224], grey[2 * 224 * 224]]).toEqual(want);
    expect(grey.length).toBe(3 * 224 * 224);
  });

  it('transparent pixels come out black on the openai path (resized premultiplied, alpha dropped), keep their colour on the transformers path', () => {
    const red = (a: number) => image(4, 40, 30, (_x, _y, c) => (c === 0 ? 255 : c === 3 ? a : 0));
    const clear = preprocessClipImage(red(0), 16, 'openai');
    const kept = preprocessClipImage(red(0), 16, 'transformers');
    expect([level(clear[0]!, 0), level(clear[100]!, 0)]).toEqual([0, 0]);
    expect([level(kept[0]!, 0), level(kept[16 * 16]!, 1)]).toEqual([255, 0]);
    expect(Array.from(preprocessClipImage(red(255), 16, 'openai'))).toEqual(Array.from(kept));
  });

  it('palette images: openai resizes the colours nearest (no new colours), transformers bicubic (blends)', () => {
    const stripes = image(3, 60, 40, (x) => (x % 4 < 2 ? 250 : 10), true);
    const values = (f: Float32Array) => new Set(Array.from(f.subarray(0, 24 * 24), (v) => level(v, 0)));
    expect([...values(preprocessClipImage(stripes, 24, 'openai'))].sort((a, b) => a - b)).toEqual([10, 250]);
    expect(values(preprocessClipImage(stripes, 24, 'transformers')).size).toBeGreaterThan(2);
  });

  it('refuses an empty image or a size that is not a positive integer', () => {
    expect(() => preprocessClipImage(image(3, 0, 5, () => 0), 224)).toThrow('image size 0×5 is empty');
    expect(() => preprocessClipImage(image(3, 5, 5, () => 0), 0)).toThrow('CLIP input size must be a positive integer, got 0');
  });
});

describe('decoding files for CLIP', () => {
  it('keeps the file\'s own form: grey, grey + alpha, RGBA, a palette marked, and the EXIF orientation applied', async () => {
    const raw = (data: number[], width: number, height: number, channels: 1 | 2 | 3 | 4) => sharp(Buffer.from(data), { raw: { width, height, channels } });
    const grey = await decodeClipImage(await raw([0, 90, 180, 255], 2, 2, 1).toColourspace('b-w').png().toBuffer());
    expect(grey).toEqual({ data: Uint8Array.of(0, 90, 180, 255), width: 2, height: 2, channels: 1 });
    const la = await decodeClipImage(await raw([10, 200, 20, 100, 30, 0, 40, 255], 2, 2, 2).toColourspace('b-w').png().toBuffer());
    expect(la).toEqual({ data: Uint8Array.of(10, 200, 20, 100, 30, 0, 40, 255), width: 2, height: 2, channels: 2 });
    const rgba = await decodeClipImage(await raw([1, 2, 3, 0, 4, 5, 6, 128], 2, 1, 4).png().toBuffer());
    expect(rgba).toEqual({ data: Uint8Array.of(1, 2, 3, 0, 4, 5, 6, 128), width: 2, height: 1, channels: 4 });
    const pal = await decodeClipImage(await raw([255, 0, 0, 0, 0, 255], 2, 1, 3).png({ palette: true }).toBuffer());
    expect(pal).toMatchObject({ data: Uint8Array.of(255, 0, 0, 0, 0, 255), channels: 3, indexed: true });
    // Stored 3 wide and 2 high, displayed rotated a quarter turn clockwise.
    const rotated = await decodeClipImage(await raw([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6], 3, 2, 3).png().withMetadata({ orientation: 6 }).toBuffer());
    expect([rotated.width, rotated.height, rotated.data[0]]).toEqual([2, 3, 4]);
  });

  it('a file that is no image is refused with sharp\'s reason', async () => {
    await expect(decodeClipImage(Buffer.from('not an image'))).rejects.toThrow('Input buffer contains unsupported image format');
  });
});

describe("Alpha-CLIP's alpha from a mask", () => {
  it('(m − 0.5) / 0.26 after torch\'s nearest resize; the ignore label 255 is background', () => {
    // 4×4 mask: left half object, one 255 pixel; to 2×2 picks pixels (0,0), (0,2), (2,0), (2,2).
    const mask = [1, 1, 0, 0, 255, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 255];
    const on = Math.fround(Math.fround(0.5) / Math.fround(0.26));
    expect(Array.from(alphaFromMask(mask, 4, 4, 2))).toEqual([on, -on, on, -on]);
    expect(on).toBeCloseTo(1.9230769, 6);
    expect(Array.from(alphaFromMask([255, 255, 255, 255], 2, 2, 2))).toEqual([-on, -on, -on, -on]);
  });

  it('nearest source index floor(i · in/out) in float32, as torch (256 → 224, Ref LDM-Seg\'s support size)', () => {
    const ramp = Float32Array.from({ length: 256 }, (_, i) => i);
    const row = resizeNearestPlane(ramp, 256, 1, 224, 1);
    // floor(7 · 1.1428572) = 8 in float32 (exactly 8 over the rationals as well), floor(6 · 1.1428572) = 6.
    expect([row[6], row[7], row[223]]).toEqual([6, 8, 254]);
    expect(Array.from(tokenMaskFromMask(Float32Array.from({ length: 32 * 32 }, (_, i) => (i % 32 < 16 ? 1 : 255)), 32, 32, 4))).toEqual(
      [1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0]);
    expect(() => resizeNearestPlane([1, 2, 3], 2, 2, 1, 1)).toThrow('3 values do not fill 2×2');
  });
});
