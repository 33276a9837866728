// Edits through the contract: every edit is one undo step kept in the database; merge, split, undo, redo.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { decode, encode, fromCompressedString, toCocoRle } from '../../src/shared/masks';
import { ProjectStore, HISTORY_LIMIT } from '../../src/core/project';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { clearRect, rectMask } from '../helpers/masks';

const H = 30;
const W = 40;
let dir: ReturnType<typeof tempDir>;
let backend: Backend;
let imageId: number;
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
const mask = (m: Uint8Array) => toCocoRle(encode(m, H, W), false);
const pixels = (a: { mask: { counts: string } }) => decode(fromCompressedString(a.mask.counts, H, W));

beforeEach(async () => {
  dir = tempDir();
  await makeImageFolder(dir.path, 2, () => [W, H]);
  backend = new Backend({ shell: 'web' });
  backend.openProject(dir.path);
  const { jobId } = await call('project.index', {});
  await backend.jobs.wait(jobId);
  imageId = (await call('images.list', {})).items[0].id;
});
afterEach(async () => {
  await backend.close();
  dir.cleanup();
});

describe('edits, undo and redo', () => {
  it('undoes and redoes every kind of edit, and the history survives reopening the project', async () => {
    const cat = await call('categories.add', { name: 'thing' });
    const a = await call('annotations.add', { imageId, categoryId: null, mask: mask(rectMask(H, W, 0, 0, 10, 10)), label: 'polygon' });
    await call('annotations.update', { id: a.id, mask: mask(clearRect(rectMask(H, W, 0, 0, 10, 10), W, 3, 3, 6, 6)), label: 'eraser' });
    await call('annotations.update', { id: a.id, categoryId: cat.id });
    expect(await call('history.state', { imageId })).toEqual({ imageId, canUndo: true, canRedo: false, undoLabel: 'change category', redoLabel: null });

    let r = await call('history.undo', { imageId });
    expect(r.annotations[0].categoryId).toBeNull();
    r = await call('history.undo', { imageId });
    expect(pixels(r.annotations[0])).toEqual(rectMask(H, W, 0, 0, 10, 10));
    expect(r.history).toMatchObject({ canUndo: true, canRedo: true, undoLabel: 'polygon', redoLabel: 'eraser' });

    // Reopen: the same position in the history, from the database.
    await backend.close();
    backend = new Backend({ shell: 'web' });
    backend.openProject(dir.path);
    r = await call('history.redo', { imageId });
    expect(pixels(r.annotations[0])).toEqual(clearRect(rectMask(H, W, 0, 0, 10, 10), W, 3, 3, 6, 6));
    r = await call('history.undo', { imageId });
    r = await call('history.undo', { imageId });
    expect(r.annotations).toEqual([]);
    expect(r.history.canUndo).toBe(false);
    // Redo brings the annotation back with its id.
    r = await call('history.redo', { imageId });
    expect(r.annotations.map((x: any) => x.id)).toEqual([a.id]);

    // A new edit drops the redo branch.
    await call('annotations.delete', { id: a.id });
    r = await call('history.undo', { imageId });
    expect(r.annotations.map((x: any) => x.id)).toEqual([a.id]);
    await call('annotations.add', { imageId, categoryId: null, mask: mask(rectMask(H, W, 20, 20, 25, 25)) });
    expect((await call('history.state', { imageId })).canRedo).toBe(false);
  });

  it('merges masks into one and splits them back into parts, each one undo step', async () => {
    const left = await call('annotations.add', { imageId, categoryId: null, mask: mask(rectMask(H, W, 0, 0, 5, 5)) });
    const right = await call('annotations.add', { imageId, categoryId: null, mask: mask(rectMask(H, W, 20, 10, 30, 20)) });
    let r = await call('annotations.merge', { ids: [left.id, right.id] });
    expect(r.annotations).toHaveLength(1);
    expect(r.annotations[0]).toMatchObject({ id: left.id, area: 125, bbox: [0, 0, 30, 20] });
    expect(r.history.undoLabel).toBe('merge');

    r = await call('annotations.split', { id: left.id });
    expect(r.annotations.map((a: any) => a.area).sort((x: number, y: number) => x - y)).toEqual([25, 100]);
    expect(r.history.undoLabel).toBe('split');
    r = await call('history.undo', { imageId });
    expect(r.annotations).toHaveLength(1);
    r = await call('history.undo', { imageId });
    expect(r.annotations.map((a: any) => a.id).sort()).toEqual([left.id, right.id].sort());
    expect(pixels(r.annotations.find((a: any) => a.id === right.id))).toEqual(rectMask(H, W, 20, 10, 30, 20));

    // A mask in one piece does not split (and adds no undo step).
    r = await call('annotations.split', { id: right.id });
    expect(r.annotations).toHaveLength(2);
    expect(r.history.redoLabel).toBe('merge');
    const other = (await call('images.list', {})).items[1].id;
    const elsewhere = await call('annotations.add', { imageId: other, categoryId: null, mask: mask(rectMask(H, W, 0, 0, 2, 2)) });
    await expect(call('annotations.merge', { ids: [left.id, elsewhere.id] })).rejects.toThrow(/one image/);
    await expect(call('annotations.merge', { ids: [left.id, left.id] })).rejects.toThrow(/two different/);
  });

  it('merges categories', async () => {
    const a = await call('categories.add', { name: 'kitty' });
    const b = await call('categories.add', { name: 'cat' });
    const ann = await call('annotations.add', { imageId, categoryId: a.id, mask: mask(rectMask(H, W, 0, 0, 5, 5)) });
    expect(await call('categories.merge', { from: a.id, into: b.id })).toMatchObject({ id: b.id, name: 'cat' });
    expect((await call('annotations.list', { imageId }))[0]).toMatchObject({ id: ann.id, categoryId: b.id });
    expect((await call('categories.list', {})).map((c: any) => c.name)).toEqual(['cat']);
    await expect(call('categories.merge', { from: b.id, into: b.id })).rejects.toThrow(/itself/);
  });

  it('keeps a bounded history per image', async () => {
    const store = backend.project as ProjectStore;
    const a = await call('annotations.add', { imageId, categoryId: null, mask: mask(rectMask(H, W, 0, 0, 1, 1)) });
    for (let i = 0; i < HISTORY_LIMIT + 5; i++)
      store.edit(imageId, 'nudge', [{ kind: 'update', id: a.id, patch: { score: i } }]);
    let undone = 0;
    while (store.undo(imageId)) undone++;
    expect(undone).toBe(HISTORY_LIMIT);
    expect(store.getAnnotation(a.id)!.score).toBe(4);
  });

  it('lists installed model bundles and the test fixture', async () => {
    const list = await call('models.list', {});
    expect(list.at(-1)).toMatchObject({ name: 'fixture', fixture: true, ok: true });
    expect(list.filter((m: any) => !m.fixture).every((m: any) => typeof m.dir === 'string')).toBe(true);
  });

  it('reports the execution provider inference will use', async () => {
    const s = await call('runtime.status', {});
    expect(s.requested).toContain('cpu');
    expect(s.active).toBe('cpu');
    if (s.requested.includes('cuda')) expect(s.fallbacks[0]).toMatchObject({ provider: 'cuda', reason: expect.any(String) });
  });
});
