// Boxes and points through the contract: annotations.addShape / setShape, category and attributes as for masks,
// undo/redo, and the mask-only operations (merge, split, no overlap, examples) refusing or passing over them.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { encode, toCocoRle } from '../../src/shared/masks';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';

const H = 30;
const W = 40;
let dir: ReturnType<typeof tempDir>;
let backend: Backend;
let imageId: number;
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
const rect = (x0: number, y0: number, x1: number, y1: number) => toCocoRle(encode(rectMask(H, W, x0, y0, x1, y1), H, W), true);
async function apiError(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error('expected an error');
}

beforeEach(async () => {
  dir = tempDir();
  await makeImageFolder(dir.path, 1, () => [W, H]);
  backend = new Backend({ shell: 'web' });
  backend.openProject(dir.path);
  await backend.jobs.wait((await call('project.index', {})).jobId);
  imageId = (await call('images.list', {})).items[0].id;
});
afterEach(async () => {
  await backend.close();
  dir.cleanup();
});

describe('boxes and points through the API', () => {
  it('adds, moves, recategorises and undoes a box and a point; annotations.list tells the shapes apart', async () => {
    const car = await call('categories.add', { name: 'car' });
    await call('attributes.define', { categoryId: car.id, name: 'occluded', type: 'boolean' });
    const mask = await call('annotations.add', { imageId, categoryId: car.id, mask: rect(0, 0, 4, 4) });
    const box = await call('annotations.addShape', { imageId, categoryId: null, shape: { kind: 'box', bbox: [5, 6, 10, 8] } });
    expect(box).toMatchObject({ shape: 'box', bbox: [5, 6, 10, 8], area: 80, mask: { size: [H, W], counts: '' }, categoryId: null, source: 'manual' });
    const point = await call('annotations.addShape', { imageId, categoryId: car.id, shape: { kind: 'point', x: 20.5, y: 3.5 } });
    expect(point).toMatchObject({ shape: 'point', bbox: [20.5, 3.5, 0, 0], area: 0 });

    const moved = await call('annotations.setShape', { id: box.id, shape: { kind: 'box', bbox: [0, 0, 40, 30] } });
    expect(moved).toMatchObject({ bbox: [0, 0, 40, 30], area: 1200 });
    expect((await call('history.state', { imageId })).undoLabel).toBe('move box');
    await call('annotations.update', { id: box.id, categoryId: car.id });
    await call('annotations.setAttributes', { id: box.id, values: { occluded: true } });
    const list = await call('annotations.list', { imageId });
    expect(list.map((a: { shape: string }) => a.shape)).toEqual(['mask', 'box', 'point']);
    expect(list[1]).toMatchObject({ categoryId: car.id, attributes: { occluded: true }, bbox: [0, 0, 40, 30] });

    for (let i = 0; i < 3; i++) await call('history.undo', { imageId }); // attributes, category, move
    expect((await call('annotations.list', { imageId }))[1]).toMatchObject({ categoryId: null, attributes: {}, bbox: [5, 6, 10, 8], area: 80 });
    await call('history.undo', { imageId }); // the point's add
    expect((await call('annotations.list', { imageId })).map((a: { id: number }) => a.id)).toEqual([mask.id, box.id]);
    await call('history.redo', { imageId });
    expect((await call('annotations.list', { imageId }))[2]).toMatchObject({ id: point.id, shape: 'point', bbox: [20.5, 3.5, 0, 0] });
  });

  it('refuses a box outside the image, the wrong kind of move and mask operations on a box; no overlap passes over boxes', async () => {
    const box = await call('annotations.addShape', { imageId, categoryId: null, shape: { kind: 'box', bbox: [5, 6, 10, 8] } });
    const mask = await call('annotations.add', { imageId, categoryId: null, mask: rect(0, 0, 8, 8) });
    expect(await apiError(call('annotations.addShape', { imageId, categoryId: null, shape: { kind: 'box', bbox: [35, 0, 10, 5] } })))
      .toMatchObject({ code: 'bad_request', message: expect.stringContaining('lies outside the 40×30 image') });
    expect(await apiError(call('annotations.setShape', { id: box.id, shape: { kind: 'point', x: 1, y: 1 } })))
      .toMatchObject({ code: 'bad_request', message: `annotation ${box.id} is a box, not a point` });
    expect(await apiError(call('annotations.setShape', { id: mask.id, shape: { kind: 'box', bbox: [0, 0, 1, 1] } })))
      .toMatchObject({ code: 'bad_request', message: `annotation ${mask.id} is a mask, not a box` });
    expect(await apiError(call('annotations.merge', { ids: [mask.id, box.id] })))
      .toMatchObject({ code: 'bad_request', message: `annotation ${box.id} is a box, not a mask` });
    expect(await apiError(call('annotations.split', { id: box.id }))).toMatchObject({ code: 'bad_request' });
    expect(await apiError(call('examples.add', { annotationId: box.id }))).toMatchObject({ code: 'bad_request' });
    expect(await apiError(call('annotations.update', { id: box.id, mask: rect(0, 0, 2, 2) })))
      .toMatchObject({ code: 'bad_request', message: expect.stringContaining("a box has no rle") });
    // A mask drawn with No overlap over the box leaves the box whole.
    await call('annotations.add', { imageId, categoryId: null, mask: rect(0, 0, 40, 30), exclusive: true });
    const list = await call('annotations.list', { imageId });
    expect(list.find((a: { id: number }) => a.id === box.id)).toMatchObject({ bbox: [5, 6, 10, 8], area: 80 });
    expect(list.find((a: { id: number }) => a.id === mask.id)).toBeUndefined();
  });
});
