// The vocabulary mode on its fixture (real pipeline code: DiffSeg's fixture segments, cross-attention that follows
// colour words): "red, blue" names the red disk red and the blue square blue, the grey ground nothing; a vocabulary
// without "blue" leaves the square unnamed; stuff segments that touch become one proposal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/core/ml/bundle';
import type { ImageRow } from '../../../src/core/project';
import { availability } from '../../../src/core/pipelines/common/bundles';
import type { RgbImage } from '../../../src/core/pipelines/common/frame';
import { disposeSharedInferenceHost, sharedInferenceHost } from '../../../src/core/pipelines/common/inference';
import { BundleModels } from '../../../src/core/pipelines/diffseg/models';
import { ensureFixtureBundle as ensureDiffSegFixture } from '../../../src/core/pipelines/diffseg/fixture';
import { PipelineInputError } from '../../../src/core/pipelines/run';
import type { ImageInput, PipelineSession } from '../../../src/core/pipelines/types';
import { vocabulary, vocabularySession, VocabularyParamsSchema, type VocabularyParams } from '../../../src/core/pipelines/vocabulary/definition';
import { ensureFixtureBundle } from '../../../src/core/pipelines/vocabulary/fixture';
import { vocabularyEntries } from '../../../src/core/pipelines/common/vocabulary';
import { namedProposals, promptLayout } from '../../../src/core/pipelines/vocabulary/inference';
import { decode, encode } from '../../../src/shared/masks';
import { iou } from '../refldmseg/scenes';
import { colourScene } from './scene';

let session: PipelineSession<VocabularyParams>;
let models: BundleModels;
const params = VocabularyParamsSchema.parse({});

const input = (rgb: RgbImage): ImageInput => ({
  row: { id: 1, path: '1.png', width: rgb.width, height: rgb.height, bytes: 0, mtimeMs: 0, sha1: null } as ImageRow,
  rgb: async () => rgb,
});
const label = (names: string[], stuff?: string[]) =>
  session.run(input(colourScene().rgb), params, { kind: 'vocabulary', names, ...(stuff ? { stuff } : {}) }, { priority: 'batch' });

beforeAll(async () => {
  const dir = await ensureFixtureBundle();
  models = new BundleModels(dir, readManifest(dir), sharedInferenceHost());
  session = vocabularySession(models);
});
afterAll(async () => {
  await session.dispose();
  await disposeSharedInferenceHost();
});

describe('the vocabulary mode on the fixture', () => {
  const s = colourScene();
  const [ground, disk, square] = s.masks as [Uint8Array, Uint8Array, Uint8Array];

  it('"red, blue" names the disk red and the square blue, and the grey ground nothing', async () => {
    const out = await label(['red', 'blue']);
    expect(out.map((p) => p.category)).toEqual(expect.arrayContaining([{ name: 'red', isThing: true }, { name: 'blue', isThing: true }]));
    expect(out).toHaveLength(2);
    const red = out.find((p) => p.category!.name === 'red')!, blue = out.find((p) => p.category!.name === 'blue')!;
    expect(iou(decode(red.mask), disk)).toBeGreaterThanOrEqual(0.9);
    expect(iou(decode(blue.mask), square)).toBeGreaterThanOrEqual(0.9);
    for (const p of out) expect(iou(decode(p.mask), ground)).toBeLessThan(0.05);
    // Scores: 1 − 1/lift, well above the rule's 0.5 for cells that attend almost only to their word.
    expect(red.score).toBeGreaterThan(0.9);
    expect(blue.score).toBeGreaterThan(0.9);
  });

  it('a vocabulary without "blue" leaves the square unnamed', async () => {
    const out = await label(['red']);
    expect(out).toHaveLength(1);
    expect(out[0]!.category).toEqual({ name: 'red', isThing: true });
    expect(iou(decode(out[0]!.mask), disk)).toBeGreaterThanOrEqual(0.9);
  });

  it('synonyms are one category, named by the first; a word no cell attends to names nothing', async () => {
    const out = await label(['crimson, red', 'green', 'blue']);
    expect(out.map((p) => p.category!.name).sort()).toEqual(['blue', 'crimson']);
  });

  it('a higher least score leaves everything unnamed', async () => {
    const out = await session.run(input(s.rgb), { minScore: 0.99 }, { kind: 'vocabulary', names: ['red', 'blue'] }, { priority: 'batch' });
    expect(out).toEqual([]);
  });

  it('refuses vocabularies it cannot read: a word twice, stuff that is no entry, too many tokens', async () => {
    await expect(label(['red', 'blue, red'])).rejects.toThrow(/"red" is in vocabulary entries 1 and 2/);
    await expect(label(['red'], ['sky'])).rejects.toThrow(/stuff names no vocabulary entry: sky/);
    await expect(label(Array.from({ length: 40 }, (_, i) => `w${i}`))).rejects.toThrow(/take \d+ tokens, the text encoder reads 75/);
    await expect(label(['red', 'blue, red'])).rejects.toBeInstanceOf(PipelineInputError);
  });
});

describe('naming rules', () => {
  it('finds each synonym after the one before it, so a word inside an earlier entry is not taken for its own', () => {
    const tok = models.tokenizer;
    const layout = promptLayout(tok, vocabularyEntries({ names: ['red blue', 'blue'] }), 77);
    expect(layout.text).toBe('red blue, blue');
    // SOT = 0: "red" 1, "blue" 2, "," 3, "blue" 4.
    expect(layout.positions).toEqual([[1, 2], [4]]);
    expect(layout.entryOf).toEqual([0, 1]);
  });

  it('stuff segments of one entry that touch are one proposal; things stay one each; stuff apart stays apart', () => {
    const W = 6, H = 2;
    const m = (cols: number[]) => encode(Uint8Array.from({ length: W * H }, (_, i) => (cols.includes(i % W) ? 1 : 0)), H, W);
    const segments = [m([0]), m([1]), m([3]), m([4]), m([5])];
    const entries = vocabularyEntries({ names: ['sky', 'car'], stuff: ['sky'] });
    const named = [{ entry: 0, score: 0.6 }, { entry: 0, score: 0.9 }, { entry: 0, score: 0.8 }, { entry: 1, score: 0.7 }, { entry: 1, score: 0.7 }];
    const out = namedProposals(segments, named, entries);
    expect(out.map((p) => [p.category!.name, Array.from(decode(p.mask).subarray(0, W)).join(''), p.score])).toEqual([
      ['sky', '110000', 0.75],
      ['sky', '000100', 0.8],
      ['car', '000010', 0.7],
      ['car', '000001', 0.7],
    ]);
    expect(out[0]!.category).toEqual({ name: 'sky', isThing: false });
  });
});

describe('bundles', () => {
  it('refuses a bundle whose DiffSeg UNet has no cross-attention outputs: convert again', async () => {
    const older = await ensureDiffSegFixture();
    expect(availability(vocabulary, older)).toMatchObject({ available: false, reason: expect.stringMatching(/converted before the vocabulary mode: its unet_diffseg has no cross-attention outputs \(convert the checkpoint again/) });
    expect(availability(vocabulary, 'fixture')).toMatchObject({ available: true });
  });
});
