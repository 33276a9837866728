// "No overlap" for merging and splitting: with `exclusive`, the merged mask (or the split parts) take their pixels
// from the image's other masks in the same undo step, masks named `locked` keep theirs (the result leaves them
// out), and without the flag overlaps stay as they were. Checked on the decoded masks and the history.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { area, encode, fromCompressedString, intersect, toCocoRle } from '../../src/shared/masks';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';

const H = 30;
const W = 40;
let dir: ReturnType<typeof tempDir>;
let backend: Backend;
let imageId: number;
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
/** A rectangle [x0, x1) × [y0, y1). */
const rect = (x0: number, y0: number, x1: number, y1: number) => toCocoRle(encode(rectMask(H, W, x0, y0, x1, y1), H, W), true);
const add = (mask: ReturnType<typeof rect>) => call('annotations.add', { imageId, categoryId: null, mask });
const masks = async () =>
  new Map<number, ReturnType<typeof fromCompressedString>>(
    (await call('annotations.list', { imageId })).map((a: { id: number; mask: { counts: string } }) => [a.id, fromCompressedString(a.mask.counts, H, W)]),
  );
/** Pixels covered by more than one mask. */
const shared = (all: Map<number, ReturnType<typeof fromCompressedString>>) => {
  const list = [...all.values()];
  let n = 0;
  for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) n += area(intersect(list[i]!, list[j]!));
  return n;
};

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

describe('exclusive merge and split', () => {
  it('merge: the merged mask takes its pixels from the others (one covered whole is deleted) in one undo step', async () => {
    const a = await add(rect(0, 0, 10, 10));
    const b = await add(rect(20, 0, 30, 10));
    const c = await add(rect(5, 0, 25, 5)); // lies across both
    const d = await add(rect(8, 2, 9, 3)); // inside a
    const before = await masks();

    const r = await call('annotations.merge', { ids: [a.id, b.id], exclusive: true });
    expect(r.history).toMatchObject({ canUndo: true, undoLabel: 'merge' });
    const after = await masks();
    expect([...after.keys()]).toEqual([a.id, c.id]);
    expect(area(after.get(a.id)!)).toBe(200);
    expect(area(after.get(c.id)!)).toBe(100 - 25 - 25);
    expect(shared(after)).toBe(0);

    await call('history.undo', { imageId });
    const undone = await masks();
    expect([...undone.keys()]).toEqual([a.id, b.id, c.id, d.id]);
    for (const [id, m] of before) expect(undone.get(id)!.counts).toEqual(m.counts);
  });

  it('merge without exclusive leaves the overlaps; merge leaves locked masks their pixels', async () => {
    const a = await add(rect(0, 0, 10, 10));
    const b = await add(rect(20, 0, 30, 10));
    const c = await add(rect(5, 0, 25, 5));
    await call('annotations.merge', { ids: [a.id, b.id] });
    expect(area((await masks()).get(c.id)!)).toBe(100);
    await call('history.undo', { imageId });

    await call('annotations.merge', { ids: [a.id, b.id], exclusive: true, locked: [c.id] });
    const after = await masks();
    expect(area(after.get(c.id)!)).toBe(100);
    expect(area(after.get(a.id)!)).toBe(200 - 50);
    expect(shared(after)).toBe(0);
  });

  it('split: the parts take their pixels from the others in one undo step', async () => {
    const pieces = await add(toCocoRle(encode(rectMask(H, W, 0, 0, 10, 10, rectMask(H, W, 20, 0, 30, 10)), H, W), true));
    const across = await add(rect(5, 0, 25, 5));
    const r = await call('annotations.split', { id: pieces.id, exclusive: true });
    expect(r.annotations).toHaveLength(3);
    const after = await masks();
    expect(area(after.get(across.id)!)).toBe(50);
    expect(shared(after)).toBe(0);
    await call('history.undo', { imageId });
    const undone = await masks();
    expect([...undone.keys()]).toEqual([pieces.id, across.id]);
    expect(area(undone.get(across.id)!)).toBe(100);
  });

  it('split without exclusive, or of a mask in one piece, leaves the others alone', async () => {
    const pieces = await add(toCocoRle(encode(rectMask(H, W, 0, 0, 10, 10, rectMask(H, W, 20, 0, 30, 10)), H, W), true));
    const across = await add(rect(5, 0, 25, 5));
    await call('annotations.split', { id: pieces.id });
    expect(area((await masks()).get(across.id)!)).toBe(100);
    const one = await add(rect(0, 20, 10, 30));
    const under = await add(rect(5, 25, 15, 30));
    const r = await call('annotations.split', { id: one.id, exclusive: true });
    expect(r.history.undoLabel).toBe('add');
    expect(area((await masks()).get(under.id)!)).toBe(50);
  });
});
