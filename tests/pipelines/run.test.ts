// The runner around every pipeline, through the API with DiffSeg's fixture: accepting a preview stores its run, prompt
// and mask together or not at all; a bundle that lacks a pipeline's components makes it unavailable, with the reason,
// in pipelines.list and in the answer to a call (no_model), before anything loads.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Backend } from '../../src/core/api/backend';
import { ProjectStore, indexFolder } from '../../src/core/project';
import { runBatch } from '../../src/core/pipelines/run';
import type { Pipeline, PipelineSession } from '../../src/core/pipelines/types';
import { fullRle } from '../../src/shared/masks';
import { disposeSharedInferenceHost } from '../../src/core/pipelines/common/inference';
import { ensureFixtureBundle } from '../../src/core/pipelines/diffseg/fixture';
import type { BundleManifest } from '../../src/core/ml/bundle';
import type { PipelineInfo } from '../../src/shared/contract';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { shapeCentre } from './diffseg/fixture-scenes';
import { sceneProject, type SceneProject } from './diffseg/helpers';

let p: SceneProject;
let backend: Backend;
let imageId: number;
let points: { x: number; y: number; positive: boolean }[];
const call = <T = any>(m: string, input: unknown) => backend.dispatch(m, input) as Promise<T>;

beforeAll(async () => {
  p = await sceneProject([[320, 240, 3, 81]]);
  p.store.close();
  backend = new Backend({ shell: 'web' });
  backend.openProject(p.dir);
  const [id, scene] = [...p.scenes.entries()][0]!;
  imageId = id;
  points = [{ ...shapeCentre(scene.shapes[0]!), positive: true }];
});
afterAll(async () => {
  await backend.close();
  await disposeSharedInferenceHost();
  p.cleanup();
});

describe('the pipeline runner', () => {
  it('accepting a preview is one transaction: when its mask cannot be stored, no run and no prompt are left either', async () => {
    const accept = (categoryId: number | null) => call('pipelines.accept', { pipeline: 'diffseg', imageId, prompt: { kind: 'points', points }, categoryId, model: 'fixture' });
    await expect(accept(9999)).rejects.toMatchObject({ code: 'not_found', message: /category 9999 does not exist/ });
    expect(backend.project!.listRuns()).toEqual([]);
    expect(backend.project!.listPrompts()).toEqual([]);
    expect(backend.project!.countAnnotations()).toBe(0);
    expect(backend.project!.historyState(imageId).canUndo).toBe(false);

    // The same call with a category that exists stores all three, linked, as one undo step.
    const { id: cat } = await call('categories.add', { name: 'shape' });
    const a = await accept(cat);
    const [run] = backend.project!.listRuns();
    expect(run).toMatchObject({ pipeline: 'diffseg-click', status: 'done', proposes: false, imageId });
    expect(backend.project!.listPrompts()).toEqual([expect.objectContaining({ runId: run!.id, kind: 'points', payload: { points, pipeline: 'diffseg' } })]);
    expect(a).toMatchObject({ runId: run!.id, source: 'diffseg-click', categoryId: cat, proposed: false });
    expect(backend.project!.historyState(imageId).undoLabel).toBe('click segment');
  });

  it('a bundle without the components a pipeline needs: listed as unavailable with the reason, and refused with it', async () => {
    const models = tempDir('difflabel-models-');
    try {
      // The fixture bundle without DiffSeg's UNet variant (as `models convert --no-diffseg` would leave it).
      const dir = join(models.path, 'no-variant');
      cpSync(await ensureFixtureBundle(), dir, { recursive: true });
      const m = JSON.parse(readFileSync(join(dir, 'bundle.json'), 'utf8')) as BundleManifest;
      delete m.components['unet_diffseg'];
      m.name = 'no-variant';
      writeFileSync(join(dir, 'bundle.json'), JSON.stringify(m));

      const listed = (await call<PipelineInfo[]>('pipelines.list', { model: dir })).find((x) => x.id === 'diffseg')!;
      expect(listed).toMatchObject({ available: false, model: 'no-variant', reason: expect.stringMatching(/model bundle no-variant cannot run DiffSeg: it lacks unet_diffseg/) });
      await expect(call('pipelines.preview', { pipeline: 'diffseg', imageId, prompt: { kind: 'points', points }, model: dir })).rejects.toMatchObject({
        code: 'no_model',
        message: expect.stringMatching(/cannot run DiffSeg: it lacks unet_diffseg/),
      });
      // With no model named, the automatic choice passes it over: none of the installed bundles can run DiffSeg.
      const saved = process.env['DIFFLABEL_MODELS_DIR'];
      process.env['DIFFLABEL_MODELS_DIR'] = models.path;
      try {
        const auto = (await call<PipelineInfo[]>('pipelines.list', {})).find((x) => x.id === 'diffseg')!;
        expect(auto).toMatchObject({ available: false, model: null, reason: expect.stringMatching(/no model bundle for DiffSeg is installed/) });
        expect((await call<PipelineInfo[]>('pipelines.list', { model: 'fixture' })).find((x) => x.id === 'diffseg')).toMatchObject({ available: true, model: 'fixture' });
      } finally {
        if (saved === undefined) delete process.env['DIFFLABEL_MODELS_DIR'];
        else process.env['DIFFLABEL_MODELS_DIR'] = saved;
      }
    } finally {
      models.cleanup();
    }
  });
});

