// images.position through the contract: where the open image sits in the filtered list (next/previous use it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { makeImageFolder, tempDir } from '../helpers/folder';

let dir: ReturnType<typeof tempDir>;
let backend: Backend;
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;

beforeAll(async () => {
  dir = tempDir();
  await makeImageFolder(dir.path, 5, () => [20, 10]);
  backend = new Backend({ shell: 'web' });
  backend.openProject(dir.path);
  await backend.jobs.wait((await call('project.index', {})).jobId);
});
afterAll(async () => {
  await backend.close();
  dir.cleanup();
});

describe('images.position', () => {
  it('gives the index images.list shows the image at, with the same filter, and null when filtered out', async () => {
    const items: { id: number }[] = (await call('images.list', {})).items;
    for (const [i, img] of items.entries()) expect(await call('images.position', { id: img.id })).toEqual({ index: i, total: 5 });
    await call('images.setStatus', { id: items[3]!.id, status: 'done' });
    expect(await call('images.position', { id: items[3]!.id, status: 'done' })).toEqual({ index: 0, total: 1 });
    expect(await call('images.position', { id: items[4]!.id, status: 'unlabeled' })).toEqual({ index: 3, total: 4 });
    expect(await call('images.position', { id: items[3]!.id, status: 'unlabeled' })).toEqual({ index: null, total: 4 });
  });

  it('refuses an unknown image and a bad payload', async () => {
    await expect(call('images.position', { id: 9999 })).rejects.toThrow(/9999/);
    await expect(call('images.position', { id: 1, offset: 3 })).rejects.toThrow(/invalid payload/);
  });
});
