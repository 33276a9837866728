// Text → image with grounding on the behaviour fixture (real sampling and grounding code, fixture graphs): every
// sampler lands on the fixture's layout, the seed decides the image, "red" grounds the red square, and the guidance
// pair's halves must reach the module uncond first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeSharedInferenceHost, sharedInferenceHost } from '../../../src/core/pipelines/common/inference';
import { ensureFixtureBundle, layoutColour, layoutMask, PALETTE } from '../../../src/core/pipelines/grounded/fixture';
import { classQuery, classToken, generateImage, GenerateInputError, type GenerateSettings } from '../../../src/core/pipelines/grounded/generate';
import { openGroundedModels, type GroundedModels } from '../../../src/core/pipelines/grounded/models';

let models: GroundedModels;
const base: GenerateSettings = {
  prompt: 'a photo of a red square', negativePrompt: '', categories: ['red'], grounding: 'module', width: 512, height: 512, sampler: 'ddim', steps: 50, scale: 7.5, seed: 42,
};

const iou = (a: Uint8Array, b: Uint8Array) => {
  let i = 0, u = 0;
  for (let k = 0; k < a.length; k++) {
    i += a[k]! & b[k]!;
    u += a[k]! | b[k]!;
  }
  return u ? i / u : 1;
};

beforeAll(async () => {
  models = openGroundedModels(await ensureFixtureBundle(), sharedInferenceHost());
});
afterAll(async () => {
  await models.dispose();
  await disposeSharedInferenceHost();
});

