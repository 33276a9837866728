// "No overlap": annotations.add / annotations.update with `exclusive` take the mask's pixels away from the image's
// other masks in the same undo step; a mask left with no pixel is deleted. Checked on the decoded masks and the history.
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
let otherId: number;
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
/** A rectangle [x0, x1) × [y0, y1). */
const rect = (x0: number, y0: number, x1: number, y1: number) => toCocoRle(encode(rectMask(H, W, x0, y0, x1, y1), H, W), true);
const masks = async (id = imageId) =>
  new Map<number, ReturnType<typeof fromCompressedString>>(
    (await call('annotations.list', { imageId: id })).map((a: { id: number; mask: { counts: string } }) => [a.id, fromCompressedString(a.mask.counts, H, W)]),
  );

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

describe('exclusive edits', () => {
  it('add: the new mask keeps its pixels, the others lose them (one swallowed whole is deleted), all in one undo step', async () => {
    const a = await call('annotations.add', { imageId, categoryId: null, mask: rect(0, 0, 20, 20) });
    const inside = await call('annotations.add', { imageId, categoryId: null, mask: rect(12, 12, 16, 16) });
    const apart = await call('annotations.add', { imageId, categoryId: null, mask: rect(30, 0, 40, 10) });
    const elsewhere = await call('annotations.add', { imageId: otherId, categoryId: null, mask: rect(0, 0, 40, 30) });
    const before = await masks();

    const b = await call('annotations.add', { imageId, categoryId: null, mask: rect(10, 10, 30, 30), exclusive: true, label: 'add' });
    expect(b.area).toBe(400);
    const after = await masks();
    expect([...after.keys()]).toEqual([a.id, apart.id, b.id]);
    expect(area(after.get(a.id)!)).toBe(400 - 100);
    expect(area(intersect(after.get(a.id)!, after.get(b.id)!))).toBe(0);
    expect(after.get(apart.id)!.counts).toEqual(before.get(apart.id)!.counts);
    expect((await call('annotations.list', { imageId })).find((x: { id: number }) => x.id === a.id).area).toBe(300);
    // Another image's masks are not touched.
    expect((await call('annotations.list', { imageId: otherId }))[0]).toMatchObject({ id: elsewhere.id, area: 1200 });

    const r = await call('history.undo', { imageId });
    expect(r.history).toMatchObject({ canRedo: true, redoLabel: 'add', undoLabel: 'add' });
    const undone = await masks();
    expect([...undone.keys()]).toEqual([a.id, inside.id, apart.id]);
    for (const [id, m] of before) expect(undone.get(id)!.counts).toEqual(m.counts);

    await call('history.redo', { imageId });
    expect([...(await masks()).keys()]).toEqual([a.id, apart.id, b.id]);
  });

  it('update: the edited mask takes its new pixels from the others in one step; without exclusive they overlap', async () => {
    const a = await call('annotations.add', { imageId, categoryId: null, mask: rect(0, 0, 10, 10) });
    const b = await call('annotations.add', { imageId, categoryId: null, mask: rect(20, 0, 30, 10) });
    await call('annotations.update', { id: b.id, mask: rect(5, 0, 30, 10), label: 'brush' });
    expect(area(intersect((await masks()).get(a.id)!, (await masks()).get(b.id)!))).toBe(50);
    await call('history.undo', { imageId });

    const updated = await call('annotations.update', { id: b.id, mask: rect(5, 0, 30, 10), exclusive: true, label: 'brush' });
    expect(updated.area).toBe(250);
    const after = await masks();
    expect(area(after.get(a.id)!)).toBe(50);
    expect(area(intersect(after.get(a.id)!, after.get(b.id)!))).toBe(0);

    await call('history.undo', { imageId });
    const undone = await masks();
    expect(area(undone.get(a.id)!)).toBe(100);
    expect(area(undone.get(b.id)!)).toBe(100);
  });

  it('refuses exclusive on an update that changes no mask', async () => {
    const a = await call('annotations.add', { imageId, categoryId: null, mask: rect(0, 0, 10, 10) });
    await expect(call('annotations.update', { id: a.id, categoryId: null, exclusive: true })).rejects.toMatchObject({ code: 'bad_request' });
  });
});
