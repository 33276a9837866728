// DiffSeg's batch job (pipelines.run) through the API (Backend.dispatch) with the FIXTURE model: progress, cancel, resume,
// a broken image recorded on its run and skipped, results as proposals; click methods; a clear no-model error.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../../src/core/api/backend';
import type { BatchReport, EventPayload, Job } from '../../../src/shared/contract';
import { disposeSharedInferenceHost } from '../../../src/core/pipelines/common/inference';
import { makeScene, shapeCentre, writeScene } from './fixture-scenes';
import { sceneProject, type SceneProject } from './helpers';
import { tempDir } from '../../helpers/folder';

let p: SceneProject;
let backend: Backend;
const progress: EventPayload<'job.progress'>[] = [];

beforeAll(async () => {
  p = await sceneProject([[320, 240, 3, 21], [240, 320, 3, 22], [400, 300, 4, 23], [300, 300, 3, 24], [320, 240, 4, 25]]);
  p.store.close();
  backend = new Backend({ shell: 'web' });
  backend.openProject(p.dir);
  backend.onEvent((e, payload) => {
    if (e === 'job.progress') progress.push(payload as EventPayload<'job.progress'>);
  });
});
afterAll(async () => {
  await backend.close();
  await disposeSharedInferenceHost();
  p.cleanup();
});

const segment = async (input: object) => ((await backend.dispatch('pipelines.run', { pipeline: 'diffseg', ...input })) as { jobId: string }).jobId;
const runsDone = () => backend.project!.listRuns({ pipeline: 'diffseg', status: 'done' }).length;