describe('runBatch', () => {
  // A pipeline made up here: one mask over the whole image; halfway it says so; on img002 it fails; with `stall`
  // it waits, inside an image, until the batch is cancelled.
  const made: Pipeline = { id: 'whole', title: 'Whole', description: '', params: z.object({}), prompt: 'none', components: [], runLabel: 'whole', open: () => session };
  let stall = false;
  const session: PipelineSession = {
    model: null,
    recorded: () => ({}),
    async run(image, _p, _prompt, ctx) {
      ctx.onProgress?.({ fraction: 0.5, message: 'halfway' });
      if (image.row.path.endsWith('img002.png')) throw new Error('this one cannot be read today');
      if (stall) await new Promise((resolve) => ctx.signal!.addEventListener('abort', resolve));
      return [{ mask: fullRle(image.row.height, image.row.width), score: 0.5 }];
    },
    dispose: async () => {},
  };

  it('reports progress within an image, records a failure on its run, and a cancel during an image as cancelled', async () => {
    const dir = tempDir();
    await makeImageFolder(dir.path, 4);
    const store = ProjectStore.open(dir.path);
    try {
      await indexFolder(store);
      const progress: string[] = [];
      const report = await runBatch(store, made, session, {}, { onProgress: (done, total, message) => progress.push(`${done}/${total} ${message}`) });
      expect(report).toMatchObject({ pipeline: 'whole', model: null, total: 4, segmented: 3, proposals: 3, cancelled: false });
      expect(report.failed).toEqual([{ imageId: expect.any(Number), path: 'a/img002.png', error: 'this one cannot be read today' }]);
      expect(progress).toContain('0/4 a/img000.png: 50% halfway');
      expect(progress.at(-1)).toBe('4/4 done');
      const runs = store.listRuns();
      // In path order: a/img000, a/img002, b/img001, b/img003.
      expect(runs.map((r) => [r.status, r.proposes])).toEqual([['done', true], ['failed', true], ['done', true], ['done', true]]);
      expect(runs[1]!.error).toBe('this one cannot be read today');
      expect(store.listAnnotations().map((a) => [a.source, a.score, a.categoryId])).toEqual(Array(3).fill(['whole', 0.5, null]));

      // The failed image again, stalled: cancelling during it records its run as cancelled and ends the batch.
      stall = true;
      const controller = new AbortController();
      const cancelled = runBatch(store, made, { ...session, run: (image, p, prompt, ctx) => (controller.abort(), session.run(image, p, prompt, ctx)) }, {}, { signal: controller.signal });
      expect(await cancelled).toMatchObject({ cancelled: true, segmented: 0, skipped: 1 });
      expect(store.listRuns().at(-1)).toMatchObject({ status: 'cancelled', error: 'cancelled', imageId: runs[1]!.imageId });
      expect(store.listRuns({ status: 'running' })).toEqual([]);
    } finally {
      store.close();
      dir.cleanup();
    }
  });
});
