// Ref LDM-Seg's procedure around its models, on recording stand-ins: what -f and -n feed the UNet (the scaled latent
// sample at t = 0; 951 … 1 with [cond ‖ image, null ‖ image, null ‖ 0], null tokens from a zero image with alpha
// ones, the same mask three times), what the decoder gets, mask_alpha, and the crop and resize back; the session
// encodes an example once for a run over images.
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../../../src/shared/masks';
import type { ImageRow } from '../../../src/core/project';
import { RefLdmSegParamsSchema, refLdmSegSession } from '../../../src/core/pipelines/refldmseg/definition';
import { GaussianNoise } from '../../../src/core/ml/schedulers';
import { segmentQuery, supportTokens, type RefLdmSegRun, type RefLdmSegSettings, type SupportShot } from '../../../src/core/pipelines/refldmseg/inference';
import type { RefLdmSegModels } from '../../../src/core/pipelines/refldmseg/models';
import type { RgbImage } from '../../../src/core/pipelines/common/frame';

const SF = 0.18215;
const D = 2;
const L = 4 * 32 * 32;

interface Calls {
  support: { pixels: Float32Array; alpha: Float32Array; shots: number }[];
  unet: { sample: Float32Array; batch: number; t: number; context: Float32Array; mask: Float32Array }[];
  decode: Float32Array[];
}

/** Stand-ins: token i of a shot is (shot call number, i); the posterior is mean 0.5, std 1; the decoder gives `seg`. */
function fakeModels(variant: 'f' | 'n', seg: (c: number, y: number, x: number) => number): { models: RefLdmSegModels; calls: Calls } {
  const calls: Calls = { support: [], unet: [], decode: [] };
  const models: RefLdmSegModels = {
    name: 'fake', variant, scalingFactor: SF, encoderSize: 32,
    encodeSupport: async (pixels, alpha, shots) => {
      calls.support.push({ pixels, alpha, shots });
      const tokens = new Float32Array(shots * 257 * D);
      for (let i = 0; i < shots * 257; i++) tokens.set([calls.support.length, i % 257], i * D);
      return { tokens, width: D };
    },
    encodeImage: async () => ({ mean: new Float32Array(L).fill(0.5), std: new Float32Array(L).fill(1) }),
    unet: async (sample, batch, t, context, mask) => {
      calls.unet.push({ sample: sample.slice(), batch, t, context: context.slice(), mask: mask.slice() });
      return new Float32Array(batch * L).fill(0.1);
    },
    decode: async (latent) => {
      calls.decode.push(latent);
      return Float32Array.from({ length: 3 * 256 * 256 }, (_, i) => seg(Math.floor(i / 65536), Math.floor(i / 256) % 256, i % 256));
    },
    dispose: async () => undefined,
  };
  return { models, calls };
}

const find = async (m: RefLdmSegModels, q: RgbImage, shots: SupportShot[], s: RefLdmSegSettings, run: RefLdmSegRun = {}) => segmentQuery(m, q, await supportTokens(m, shots, {}), s, run);
const flat = (width: number, height: number, rgb: number[]): RgbImage => ({ width, height, data: Uint8Array.from({ length: width * height * 3 }, (_, i) => rgb[i % 3]!) });
const settings = (variant: 'f' | 'n', more: Partial<RefLdmSegSettings> = {}): RefLdmSegSettings => ({ variant, steps: 20, imageGuidance: 1.5, instructionGuidance: 7, maskAlpha: 0, seed: 7, ...more });
/** The example: a 64×64 image whose left half is the object. */
const shot = { rgb: flat(64, 64, [200, 10, 10]), mask: Uint8Array.from({ length: 64 * 64 }, (_, i) => (i % 64 < 32 ? 1 : 0)) };

