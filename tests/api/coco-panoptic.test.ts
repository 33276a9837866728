// coco.export {kind: 'panoptic'} and coco.import of a panoptic file through the contract, in web mode.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { encode, toCocoRle } from '../../src/shared/masks';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';
import { readPanoptic } from '../helpers/panoptic-reader';

const H = 30;
const W = 40;
let dir: ReturnType<typeof tempDir>;
let folder: string;
let backend: Backend;
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;

beforeEach(async () => {
  dir = tempDir();
  folder = join(dir.path, 'photos');
  mkdirSync(join(dir.path, 'outside'));
  await makeImageFolder(folder, 2, () => [W, H]);
  backend = new Backend({ shell: 'web' });
  backend.openProject(folder);
  await backend.jobs.wait((await call('project.index', {})).jobId);
});
afterEach(async () => {
  await backend.close();
  dir.cleanup();
});

describe('coco.export kind panoptic', () => {
  it('writes the JSON and the PNG folder at out (dot-named: indexing again does not take the PNGs for images) and imports back', async () => {
    const sky = await call('categories.add', { name: 'sky', isthing: false });
    const img = (await call('images.list', {})).items[0];
    for (const x of [0, 10]) await call('annotations.add', { imageId: img.id, categoryId: sky.id, mask: toCocoRle(encode(rectMask(H, W, x, 0, x + 15, 5), H, W), false) });
    const out = join(folder, '.panoptic.json');

    const r = await call('coco.export', { kind: 'panoptic', out });

    expect(r.path).toBe(out);
    expect(r.report).toMatchObject({ images: 2, annotations: 2, segments: 1, stuffMerged: [{ path: img.path, category: 'sky', masks: 2 }], changedHands: { pixels: 0 } });
    expect((await readPanoptic(out, join(folder, '.panoptic'))).problems).toEqual([]);
    await backend.jobs.wait((await call('project.index', {})).jobId);
    expect((await call('project.stats', {})).images).toBe(2);

    const ids = (await call('annotations.list', { imageId: img.id })).map((a: { id: number }) => a.id);
    await call('annotations.deleteMany', { imageId: img.id, ids });
    const report = await call('coco.import', { file: out });
    expect(report).toEqual({ images: 1, annotations: 1, categoriesCreated: 0, skipped: [] });
    const [merged] = await call('annotations.list', { imageId: img.id });
    expect(merged).toMatchObject({ categoryId: sky.id, area: 25 * 5, bbox: [0, 0, 25, 5], source: 'import' });
  });

  it('needs out, and in web mode only inside the project folder', async () => {
    await expect(call('coco.export', { kind: 'panoptic' })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^a panoptic export is a JSON and a folder of PNGs: give out/) });
    const outside = join(dir.path, 'outside', 'p.json');
    await expect(call('coco.export', { kind: 'panoptic', out: outside })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^web mode reads and writes files only inside the project folder/) });
    expect(existsSync(outside)).toBe(false);
    expect(existsSync(join(dir.path, 'outside', 'p'))).toBe(false);
    await expect(call('coco.export', { kind: 'semantic', out: join(folder, 'x.json') })).rejects.toMatchObject({ code: 'bad_request' });
  });
});
