// pipelines.run with an example prompt refuses, before a job starts, an example annotation that does not exist and
// a variant the model is not (bad_request naming the field): a job that fails at once tells the labeler less.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { makeImageFolder, tempDir } from '../helpers/folder';

describe('pipelines.run with an example prompt', () => {
  const dir = tempDir();
  let backend: Backend;
  let exampleId: number;
  const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;

  beforeAll(async () => {
    await makeImageFolder(dir.path, 2, () => [40, 30]);
    backend = new Backend({ shell: 'web' });
    backend.openProject(dir.path);
    await backend.jobs.wait((await call('project.index', {})).jobId);
    const imageId = (await call('images.list', {})).items[0].id;
    const counts = [0, 100, 20, 1080];
    exampleId = (await call('annotations.add', { imageId, categoryId: null, mask: { size: [30, 40], counts } })).id;
  });
  afterAll(async () => {
    await backend.close();
    dir.cleanup();
  });

  it('refuses an example that is gone, before any job', async () => {
    const jobs = (await call('jobs.list', {})).length;
    await expect(call('pipelines.run', { pipeline: 'refldmseg', model: 'fixture', prompt: { kind: 'example', annotationId: 9999 } }))
      .rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/example annotation 9999 does not exist/) });
    expect((await call('jobs.list', {})).length).toBe(jobs);
  });

  it('refuses a variant the model is not, naming params.variant, before any job', async () => {
    const jobs = (await call('jobs.list', {})).length;
    const answer = call('pipelines.run', { pipeline: 'refldmseg', model: 'fixture', params: { variant: 'n' }, prompt: { kind: 'example', annotationId: exampleId } });
    await expect(answer).rejects.toMatchObject({ code: 'bad_request', issues: [expect.objectContaining({ path: 'params.variant' })] });
    expect((await call('jobs.list', {})).length).toBe(jobs);
  });

  it('starts a job for a good example', async () => {
    const { jobId } = await call('pipelines.run', { pipeline: 'refldmseg', model: 'fixture', prompt: { kind: 'example', annotationId: exampleId } });
    const job = await backend.jobs.wait(jobId);
    expect(job.state).toBe('done');
    expect(job.result).toMatchObject({ segmented: 2, failed: [] });
  });
});