describe('Ref LDM-Seg -f', () => {
  it('runs the UNet once at t = 0 on the scaled posterior sample, with the tokens after the class token and the 16×16 mask', async () => {
    const { models, calls } = fakeModels('f', (c, _y, x) => (c === 0 ? (x < 128 ? -1 : 1) : 0));
    const { mask: rle, score } = await find(models, flat(512, 256, [0, 0, 0]), [shot], settings('f'));

    expect(calls.unet).toHaveLength(1);
    const [u] = calls.unet;
    expect(u).toMatchObject({ batch: 1, t: 0 });
    const eps = new GaussianNoise(7).fill(new Float32Array(L));
    expect(Array.from(u!.sample.subarray(0, 5))).toEqual(Array.from(eps.subarray(0, 5), (e) => Math.fround((0.5 + e) * SF)));
    // Tokens 1..256 of the shot (the class token dropped), and the mask's left half.
    expect(u!.context.length).toBe(256 * D);
    expect(Array.from(u!.context.subarray(0, 4))).toEqual([1, 1, 1, 2]);
    expect(Array.from(u!.mask.subarray(0, 16))).toEqual([...Array(8).fill(1), ...Array(8).fill(0)]);
    // Alpha-CLIP's alpha: (1 − 0.5)/0.26 on the object, (0 − 0.5)/0.26 elsewhere.
    expect(calls.support[0]!.alpha[0]).toBeCloseTo(0.5 / 0.26, 5);
    expect(calls.support[0]!.alpha[31]).toBeCloseTo(-0.5 / 0.26, 5);
    expect(calls.decode[0]![0]).toBeCloseTo(0.1 / SF, 5);

    // 512×256 → 256×128 at the top of the square; ch0 < ch1 on the left half of it, so on the image's left half.
    const m = decode(rle);
    expect(rle).toMatchObject({ h: 256, w: 512 });
    expect(m[100 * 512 + 250]).toBe(1);
    expect(m[100 * 512 + 262]).toBe(0);
    expect(m.reduce((a, v) => a + v, 0)).toBe(256 * 256);
    // A margin ch1 − ch0 of 1 where the trained colours differ by 2: half sure; 0.25 on the 256 pixels of the
    // column where the resize back blends both halves.
    expect(score).toBe((255 * 256 * 0.5 + 256 * 0.25) / (256 * 256));
  });

  it('subtracts mask_alpha × the query before comparing the channels', async () => {
    // seg = (0.5, 0, ·) everywhere; on a red query x = (1, −1, −1): 0.5 − 0.4 < 0 + 0.4 flips every pixel to foreground.
    const run = (maskAlpha: number) => find(fakeModels('f', (c) => (c === 0 ? 0.5 : 0)).models, flat(40, 30, [255, 0, 0]), [shot], settings('f', { maskAlpha }));
    const none = await run(0);
    expect(decode(none.mask).reduce((a, v) => a + v, 0)).toBe(0);
    expect(none.score).toBe(0);
    const all = await run(0.4);
    expect(decode(all.mask).reduce((a, v) => a + v, 0)).toBe(40 * 30);
    // Margin 0.4 − 0.1 of the 2·(1 − 0.4) that the model paints at mask_alpha 0.4.
    expect(all.score).toBeCloseTo(0.3 / 1.2, 6);
  });
});

describe('Ref LDM-Seg -n', () => {
  it('denoises 951 … 1 on [cond ‖ image, null ‖ image, null ‖ 0] with the same mask three times', async () => {
    const { models, calls } = fakeModels('n', () => 0);
    const progress: number[] = [];
    await find(models, flat(100, 80, [0, 0, 0]), [shot], settings('n'), { onStep: (d) => progress.push(d) });

    expect(calls.unet.map((u) => u.t)).toEqual(Array.from({ length: 20 }, (_, i) => 951 - 50 * i));
    expect(progress).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // The null instruction: a zero image with alpha all ones, encoded once.
    const nul = calls.support[1]!;
    expect(nul.shots).toBe(1);
    expect(nul.pixels.every((v) => v === 0)).toBe(true);
    expect(nul.alpha.every((v) => Math.abs(v - 0.5 / 0.26) < 1e-6)).toBe(true);
    for (const u of calls.unet) {
      expect(u.batch).toBe(3);
      const part = (b: number, half: number) => u.sample.subarray((2 * b + half) * L, (2 * b + half + 1) * L);
      expect(part(0, 0)).toEqual(part(1, 0));
      expect(part(0, 0)).toEqual(part(2, 0));
      expect(part(0, 1).every((v) => v === 0.5)).toBe(true); // the mode, unscaled
      expect(part(1, 1).every((v) => v === 0.5)).toBe(true);
      expect(part(2, 1).every((v) => v === 0)).toBe(true);
      const T = 256 * D;
      expect(u.context[0]).toBe(1); // the example's tokens
      expect(u.context[T]).toBe(2); // the null tokens, twice
      expect(u.context[2 * T]).toBe(2);
      expect(u.mask.subarray(256, 512)).toEqual(u.mask.subarray(0, 256));
      expect(u.mask.subarray(512)).toEqual(u.mask.subarray(0, 256));
    }
  });
});

describe('the refldmseg session', () => {
  it('encodes its example once for a run over images, and again once the example changes', async () => {
    const { models, calls } = fakeModels('f', (c, _y, x) => (c === 0 ? (x < 128 ? -1 : 1) : 0));
    const session = refLdmSegSession(models);
    const input = (id: number, rgb: RgbImage) => ({ row: { id } as ImageRow, rgb: async () => rgb });
    const example = { annotationId: 5, categoryId: 3, image: input(1, shot.rgb), mask: encode(shot.mask, 64, 64) };
    const params = RefLdmSegParamsSchema.parse({});
    const prompt = { kind: 'example' as const, annotationId: 5 };
    for (const id of [2, 3]) {
      const [p, ...more] = await session.run(input(id, flat(50, 40, [0, 0, 0])), params, prompt, { priority: 'batch', example });
      expect(more).toEqual([]);
      expect(p).toEqual({ mask: expect.objectContaining({ h: 40, w: 50 }), score: expect.closeTo(0.5, 2) });
    }
    expect(calls.support).toHaveLength(1);
    const edited = { ...example, mask: encode(shot.mask.map((v) => 1 - v), 64, 64) };
    await session.run(input(2, flat(50, 40, [0, 0, 0])), params, prompt, { priority: 'batch', example: edited });
    expect(calls.support).toHaveLength(2);
    await expect(session.run(input(2, flat(50, 40, [0, 0, 0])), params, prompt, { priority: 'batch' })).rejects.toThrow(/needs an example prompt/);
  });
});
