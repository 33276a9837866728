// With no DiffSeg model installed, the API says so with its own error code (no_model, HTTP 409), so the UI can tell
// it apart from other failures without reading the message; segment everything is refused before a job starts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { defaultModelDirs, listBundles } from '../../src/core/ml/bundle';
import { startServer, type RunningServer } from '../../src/core/server/server';
import { makeImageFolder, tempDir } from '../helpers/folder';

const models = tempDir('difflabel-no-models-');
const saved = { dir: process.env['DIFFLABEL_MODELS_DIR'], model: process.env['DIFFLABEL_DIFFSEG_MODEL'] };
process.env['DIFFLABEL_MODELS_DIR'] = models.path;
delete process.env['DIFFLABEL_DIFFSEG_MODEL'];
// A checkout with a converted bundle in resources/models has a model: nothing to test there.
const installed = listBundles(defaultModelDirs()).some((b) => b.ok);

describe.skipIf(installed)('no DiffSeg model installed', () => {
  let dir: ReturnType<typeof tempDir>;
  let backend: Backend;
  let server: RunningServer;
  let imageId: number;
  const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
  const point = { x: 5, y: 5, positive: true };

  beforeAll(async () => {
    dir = tempDir();
    await makeImageFolder(dir.path, 2, () => [40, 30]);
    backend = new Backend({ shell: 'web' });
    backend.openProject(dir.path);
    await backend.jobs.wait((await call('project.index', {})).jobId);
    imageId = (await call('images.list', {})).items[0].id;
    server = await startServer({ backend, port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await backend?.close();
    dir?.cleanup();
    models.cleanup();
    for (const [k, v] of [['DIFFLABEL_MODELS_DIR', saved.dir], ['DIFFLABEL_DIFFSEG_MODEL', saved.model]] as const)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  });

  it('click and accept answer code no_model (automatic choice, and a named model that is not installed)', async () => {
    await expect(call('pipelines.preview', { pipeline: 'diffseg', imageId, prompt: { kind: 'points', points: [point] } })).rejects.toMatchObject({ code: 'no_model', message: expect.stringMatching(/no model bundle for DiffSeg is installed/) });
    await expect(call('pipelines.accept', { pipeline: 'diffseg', imageId, prompt: { kind: 'points', points: [point] }, categoryId: null })).rejects.toMatchObject({ code: 'no_model' });
    await expect(call('pipelines.preview', { pipeline: 'diffseg', imageId, prompt: { kind: 'points', points: [point] }, model: 'sd15-gone' })).rejects.toMatchObject({ code: 'no_model', message: expect.stringMatching(/no model bundle "sd15-gone"/) });
    expect(backend.project!.countAnnotations()).toBe(0);
  });

  it('segment everything is refused at once, and no job is started', async () => {
    await expect(call('pipelines.run', { pipeline: 'diffseg' })).rejects.toMatchObject({ code: 'no_model' });
    expect((await call('jobs.list', {})).filter((j: { kind: string }) => j.kind === 'diffseg')).toEqual([]);
    expect(backend.project!.listRuns()).toEqual([]);
  });

  it('over HTTP: 409 with code no_model in the body', async () => {
    const r = await fetch(`${server.url}/api/pipelines.preview`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ pipeline: 'diffseg', imageId, prompt: { kind: 'points', points: [point] } }),
    });
    expect(r.status).toBe(409);
    expect((await r.json()).error).toMatchObject({ code: 'no_model', message: expect.stringMatching(/models convert/) });
  });
});