describe('grounded generation on the fixture', () => {
  it.each(['ddim', 'pndm', 'dpmpp_2m'] as const)('%s paints the layout and "red" grounds the red square (IoU ≥ 0.9)', async (sampler) => {
    const steps: number[] = [];
    const g = await generateImage(models, { ...base, sampler, steps: sampler === 'ddim' ? 50 : 20, categories: ['red', 'blue'] }, { onStep: (d) => steps.push(d) });
    expect(steps).toEqual(Array.from({ length: sampler === 'pndm' ? 21 : sampler === 'ddim' ? 50 : 20 }, (_, i) => i + 1));
    // The red square's centre pixel is the palette's red (255, 0, 0) within the last step's noise.
    const p = (200 * 512 + 130) * 3;
    expect(Array.from(g.image.data.subarray(p, p + 3)).map((v) => Math.round(v / 32))).toEqual(PALETTE.red.map((c) => Math.round((255 * (c + 1)) / 2 / 32)));
    expect(iou(g.masks[0]!, layoutMask('red'))).toBeGreaterThanOrEqual(0.9);
    expect(iou(g.masks[1]!, layoutMask('blue'))).toBeGreaterThanOrEqual(0.9);
    expect(iou(g.masks[0]!, layoutMask('blue'))).toBe(0);
  });

  it.each(['ddim', 'pndm', 'dpmpp_2m'] as const)('attention grounding with %s: the words red and blue find their shapes (IoU ≥ 0.9)', async (sampler) => {
    const g = await generateImage(models, { ...base, sampler, steps: sampler === 'ddim' ? 50 : 20, prompt: 'a photo of a red square and a blue disc', categories: ['red', 'blue'], grounding: 'attention' });
    expect(iou(g.masks[0]!, layoutMask('red'))).toBeGreaterThanOrEqual(0.9);
    expect(iou(g.masks[1]!, layoutMask('blue'))).toBeGreaterThanOrEqual(0.9);
    expect(iou(g.masks[0]!, layoutMask('blue'))).toBe(0);
  });

  it('attention grounding refuses a category that is not a word of the prompt', async () => {
    await expect(generateImage(models, { ...base, categories: ['green'], grounding: 'attention' })).rejects.toThrow('attention grounding reads the prompt\'s own words: "green" is not in "a photo of a red square"');
  });

  it('the module needs the guidance pair uncond first: swapped, "red" no longer finds the red square', async () => {
    // A UNet pass at t = 1 on the layout's latent, as the last step sees it.
    const z = new Float32Array(4 * 64 * 64);
    for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) z[['ground', 'red', 'green', 'blue'].indexOf(layoutColour(x, y)) * 4096 + y * 64 + x] = 1;
    const text = await models.encodeText('');
    const context = new Float32Array(text.length * 2);
    context.set(text);
    context.set(text, text.length);
    const { taps } = await models.unet(z, 64, 64, 1, context, { taps: true });
    const swapped = new Map([...taps!].map(([name, v]) => {
      const half = v.length / 2;
      const s = new Float32Array(v.length);
      s.set(v.subarray(half));
      s.set(v.subarray(0, half), half);
      return [name, s];
    }));
    const red = await classToken(models, 'a photo of a red square', 'red');
    const [right] = await models.ground(taps!, red.slice(), 1);
    const [wrong] = await models.ground(swapped, red.slice(), 1);
    expect(iou(right!, layoutMask('red'))).toBeGreaterThanOrEqual(0.9);
    expect(iou(wrong!, layoutMask('red'))).toBeLessThan(0.1);
  });

  it('the same seed gives the same image, another seed another', async () => {
    const a = await generateImage(models, { ...base, steps: 10 });
    const b = await generateImage(models, { ...base, steps: 10 });
    const c = await generateImage(models, { ...base, steps: 10, seed: 43 });
    expect(Buffer.from(a.image.data).equals(Buffer.from(b.image.data))).toBe(true);
    expect(Buffer.from(a.image.data).equals(Buffer.from(c.image.data))).toBe(false);
  });

  it('a category that is no colour of the layout gets an empty mask', async () => {
    const g = await generateImage(models, { ...base, steps: 10, categories: ['dog'] });
    expect(g.masks[0]!.reduce((a, v) => a + v, 0)).toBe(0);
  });

  it('with the decoder, previews the current estimate every few steps at the image size, the layout showing before the end', async () => {
    const previews: [number, number][] = [];
    let last: Uint8Array | undefined;
    const g = await generateImage(models, { ...base, steps: 10 }, {
      preview: 'decoder', previewEvery: 4, onPreview: (img, done, total) => void (previews.push([done, total]), (last = img.data)),
    });
    expect(previews).toEqual([[4, 10], [8, 10]]);
    // DDIM's x0 estimate is the fixture's target already: the red square's centre is red in the preview.
    const p = (200 * 512 + 130) * 3;
    expect(Array.from(last!.subarray(p, p + 3)).map((v) => Math.round(v / 32))).toEqual(Array.from(g.image.data.subarray(p, p + 3)).map((v) => Math.round(v / 32)));
  });

  it.each(['ddim', 'pndm', 'dpmpp_2m'] as const)('%s: previews are x̂0 through the linear map at the latent size, the layout showing from the first one', async (sampler) => {
    // The fixture's ε̂ makes x̂0 its target latent at every step, while the noisy sample is mostly noise in the first
    // steps: a preview of the sample instead of x̂0 shows no layout there.
    const previews: { done: number; width: number; height: number; data: Uint8Array }[] = [];
    await generateImage(models, { ...base, sampler, steps: 10 }, { previewEvery: 2, onPreview: (img, done) => void previews.push({ done, ...img }) });
    expect(previews.map((p) => p.done)).toEqual(sampler === 'pndm' ? [2, 4, 6, 8, 10] : [2, 4, 6, 8]);
    const byte = (c: number) => Math.round((255 * (c + 1)) / 2);
    for (const p of previews) {
      expect([p.width, p.height]).toEqual([64, 64]);
      let wrong = 0;
      for (let y = 0; y < 64; y++) {
        for (let x = 0; x < 64; x++) {
          const want = PALETTE[layoutColour(x, y)].map(byte);
          if (want.some((v, c) => Math.abs(p.data[(y * 64 + x) * 3 + c]! - v) > 40)) wrong++;
        }
      }
      expect(wrong, `preview after call ${p.done}`).toBe(0);
    }
  });

  it('cancelling stops between steps', async () => {
    const controller = new AbortController();
    const steps: number[] = [];
    const run = generateImage(models, { ...base, steps: 50 }, { signal: controller.signal, onStep: (d) => (steps.push(d), d === 3 && controller.abort()) });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(steps).toEqual([1, 2, 3]);
  });

  it('refuses sizes the UNet or the module cannot take, naming them', async () => {
    await expect(generateImage(models, { ...base, width: 500 })).rejects.toThrow(GenerateInputError);
    await expect(generateImage(models, { ...base, width: 500 })).rejects.toThrow('width must be a multiple of 64, not 500');
    await expect(generateImage(models, { ...base, width: 640 })).rejects.toThrow(/masks 512×512 images only/);
  });

  it('builds the class query as the reference does', () => {
    expect(classQuery('a photo of a lion', 'lion')).toBe('a photo of a lion');
    expect(classQuery('lion', 'lion')).toBe('a photograph of a lion');
  });
});
