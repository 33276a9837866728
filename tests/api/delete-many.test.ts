// annotations.deleteMany: many masks of one image deleted as ONE undoable step (the bulk delete of the canvas and
// "Delete proposals"), with the rows in the database and the history checked.
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
let otherId: number;
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
const mask = (x0: number) => toCocoRle(encode(rectMask(H, W, x0, 0, x0 + 3, 10), H, W), false);
const ids = async (id = imageId) => (await call('annotations.list', { imageId: id })).map((a: { id: number }) => a.id);

beforeEach(async () => {
  dir = tempDir();
  await makeImageFolder(dir.path, 2, () => [W, H]);
  backend = new Backend({ shell: 'web' });
  backend.openProject(dir.path);
  await backend.jobs.wait((await call('project.index', {})).jobId);
  [imageId, otherId] = (await call('images.list', {})).items.map((i: { id: number }) => i.id);
});
afterEach(async () => {
  await backend.close();
  dir.cleanup();
});

describe('annotations.deleteMany', () => {
  it('deletes ten masks as one undo step: one undo brings all ten back with their ids, one redo removes them again', async () => {
    const kept = await call('annotations.add', { imageId, categoryId: null, mask: mask(36) });
    const made: number[] = [];
    for (let i = 0; i < 10; i++) made.push((await call('annotations.add', { imageId, categoryId: null, mask: mask(i * 3), source: 'diffseg' })).id);
    const before = backend.project!.listAnnotations({ imageId });

    let r = await call('annotations.deleteMany', { imageId, ids: made, label: 'delete proposals' });
    expect(r.annotations.map((a: { id: number }) => a.id)).toEqual([kept.id]);
    expect(r.history).toEqual({ imageId, canUndo: true, canRedo: false, undoLabel: 'delete proposals', redoLabel: null });
    expect(backend.project!.countAnnotations({ imageId })).toBe(1);

    r = await call('history.undo', { imageId });
    expect(r.annotations.map((a: { id: number }) => a.id)).toEqual([kept.id, ...made]);
    // The same rows as before, masks and all.
    expect(backend.project!.listAnnotations({ imageId }).map(({ updatedAt: _, ...a }) => a)).toEqual(before.map(({ updatedAt: _, ...a }) => a));
    expect(r.history).toMatchObject({ canUndo: true, undoLabel: 'add', redoLabel: 'delete proposals' });

    r = await call('history.redo', { imageId });
    expect(await ids()).toEqual([kept.id]);
  });

  it('refuses a mask of another image and deletes nothing; masks already gone are skipped', async () => {
    const a = await call('annotations.add', { imageId, categoryId: null, mask: mask(0) });
    const b = await call('annotations.add', { imageId, categoryId: null, mask: mask(5) });
    const elsewhere = await call('annotations.add', { imageId: otherId, categoryId: null, mask: mask(0) });

    await expect(call('annotations.deleteMany', { imageId, ids: [a.id, elsewhere.id] })).rejects.toMatchObject({
      code: 'bad_request',
      message: expect.stringMatching(new RegExp(`annotation ${elsewhere.id} belongs to another image`)),
    });
    expect(await ids()).toEqual([a.id, b.id]);
    expect(await ids(otherId)).toEqual([elsewhere.id]);

    // Deleted meanwhile (another window): the rest goes, in one step labelled "delete".
    await call('annotations.delete', { id: a.id });
    const r = await call('annotations.deleteMany', { imageId, ids: [a.id, b.id, b.id] });
    expect(r.annotations).toEqual([]);
    expect(r.history.undoLabel).toBe('delete');
    expect((await call('history.undo', { imageId })).annotations.map((x: { id: number }) => x.id)).toEqual([b.id]);

    // Nothing left to delete: no empty undo step (the next undo still brings b back).
    await call('history.redo', { imageId });
    const r2 = await call('annotations.deleteMany', { imageId, ids: [b.id] });
    expect(r2.annotations).toEqual([]);
    expect((await call('history.undo', { imageId })).annotations.map((x: { id: number }) => x.id)).toEqual([b.id]);
  });

  it('validates its input: at least one id, an existing image', async () => {
    await expect(call('annotations.deleteMany', { imageId, ids: [] })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(call('annotations.deleteMany', { imageId: 9999, ids: [1] })).rejects.toMatchObject({ code: 'not_found' });
  });
});
