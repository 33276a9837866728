// Peekaboo end to end on its fixture bundle (an analytic denoiser of one scene, NOT Stable Diffusion): a grey 160×128
// scene with a red disk and a blue square; "red" must give the disk and "blue" the square, with the reference
// optimiser and the fast preset, through the real session (letterbox, step graph with its backward pass, UNet pair,
// mask at the image size). Alpha side 64 instead of 256 keeps a run under a minute on two cores (see docs/peekaboo.md).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, type Rle } from '../../../src/shared/masks';
import { readManifest } from '../../../src/core/ml/bundle';
import { SessionManager } from '../../../src/core/ml/runtime';
import { peekabooSession, splitPrompts } from '../../../src/core/pipelines/peekaboo/definition';
import { fixtureScene, writePeekabooFixtureBundle } from '../../../src/core/pipelines/peekaboo/fixture';
import { PeekabooModels } from '../../../src/core/pipelines/peekaboo/models';
import { PeekabooParamsSchema, PRESETS } from '../../../src/core/pipelines/peekaboo/params';
import type { ImageInput, PipelineSession } from '../../../src/core/pipelines/types';
import type { ImageRow } from '../../../src/core/project';
import { pixelIou } from '../../helpers/masks';

const SIZE = 64;
const scene = fixtureScene();
const image: ImageInput = {
  row: { id: 1, path: 'scene.png', width: scene.rgb.width, height: scene.rgb.height } as ImageRow,
  rgb: async () => scene.rgb,
};
const dir = mkdtempSync(join(tmpdir(), 'difflabel-peekaboo-'));
const host = new SessionManager();
let session: PipelineSession;

