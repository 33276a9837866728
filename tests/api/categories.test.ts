// Deleting a category through the contract: what the confirmation counts beforehand, and that the deletion is
// reported and announced whether or not masks used the category.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { encode, toCompressedString } from '../../src/shared/masks';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';

let dir: ReturnType<typeof tempDir>;
let backend: Backend;
let ids: number[];
const events: string[] = [];
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
const mask = (x: number) => ({ size: [10, 20], counts: toCompressedString(encode(rectMask(10, 20, x, 0, x + 3, 3), 10, 20)) });

beforeAll(async () => {
  dir = tempDir();
  await makeImageFolder(dir.path, 3, () => [20, 10]);
  backend = new Backend({ shell: 'web' });
  backend.openProject(dir.path);
  await backend.jobs.wait((await call('project.index', {})).jobId);
  ids = (await call('images.list', {})).items.map((i: { id: number }) => i.id);
  backend.onEvent((e, p) => e === 'project.changed' && events.push((p as { what: string }).what));
});
afterAll(async () => {
  await backend.close();
  dir.cleanup();
});

describe('categories.counts and categories.delete', () => {
  it('counts each category\'s masks and the images they are on; a category without masks counts zero', async () => {
    const cat = await call('categories.add', { name: 'cat' });
    const dog = await call('categories.add', { name: 'dog' });
    const empty = await call('categories.add', { name: 'empty' });
    for (const x of [0, 5]) await call('annotations.add', { imageId: ids[0], categoryId: cat.id, mask: mask(x) });
    await call('annotations.add', { imageId: ids[1], categoryId: cat.id, mask: mask(0) });
    await call('annotations.add', { imageId: ids[1], categoryId: dog.id, mask: mask(5) });
    await call('annotations.add', { imageId: ids[2], categoryId: null, mask: mask(0) });
    expect(await call('categories.counts', {})).toEqual([
      { id: cat.id, annotations: 3, images: 2 },
      { id: dog.id, annotations: 1, images: 1 },
      { id: empty.id, annotations: 0, images: 0 },
    ]);
  });

  it('deleting a category leaves its masks unassigned and announces it', async () => {
    const [cat] = await call('categories.list', {});
    events.length = 0;
    expect(await call('categories.delete', { id: cat.id })).toEqual({ deleted: true });
    expect(events).toEqual(['categories']);
    const left = [...(await call('annotations.list', { imageId: ids[0] })), ...(await call('annotations.list', { imageId: ids[1] }))];
    const dog = (await call('categories.list', {})).find((c: { name: string }) => c.name === 'dog');
    expect(left.map((a: { categoryId: number | null }) => a.categoryId)).toEqual([null, null, null, dog.id]);
  });

  it('deleting a category no mask uses deletes it too, and announces it', async () => {
    const empty = (await call('categories.list', {})).find((c: { name: string }) => c.name === 'empty');
    events.length = 0;
    expect(await call('categories.delete', { id: empty.id })).toEqual({ deleted: true });
    expect(events).toEqual(['categories']);
    expect((await call('categories.list', {})).map((c: { name: string }) => c.name)).toEqual(['dog']);
  });

  it('an unknown category is not found (and nothing is announced)', async () => {
    events.length = 0;
    await expect(call('categories.delete', { id: 999 })).rejects.toMatchObject({ code: 'not_found', message: expect.stringMatching(/category 999 does not exist/) });
    expect(events).toEqual([]);
  });
});
