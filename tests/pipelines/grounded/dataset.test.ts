// Making training data on the fixture: PNGs with their settings in text chunks land in the project's subfolder,
// indexed, with their masks as annotations of the named categories and a run that records how they were made; a
// second call generates nothing; a crash between the file and its rows leaves neither rows nor masks, and the
// next call finishes the image.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { decode, fromCompressedString } from '../../../src/shared/masks';
import { indexFolder, ProjectStore } from '../../../src/core/project';
import { disposeSharedInferenceHost, sharedInferenceHost } from '../../../src/core/pipelines/common/inference';
import { generateDataset, GROUNDED_SOURCE, type DatasetRequest } from '../../../src/core/pipelines/grounded/dataset';
import { ensureFixtureBundle, layoutMask } from '../../../src/core/pipelines/grounded/fixture';
import { GenerateInputError } from '../../../src/core/pipelines/grounded/generate';
import { openGroundedModels, type GroundedModels } from '../../../src/core/pipelines/grounded/models';
import { tempFolder } from '../../project/helpers';

let models: GroundedModels;
let folder: ReturnType<typeof tempFolder>;
let store: ProjectStore;

const request: DatasetRequest = {
  prompts: ['a photo of a red square'], categories: ['red', 'blue', 'dog'], grounding: 'module', count: 2, seed: 7, negativePrompt: '', width: 512, height: 512, sampler: 'ddim', steps: 8, scale: 7.5, subfolder: 'generated/run1',
};

/** The tEXt chunks of a PNG, keyword → text. */
function pngText(png: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (let at = 8; at + 8 <= png.length; ) {
    const len = png.readUInt32BE(at);
    const data = png.subarray(at + 8, at + 8 + len);
    if (png.toString('latin1', at + 4, at + 8) === 'tEXt') out[data.toString('latin1', 0, data.indexOf(0))] = data.toString('latin1', data.indexOf(0) + 1);
    at += 12 + len;
  }
  return out;
}

const iou = (a: Uint8Array, b: Uint8Array) => {
  let i = 0, u = 0;
  for (let k = 0; k < a.length; k++) {
    i += a[k]! & b[k]!;
    u += a[k]! | b[k]!;
  }
  return i / u;
};

beforeAll(async () => {
  models = openGroundedModels(await ensureFixtureBundle(), sharedInferenceHost());
});
afterAll(async () => {
  await models.dispose();
  await disposeSharedInferenceHost();
});
beforeEach(() => {
  folder = tempFolder();
  store = ProjectStore.open(folder.dir);
});
afterEach(() => {
  vi.restoreAllMocks();
  store.close();
  folder.cleanup();
});

describe('generating a dataset into a project', () => {
  it('writes PNGs with their settings, indexes them and stores their masks under the named categories', async () => {
    const report = await generateDataset(store, models, request);
    expect(report.generated.map((g) => g.seed)).toEqual([7, 8]);
    expect(report.skipped).toBe(0);
    const files = readdirSync(join(folder.dir, 'generated', 'run1')).sort();
    expect(files).toEqual(report.generated.map((g) => g.path.split('/').pop()).sort());
    expect(files.every((f) => /^a-photo-of-a-red-square-s[78]-[0-9a-f]{12}\.png$/.test(f))).toBe(true);
    const text = pngText(readFileSync(join(folder.dir, report.generated[0]!.path)));
    expect(text).toMatchObject({ prompt: 'a photo of a red square', seed: '7', sampler: 'ddim', steps: '8', scale: '7.5', categories: 'red, blue, dog', model: 'fixture-grounded' });

    const images = store.listImages();
    expect(images.map((i) => [i.path, i.width, i.height, i.status]).sort()).toEqual(report.generated.map((g) => [g.path, 512, 512, 'in_progress']).sort());
    // "dog" is created although its mask is empty: the category exists for the labeler; no empty annotation is stored.
    expect(store.listCategories().map((c) => c.name).sort()).toEqual(['blue', 'dog', 'red']);
    const red = store.getCategoryByName('red')!.id;
    for (const g of report.generated) {
      const anns = store.listAnnotations({ imageId: g.imageId });
      expect(anns.map((a) => [store.getCategory(a.categoryId!)!.name, a.source])).toEqual([['red', GROUNDED_SOURCE], ['blue', GROUNDED_SOURCE]]);
      const mask = decode(fromCompressedString(anns.find((a) => a.categoryId === red)!.rle, 512, 512));
      expect(iou(mask, layoutMask('red'))).toBeGreaterThanOrEqual(0.9);
      const [run] = store.listRuns({ imageId: g.imageId });
      expect(run).toMatchObject({ pipeline: GROUNDED_SOURCE, status: 'done', modelBundle: 'fixture-grounded' });
      expect(run!.params).toMatchObject({ prompt: 'a photo of a red square', seed: g.seed, sampler: 'ddim', steps: 8, scale: 7.5, categories: ['red', 'blue', 'dog'] });
    }
    // The index agrees with what was recorded: a later index run changes nothing.
    const again = await indexFolder(store);
    expect([again.added, again.updated, again.unchanged]).toEqual([0, 0, 2]);
  });

  it('a second call with the same settings generates nothing; another seed adds new images', async () => {
    await generateDataset(store, models, request);
    const second = await generateDataset(store, models, request);
    expect([second.generated.length, second.skipped]).toEqual([0, 2]);
    const third = await generateDataset(store, models, { ...request, seed: 8 });
    expect(third.generated.map((g) => g.seed)).toEqual([9]);
    expect(third.skipped).toBe(1);
    expect(store.countImages()).toBe(3);
  });

  it('a crash after the file is written leaves no rows or masks for it, and the next call finishes it', async () => {
    const real = store.recordRun.bind(store);
    let calls = 0;
    vi.spyOn(store, 'recordRun').mockImplementation((r) => {
      if (++calls === 2) throw new Error('simulated crash');
      return real(r);
    });
    await expect(generateDataset(store, models, request)).rejects.toThrow('simulated crash');
    expect(readdirSync(join(folder.dir, 'generated', 'run1'))).toHaveLength(2);
    expect(store.countImages()).toBe(1);
    expect(store.listAnnotations()).toHaveLength(2);
    vi.restoreAllMocks();
    const resumed = await generateDataset(store, models, request);
    expect([resumed.generated.map((g) => g.seed), resumed.skipped]).toEqual([[8], 1]);
    expect(store.countImages()).toBe(2);
    expect(store.listAnnotations()).toHaveLength(4);
  });

  it('cancelling stops at the image under way and keeps the ones done', async () => {
    const controller = new AbortController();
    const report = await generateDataset(store, models, request, {
      signal: controller.signal, onProgress: (p) => p.done === 1 && p.step === 2 && controller.abort(),
    });
    expect(report.cancelled).toBe(true);
    expect(report.generated).toHaveLength(1);
    expect(store.countImages()).toBe(1);
    expect(readdirSync(join(folder.dir, 'generated', 'run1'))).toHaveLength(1);
  });

  it('refuses a subfolder outside the project, and no category', async () => {
    await expect(generateDataset(store, models, { ...request, subfolder: '../out' })).rejects.toThrow(GenerateInputError);
    await expect(generateDataset(store, models, { ...request, subfolder: '.hidden' })).rejects.toThrow(/may not be hidden/);
    await expect(generateDataset(store, models, { ...request, categories: [] })).rejects.toThrow('give at least one category to mask');
    expect(readdirSync(folder.dir).filter((f) => !f.startsWith('.'))).toEqual([]);
  });
});
