// The runner around every pipeline, through the API with DiffSeg's fixture: accepting a preview stores its run, prompt
// and mask together or not at all; a bundle that lacks a pipeline's components makes it unavailable, with the reason,
// in pipelines.list and in the answer to a call (no_model), before anything loads.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { disposeSharedInferenceHost } from '../../src/core/pipelines/common/inference';
import { ensureFixtureBundle } from '../../src/core/pipelines/diffseg/fixture';
import type { BundleManifest } from '../../src/core/ml/bundle';
import type { PipelineInfo } from '../../src/shared/contract';
import { tempDir } from '../helpers/folder';
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
