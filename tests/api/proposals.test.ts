// Machine proposals and image status: segment everything (fixture model) leaves an untouched image Unlabeled, a
// labeler's act moves it to In progress, and images.list / images.position filter images that hold proposals.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { encode, toCocoRle } from '../../src/shared/masks';
import { disposeSharedInferenceHost } from '../../src/core/pipelines/common/inference';
import type { Annotation, Image } from '../../src/shared/contract';
import { shapeCentre } from '../pipelines/diffseg/fixture-scenes';
import { sceneProject, type SceneProject } from '../pipelines/diffseg/helpers';
import { rectMask } from '../helpers/masks';

let p: SceneProject;
let backend: Backend;
let ids: number[];
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
const status = async (id: number) => ((await call('images.get', { id })) as Image).status;
const listIds = async (filter: object) => {
  const r = (await call('images.list', filter)) as { total: number; items: Image[] };
  return { total: r.total, ids: r.items.map((i) => i.id) };
};
const segment = async (imageIds: number[]) => {
  const job = await backend.jobs.wait((await call('pipelines.run', { pipeline: 'diffseg', imageIds, model: 'fixture' })).jobId);
  expect(job.state).toBe('done');
};

beforeAll(async () => {
  p = await sceneProject([[160, 120, 3, 31], [160, 120, 3, 32], [160, 120, 3, 33], [160, 120, 3, 34]]);
  p.store.close();
  backend = new Backend({ shell: 'web' });
  backend.openProject(p.dir);
  ids = (await listIds({})).ids; // path order
});
afterAll(async () => {
  await backend.close();
  await disposeSharedInferenceHost();
  p.cleanup();
});

describe('proposals and image status', () => {
  it('segment everything leaves untouched images Unlabeled, also through undo, redo and re-indexing', async () => {
    const [a, b] = ids as [number, number];
    await segment([a, b]);
    for (const id of [a, b]) {
      const anns = (await call('annotations.list', { imageId: id })) as Annotation[];
      expect(anns.length).toBeGreaterThanOrEqual(3);
      expect(anns.every((x) => x.categoryId === null && x.source === 'diffseg')).toBe(true);
      expect(await status(id)).toBe('unlabeled');
    }
    expect((await call('project.stats', {})).byStatus).toMatchObject({ unlabeled: 4, in_progress: 0 });

    // Undo and redo put the proposals back and forth: still untouched.
    expect((await call('history.undo', { imageId: a })).annotations).toEqual([]);
    expect((await call('history.redo', { imageId: a })).annotations.length).toBeGreaterThanOrEqual(3);
    expect(await status(a)).toBe('unlabeled');

    // The file changes (same size): indexing reads it again and keeps its status.
    const path = join(p.dir, (await call('images.get', { id: a })).path);
    const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
    data[0] = 255 - data[0]!;
    writeFileSync(path, await sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).png().toBuffer());
    await backend.jobs.wait((await call('project.index', {})).jobId);
    expect((await call('images.get', { id: a })).annotations).toBeGreaterThanOrEqual(3);
    expect(await status(a)).toBe('unlabeled');
  });

  it('images.list {proposals} lists the images that hold proposals, and images.position agrees with it', async () => {
    const [a, b, c, d] = ids as [number, number, number, number];
    expect(await listIds({ proposals: true })).toEqual({ total: 2, ids: [a, b] });
    expect(await listIds({ proposals: false })).toEqual({ total: 2, ids: [c, d] });
    expect(await listIds({ proposals: true, status: 'unlabeled', offset: 1, limit: 1 })).toEqual({ total: 2, ids: [b] });
    expect(await call('images.position', { id: b, proposals: true })).toEqual({ index: 1, total: 2 });
    expect(await call('images.position', { id: d, proposals: false })).toEqual({ index: 1, total: 2 });
    expect(await call('images.position', { id: c, proposals: true })).toEqual({ index: null, total: 2 });
  });

  it('a labeler\'s act moves the image to In progress: a category for a proposal, a drawn mask, an accepted click', async () => {
    const [a, b, c, d] = ids as [number, number, number, number];
    const cat = await call('categories.add', { name: 'shape' });
    // Deleting proposals is tidying, not labelling.
    const fromB = ((await call('annotations.list', { imageId: b })) as Annotation[]).map((x) => x.id);
    await call('annotations.deleteMany', { imageId: b, ids: fromB.slice(0, 1) });
    expect(await status(b)).toBe('unlabeled');

    const [first] = (await call('annotations.list', { imageId: a })) as Annotation[];
    await call('annotations.update', { id: first!.id, categoryId: cat.id });
    expect(await status(a)).toBe('in_progress');
    // Its other proposals still wait for the labeler.
    expect((await listIds({ proposals: true })).ids).toEqual([a, b]);

    const img = (await call('images.get', { id: c })) as Image;
    await call('annotations.add', { imageId: c, categoryId: null, mask: toCocoRle(encode(rectMask(img.height, img.width, 0, 0, 8, 8), img.height, img.width), false) });
    expect(await status(c)).toBe('in_progress');

    const click = { ...shapeCentre(p.scenes.get(d)!.shapes[0]!), positive: true };
    const accepted = await call('pipelines.accept', { pipeline: 'diffseg', imageId: d, prompt: { kind: 'points', points: [click] }, categoryId: null, model: 'fixture' });
    expect(accepted).toMatchObject({ source: 'diffseg-click', categoryId: null });
    expect(await status(d)).toBe('in_progress');
    expect((await call('project.stats', {})).byStatus).toMatchObject({ unlabeled: 1, in_progress: 3 });
  });
});
