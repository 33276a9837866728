// Imports from the app match files to images, so the folder is indexed first: an image added since the last index
// gets its masks. A refused import changes no mask and no category.
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { encode, toCocoRle } from '../../src/shared/masks';
import { makeImageFolder, tempDir, writeImage } from '../helpers/folder';
import { rectMask } from '../helpers/masks';

const H = 30;
const W = 40;
let dir: ReturnType<typeof tempDir>;
let folder: string;
let backend: Backend;
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
const rect = toCocoRle(encode(rectMask(H, W, 2, 3, 12, 9), H, W), true);

beforeEach(async () => {
  dir = tempDir();
  folder = join(dir.path, 'photos');
  await makeImageFolder(folder, 1, () => [W, H]);
  backend = new Backend({ shell: 'web' });
  backend.openProject(folder);
  await backend.jobs.wait((await call('project.index', {})).jobId);
});
afterEach(async () => {
  await backend.close();
  dir.cleanup();
});

/** Masks per image path and category name. */
async function masks(): Promise<string[]> {
  const names = new Map((await call('categories.list', {})).map((c: { id: number; name: string }) => [c.id, c.name]));
  const out: string[] = [];
  for (const img of (await call('images.list', {})).items)
    for (const a of await call('annotations.list', { imageId: img.id })) out.push(`${img.path} ${names.get(a.categoryId)} ${a.area}`);
  return out.sort();
}

describe('imports index the folder first', () => {
  it('formats.import gives masks to an image added since the last index', async () => {
    const cat = await call('categories.add', { name: 'box' });
    const img = (await call('images.list', {})).items[0];
    await call('annotations.add', { imageId: img.id, categoryId: cat.id, mask: rect });
    const out = join(folder, 'export', 'masks');
    mkdirSync(join(folder, 'export'));
    await call('formats.export', { format: 'masks', out });
    // The same image under a new name, not indexed yet, with a copy of its mask PNG.
    copyFileSync(join(folder, 'a/img000.png'), join(folder, 'a/new.png'));
    mkdirSync(join(out, 'masks/a/new'));
    copyFileSync(join(out, 'masks/a/img000/1_box.png'), join(out, 'masks/a/new/1_box.png'));
    writeFileSync(join(out, 'masks.json'), '{"format": "x"}'); // not a mask export's index: refused whole
    await expect(call('formats.import', { folder: out })).rejects.toMatchObject({ code: 'bad_request' });
    expect(await masks()).toEqual(['a/img000.png box 60']);

    rmSync(join(out, 'masks.json'));
    const report = await call('formats.import', { folder: out });
    expect(report).toMatchObject({ annotations: 1, images: 1, skipped: [{ file: 'masks/a/img000/1_box.png', reason: 'already in the project' }] });
    expect(await masks()).toEqual(['a/img000.png box 60', 'a/new.png box 60']);
  });

  it('coco.import from a file gives masks to an image added since the last index', async () => {
    await writeImage(join(folder, 'later.png'), W, H);
    const coco = {
      images: [{ id: 1, file_name: 'later.png', width: W, height: H }],
      categories: [{ id: 1, name: 'box' }],
      annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [2, 3, 10, 6], area: 60, iscrowd: 0, segmentation: [[2, 3, 12, 3, 12, 9, 2, 9]] }],
    };
    writeFileSync(join(folder, 'coco.json'), JSON.stringify(coco));
    const report = await call('coco.import', { file: join(folder, 'coco.json') });
    expect(report).toMatchObject({ images: 1, annotations: 1, skipped: [] });
    expect(await masks()).toEqual(['later.png box 60']);
  });
});