beforeAll(async () => {
  const b = await writePeekabooFixtureBundle(join(dir, 'fixture'), scene.rgb, 512);
  session = peekabooSession(new PeekabooModels(b, readManifest(b), host, join(dir, 'graphs')));
});
afterAll(async () => {
  await session?.dispose();
  await host.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const iou = (mask: Rle, truth: Uint8Array) => pixelIou(decode(mask), truth);

async function segment(word: 'red' | 'blue', params: Record<string, unknown>) {
  const p = PeekabooParamsSchema.parse({ size: SIZE, ...params });
  const progress: { fraction: number; mask?: Rle }[] = [];
  const proposals = await session.run(image, p, { kind: 'text', text: word }, { priority: 'batch', onProgress: (x) => progress.push(x) });
  expect(proposals).toHaveLength(1);
  return { mask: proposals[0]!.mask, progress, p };
}

describe('Peekaboo parameters', () => {
  it('default to the reference constants; the fast preset changes only what is not given', () => {
    expect(PeekabooParamsSchema.parse({})).toMatchObject({
      size: 256, frequencies: 128, frequencyScale: 10, blurSigma: 5, blurTolerance: 0.08, blurIterations: 40, compositeSize: 512,
      minStep: 20, maxStep: 980, guidance: 100, gravity: 0.05, optimizer: 'sgd', learningRate: 1e-5, iterations: 300, threshold: 0.5, seed: 0,
    });
    expect(PeekabooParamsSchema.parse({ preset: 'fast' })).toMatchObject({ optimizer: 'adam', learningRate: 1e-2, iterations: 30, compositeSize: 256, stopWhenStable: 0, size: 256 });
    expect(PeekabooParamsSchema.parse({ preset: 'fast', iterations: 7, compositeSize: 512 })).toMatchObject({ optimizer: 'adam', iterations: 7, compositeSize: 512 });
    expect(PeekabooParamsSchema.parse({ compositeSize: 256 })).toMatchObject({ optimizer: 'sgd', iterations: 300, compositeSize: 256 });
    const bad = PeekabooParamsSchema.safeParse({ minStep: 500, maxStep: 400 });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.path).toEqual(['minStep']);
    expect(PeekabooParamsSchema.safeParse({ size: 100 }).success).toBe(false); // not a multiple of 8
  });

  it('splits "|"-separated prompts to average them, and refuses an empty one', () => {
    expect(splitPrompts(' cow | the brown cow |')).toEqual(['cow', 'the brown cow']);
    expect(() => splitPrompts(' | ')).toThrow(/needs a text prompt/);
  });
});

describe('Peekaboo on the fixture scene', () => {
  // The reference optimiser (plain SGD) at its rate scaled by (256 / 64)²: the MLP's gradients sum over the alpha
  // image's pixels, 16× fewer at side 64, so this moves it per step as 1e-5 does at 256. 120 iterations, not 300:
  // the masks are settled by 100 (IoU 0.91 at 100, 0.96 at 120 for "red").
  const reference = { preset: 'reference', learningRate: PRESETS.reference.learningRate * (256 / SIZE) ** 2, iterations: 120 };

  it('"red" gives the disk with the reference optimiser, its edge on the colour edge, with progress every iteration', async () => {
    const { mask, progress, p } = await segment('red', reference);
    expect(iou(mask, scene.truth.red)).toBeGreaterThanOrEqual(0.8);
    expect(progress).toHaveLength(p.iterations);
    expect(progress.at(-1)!.fraction).toBe(1);
    expect(progress.filter((x) => x.mask).length).toBe(p.iterations / 10);
    // The blur mixes the logit only between like colours, so the mask's edge sits on the disk's outline: 3 px
    // inside it the mask is on and 3 px outside off (an alpha pixel is 2.5 image pixels here).
    const m = decode(mask);
    const w = scene.rgb.width;
    let right = 0;
    const samples = 72;
    for (let k = 0; k < samples; k++) {
      const a = (2 * Math.PI * k) / samples;
      const at = (r: number) => m[Math.floor(66 + r * Math.sin(a)) * w + Math.floor(50 + r * Math.cos(a))]!;
      if (at(27) === 1 && at(33) === 0) right++;
    }
    expect(right / samples).toBeGreaterThanOrEqual(0.9);
  }, 600_000);

  it('"blue" gives the square with the reference optimiser', async () => {
    const { mask } = await segment('blue', reference);
    expect(iou(mask, scene.truth.blue)).toBeGreaterThanOrEqual(0.8);
  }, 600_000);

  it.each(['red', 'blue'] as const)('"%s" gives its shape with the fast preset (its 256 composite on the fixture built at 512)', async (word) => {
    const { mask } = await segment(word, { preset: 'fast' });
    expect(iou(mask, scene.truth[word])).toBeGreaterThanOrEqual(0.8);
  }, 600_000);

  it('stops once the mask has not changed for stopWhenStable iterations, and says so with the mask', async () => {
    // A rate so small that the thresholded mask cannot move: stable from the first iteration on.
    const p = PeekabooParamsSchema.parse({ size: SIZE, preset: 'fast', learningRate: 1e-9, iterations: 50, stopWhenStable: 3 });
    const progress: { fraction: number; message?: string; mask?: Rle }[] = [];
    await session.run(image, p, { kind: 'text', text: 'red' }, { priority: 'batch', onProgress: (x) => progress.push(x) });
    expect(progress.map((x) => x.message)).toEqual(['iteration 1 of 50', 'iteration 2 of 50', 'iteration 3 of 50', 'stopped at iteration 3: the mask no longer changes']);
    expect(progress.at(-1)).toMatchObject({ fraction: 1, mask: expect.objectContaining({ w: scene.rgb.width, h: scene.rgb.height }) });
  }, 120_000);

  it('stops between steps when cancelled, and refuses a prompt that is not text', async () => {
    const ac = new AbortController();
    let seen = 0;
    const p = PeekabooParamsSchema.parse({ size: SIZE, preset: 'fast' });
    const run = session.run(image, p, { kind: 'text', text: 'red' }, { priority: 'batch', signal: ac.signal, onProgress: () => ++seen === 2 && ac.abort() });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toBe(2);
    await expect(session.run(image, p, { kind: 'points', points: [{ x: 1, y: 1, positive: true }] } as never, { priority: 'batch' })).rejects.toThrow(/text prompt/);
  }, 60_000);
});