describe('DiffSeg batch job (fixture)', () => {
  it('cancel mid-way, then resume: finished images are skipped, the rest is segmented', async () => {
    const ids = backend.project!.listImages().map((i) => i.id);
    expect(ids).toHaveLength(5);
    let jobId = '';
    const cancelAfterFirst = backend.onEvent((e, payload) => {
      const ev = payload as EventPayload<'job.progress'>;
      if (e === 'job.progress' && ev.jobId === jobId && ev.done >= 1) backend.jobs.cancel(jobId);
    });
    jobId = await segment({ model: 'fixture' });
    const cancelled = await backend.jobs.wait(jobId);
    cancelAfterFirst();
    expect(cancelled.state).toBe('cancelled');
    const doneBefore = runsDone();
    expect(doneBefore).toBeGreaterThanOrEqual(1);
    expect(doneBefore).toBeLessThan(5);
    // an image interrupted in flight has a run marked cancelled, never one left running
    expect(backend.project!.listRuns({ pipeline: 'diffseg', status: 'running' })).toHaveLength(0);

    progress.length = 0;
    const resumed = await backend.jobs.wait(await segment({ model: 'fixture' }));
    expect(resumed.state).toBe('done');
    const report = resumed.result as BatchReport;
    expect(report).toMatchObject({ total: 5, skipped: doneBefore, segmented: 5 - doneBefore, failed: [], cancelled: false });
    expect(runsDone()).toBe(5);
    // progress: image i of n, ending at n of n
    const mine = progress.filter((e) => e.jobId === resumed.id);
    expect(mine.at(-1)).toMatchObject({ kind: 'diffseg', done: 5, total: 5 });
    expect(mine.some((e) => e.done < 5 && e.total === 5)).toBe(true);
    // results are proposals: no category, source diffseg, the run's id
    for (const id of ids) {
      const anns = (await backend.dispatch('annotations.list', { imageId: id })) as Array<{ source: string; runId: number; categoryId: null }>;
      expect(anns.length).toBeGreaterThanOrEqual(p.scenes.get(id)!.shapes.length + 1);
      const run = backend.project!.listRuns({ imageId: id, pipeline: 'diffseg', status: 'done' })[0]!;
      for (const a of anns) expect(a).toMatchObject({ source: 'diffseg', runId: run.id, categoryId: null });
    }
    // a third run with the same model and params does nothing
    const again = await backend.jobs.wait(await segment({ model: 'fixture' }));
    expect(again.result).toMatchObject({ skipped: 5, segmented: 0 });
    // other params are a different run
    const other = await backend.jobs.wait(await segment({ model: 'fixture', imageIds: [ids[0]], params: { tau: 0.9 } }));
    expect(other.result).toMatchObject({ skipped: 0, segmented: 1 });
  });

  it('a broken image is recorded on its run with the error and skipped; the others go on', async () => {
    // A new file, indexed while readable, then broken before it is segmented.
    await writeScene(join(p.dir, 'late.png'), makeScene(320, 240, 3, 26));
    await backend.jobs.wait(((await backend.dispatch('project.index', {})) as { jobId: string }).jobId);
    const img = backend.project!.getImageByPath('late.png')!;
    expect(img.status).not.toBe('error');
    writeFileSync(join(p.dir, img.path), 'not an image any more');
    const job: Job = await backend.jobs.wait(await segment({ model: 'fixture' }));
    expect(job.state).toBe('done');
    const report = job.result as BatchReport;
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0]).toMatchObject({ imageId: img.id, path: img.path });
    expect(report).toMatchObject({ total: 6, skipped: 5, segmented: 0 });
    const failedRun = backend.project!.listRuns({ imageId: img.id, pipeline: 'diffseg', status: 'failed' });
    expect(failedRun).toHaveLength(1);
    expect(failedRun[0]!.error).toBeTruthy();
  });

  it('a missing image (its file gone, its work kept) is left out of segment everything, and a click on it is refused', async () => {
    await writeScene(join(p.dir, 'gone.png'), makeScene(320, 240, 3, 27));
    await backend.jobs.wait(((await backend.dispatch('project.index', {})) as { jobId: string }).jobId);
    const img = backend.project!.getImageByPath('gone.png')!;
    await backend.dispatch('images.setStatus', { id: img.id, status: 'done' }); // labelled: kept when its file goes
    rmSync(join(p.dir, 'gone.png'));
    await backend.jobs.wait(((await backend.dispatch('project.index', {})) as { jobId: string }).jobId);
    expect(backend.project!.getImage(img.id)!.missingSince).not.toBeNull();

    const report = (await backend.jobs.wait(await segment({ model: 'fixture' }))).result as BatchReport;
    expect(report.failed.map((f) => f.imageId)).not.toContain(img.id);
    expect(backend.project!.listRuns({ imageId: img.id, pipeline: 'diffseg' })).toHaveLength(0);
    await expect(backend.dispatch('pipelines.preview', { pipeline: 'diffseg', imageId: img.id, prompt: { kind: 'points', points: [{ x: 5, y: 5, positive: true }] }, model: 'fixture' })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringMatching(/gone\.png is missing.*masks are kept/),
    });
  });

  it('DiffSeg previews and accepts clicks through the API; the second click is served from the cache', async () => {
    const [imageId, scene] = [...p.scenes.entries()][2]!;
    const c = shapeCentre(scene.shapes[0]!);
    const points = [{ ...c, positive: true }];
    const first = (await backend.dispatch('pipelines.preview', { pipeline: 'diffseg', imageId, prompt: { kind: 'points', points }, model: 'fixture' })) as { area: number; cached: boolean; mask: { size: number[] } };
    expect(first.mask.size).toEqual([scene.height, scene.width]);
    expect(first.area).toBeGreaterThan(0);
    const second = (await backend.dispatch('pipelines.preview', { pipeline: 'diffseg', imageId, prompt: { kind: 'points', points: [{ ...shapeCentre(scene.shapes[1]!), positive: true }] }, model: 'fixture' })) as { cached: boolean };
    expect(second.cached).toBe(true);
    const a = (await backend.dispatch('pipelines.accept', { pipeline: 'diffseg', imageId, prompt: { kind: 'points', points }, categoryId: null, model: 'fixture' })) as { source: string; area: number };
    expect(a).toMatchObject({ source: 'diffseg-click', area: first.area });
    await expect(backend.dispatch('pipelines.preview', { pipeline: 'diffseg', imageId, prompt: { kind: 'points', points: [] }, model: 'fixture' })).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('without an installed bundle the error (code no_model) says how to convert one; segment everything is refused before a job starts', async () => {
    const empty = tempDir();
    const old = process.env['DIFFLABEL_MODELS_DIR'];
    process.env['DIFFLABEL_MODELS_DIR'] = empty.path;
    try {
      const imageId = [...p.scenes.keys()][0]!;
      await expect(backend.dispatch('pipelines.preview', { pipeline: 'diffseg', imageId, prompt: { kind: 'points', points: [{ x: 1, y: 1, positive: true }] }, model: 'no-such-bundle' })).rejects.toMatchObject({
        code: 'no_model',
        message: expect.stringMatching(/no model bundle "no-such-bundle"/),
      });
      const jobs = backend.jobs.list().length;
      await expect(segment({})).rejects.toMatchObject({ code: 'no_model', message: expect.stringMatching(/models convert/) });
      expect(backend.jobs.list()).toHaveLength(jobs);
    } finally {
      if (old === undefined) delete process.env['DIFFLABEL_MODELS_DIR'];
      else process.env['DIFFLABEL_MODELS_DIR'] = old;
      empty.cleanup();
    }
  });
});
