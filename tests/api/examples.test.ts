// examples.add / list / delete over the project's masks, and the category a proposal is offered in: a run from an
// example proposes masks (unassigned) whose suggestedCategoryId is the example's category, which accepting gives.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { disposeSharedInferenceHost } from '../../src/core/pipelines/common/inference';
import { encode, toCocoRle } from '../../src/shared/masks';
import { tempDir } from '../helpers/folder';
import { query, support, writeScene } from '../pipelines/refldmseg/scenes';

describe('examples and suggested categories', () => {
  const dir = tempDir();
  let backend: Backend;
  const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
  const ids: Record<string, number> = {};
  let red: number;
  let disk: number;
  const ex = support();

  beforeAll(async () => {
    await writeScene(join(dir.path, 'example.png'), ex);
    await writeScene(join(dir.path, 'q1.png'), query());
    await writeScene(join(dir.path, 'q2.png'), query(32));
    backend = new Backend({ shell: 'web' });
    backend.openProject(dir.path);
    await backend.jobs.wait((await call('project.index', {})).jobId);
    for (const img of (await call('images.list', {})).items) ids[img.path] = img.id;
    red = (await call('categories.add', { name: 'red thing' })).id;
    const mask = toCocoRle(encode(ex.masks[0]!, ex.rgb.height, ex.rgb.width), true);
    disk = (await call('annotations.add', { imageId: ids['example.png'], categoryId: red, mask })).id;
  });
  afterAll(async () => {
    await backend.close();
    await disposeSharedInferenceHost();
    dir.cleanup();
  });

  it('adds an example on a mask, lists it with its image, category and box, by category, and deletes it', async () => {
    const e = await call('examples.add', { annotationId: disk, label: 'disk' });
    const expected = { id: e.id, annotationId: disk, label: 'disk', imageId: ids['example.png'], imagePath: 'example.png', categoryId: red, bbox: [50, 30, 100, 100] };
    expect(e).toEqual(expected);
    // Marked again, it stays one example.
    expect(await call('examples.add', { annotationId: disk })).toEqual(expected);
    expect(await call('examples.list', {})).toEqual([expected]);
    expect(await call('examples.list', { categoryId: red })).toEqual([expected]);
    expect(await call('examples.list', { categoryId: null })).toEqual([]);
    expect(backend.project!.listExamples()).toEqual([{ id: e.id, imageId: ids['example.png'], annotationId: disk, label: 'disk' }]);

    expect(await call('examples.delete', { id: e.id })).toEqual({ deleted: true });
    expect(await call('examples.delete', { id: e.id })).toEqual({ deleted: false });
    expect(backend.project!.listExamples()).toEqual([]);
  });

  it('refuses an example on a mask that does not exist (not_found), and nothing is stored', async () => {
    await expect(call('examples.add', { annotationId: 9999 })).rejects.toMatchObject({ code: 'not_found', message: expect.stringMatching(/9999/) });
    expect(backend.project!.listExamples()).toEqual([]);
  });

  it('drops an example whose mask is deleted', async () => {
    const mask = toCocoRle(encode(ex.masks[0]!, ex.rgb.height, ex.rgb.width), true);
    const other = (await call('annotations.add', { imageId: ids['example.png'], categoryId: null, mask })).id;
    await call('examples.add', { annotationId: other });
    expect(await call('examples.list', {})).toHaveLength(1);
    await call('annotations.delete', { id: other });
    expect(await call('examples.list', {})).toEqual([]);
    expect(backend.project!.listExamples()).toEqual([]);
  });

  it("offers a run's proposals in its example's category, and accepting one gives it that category", async () => {
    const { jobId } = await call('pipelines.run', { pipeline: 'refldmseg', model: 'fixture', prompt: { kind: 'example', annotationId: disk }, imageIds: [ids['q1.png'], ids['q2.png']] });
    expect((await backend.jobs.wait(jobId)).state).toBe('done');
    const [p, ...more] = await call('annotations.list', { imageId: ids['q1.png'] });
    expect(more).toEqual([]);
    expect(p).toMatchObject({ categoryId: null, proposed: true, source: 'refldmseg', suggestedCategoryId: red });
    expect(p.score).toBeGreaterThan(0.5);
    expect(p.score).toBeLessThanOrEqual(1);
    // The labeler's own mask has no suggestion.
    expect((await call('annotations.list', { imageId: ids['example.png'] }))[0]).toMatchObject({ id: disk, suggestedCategoryId: null });

    const accepted = await call('annotations.update', { id: p.id, categoryId: p.suggestedCategoryId });
    expect(accepted).toMatchObject({ id: p.id, categoryId: red, proposed: true, suggestedCategoryId: null });
    expect(backend.project!.getAnnotation(p.id)).toMatchObject({ categoryId: red });
  });

  it('suggests nothing once the category is deleted', async () => {
    await call('categories.delete', { id: red });
    const [p] = await call('annotations.list', { imageId: ids['q2.png'] });
    expect(p).toMatchObject({ categoryId: null, proposed: true, suggestedCategoryId: null });
  });
});
