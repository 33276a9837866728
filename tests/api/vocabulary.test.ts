// The project's vocabulary (vocabulary.get / set) and a vocabulary run through the API: each proposal suggests the
// category it was found as (created by name when the proposals are stored), which accepting gives; undo and redo of
// the run's proposals keep the suggestion.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { disposeSharedInferenceHost } from '../../src/core/pipelines/common/inference';
import { tempDir } from '../helpers/folder';
import { writeScene } from '../pipelines/refldmseg/scenes';
import { colourScene } from '../pipelines/vocabulary/scene';

describe('the project vocabulary and vocabulary runs', () => {
  const dir = tempDir();
  let backend: Backend;
  const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
  let image: number;

  beforeAll(async () => {
    await writeScene(join(dir.path, 'shapes.png'), colourScene());
    backend = new Backend({ shell: 'web' });
    backend.openProject(dir.path);
    await backend.jobs.wait((await call('project.index', {})).jobId);
    image = (await call('images.list', {})).items[0].id;
    await call('categories.add', { name: 'sky', isthing: false });
    await call('categories.add', { name: 'red' });
  });
  afterAll(async () => {
    await backend.close();
    await disposeSharedInferenceHost();
    dir.cleanup();
  });

  it('is the categories until one is set, then what was set; stuff must name an entry', async () => {
    expect(await call('vocabulary.get', {})).toEqual({ names: ['sky', 'red'], stuff: ['sky'] });
    expect(await call('vocabulary.set', { names: ['red', 'blue, navy'], stuff: ['blue'] })).toEqual({ names: ['red', 'blue, navy'], stuff: ['blue'] });
    expect(await call('vocabulary.get', {})).toEqual({ names: ['red', 'blue, navy'], stuff: ['blue'] });
    await expect(call('vocabulary.set', { names: ['red'], stuff: ['navy'] })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/stuff names no vocabulary entry: navy/) });
  });

  it('refuses a vocabulary no run could take (a word in two entries) and keeps the one stored', async () => {
    await expect(call('vocabulary.set', { names: ['red', 'crimson, Red'], stuff: [] })).rejects.toMatchObject({
      code: 'bad_request',
      message: '"Red" is in vocabulary entries 1 and 2: a word names one category',
    });
    expect(await call('vocabulary.get', {})).toEqual({ names: ['red', 'blue, navy'], stuff: ['blue'] });
  });

  it('a run suggests each proposal\'s category, created by name; accepting gives it; undo and redo keep it', async () => {
    const { jobId } = await call('pipelines.run', { pipeline: 'vocabulary', model: 'fixture', prompt: { kind: 'vocabulary', names: ['red', 'blue, navy'], stuff: ['blue'] }, imageIds: [image] });
    expect((await backend.jobs.wait(jobId)).state).toBe('done');
    const cats = await call('categories.list', {});
    const byName = Object.fromEntries(cats.map((c: any) => [c.name, c]));
    expect(byName.blue).toMatchObject({ isthing: false }); // created, stuff as the prompt says
    expect(byName.red).toMatchObject({ isthing: true }); // the project's, reused
    const proposals = await call('annotations.list', { imageId: image });
    expect(proposals.map((a: any) => [a.proposed, a.suggestedCategoryId]).sort()).toEqual([[true, byName.blue.id], [true, byName.red.id]].sort());
    await call('history.undo', { imageId: image });
    expect(await call('annotations.list', { imageId: image })).toEqual([]);
    await call('history.redo', { imageId: image });
    const back = await call('annotations.list', { imageId: image });
    expect(back.map((a: any) => a.suggestedCategoryId).sort()).toEqual([byName.blue.id, byName.red.id].sort());
    const blue = back.find((a: any) => a.suggestedCategoryId === byName.blue.id);
    const accepted = await call('annotations.update', { id: blue.id, categoryId: blue.suggestedCategoryId });
    expect(accepted).toMatchObject({ categoryId: byName.blue.id, proposed: true, suggestedCategoryId: null });
  });

  it('tells the app when a run has made categories (so that it can offer them), and only then', async () => {
    const events: string[] = [];
    backend.onEvent((e, p) => e === 'project.changed' && events.push((p as { what: string }).what));
    const run = async (names: string[]) => {
      const { jobId } = await call('pipelines.run', { pipeline: 'vocabulary', model: 'fixture', prompt: { kind: 'vocabulary', names }, imageIds: [image] });
      expect((await backend.jobs.wait(jobId)).state).toBe('done');
    };
    await run(['red']); // the project's category
    expect(events).toEqual(['annotations']);
    events.length = 0;
    await run(['crimson, red']); // the disk is found as crimson, a category the run makes
    expect((await call('categories.list', {})).map((c: any) => c.name)).toContain('crimson');
    expect(events).toEqual(['annotations', 'categories']);
  });
});
