// coco.export and coco.import through the contract: where web mode may read and write, what errors say, and
// reports that always cross the API.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { encode, toCocoRle } from '../../src/shared/masks';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';

const H = 30;
const W = 40;
let dir: ReturnType<typeof tempDir>;
let folder: string;
let outside: string;
let backend: Backend;
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;

async function open(shell: 'web' | 'electron'): Promise<void> {
  backend = new Backend({ shell });
  backend.openProject(folder);
  await backend.jobs.wait((await call('project.index', {})).jobId);
}

beforeEach(async () => {
  dir = tempDir();
  folder = join(dir.path, 'photos');
  outside = join(dir.path, 'outside');
  mkdirSync(outside);
  await makeImageFolder(folder, 2, () => [W, H]);
});
afterEach(async () => {
  await backend.close();
  dir.cleanup();
});

const cocoDoc = (segmentation: unknown = [[2, 2, 12, 2, 12, 9, 2, 9]]) =>
  JSON.stringify({
    images: [{ id: 1, file_name: 'a/img000.png', width: W, height: H }],
    categories: [{ id: 1, name: 'box' }],
    annotations: [{ id: 1, image_id: 1, category_id: 1, segmentation }],
  });

describe('web mode keeps coco.export and coco.import inside the project folder', () => {
  it('refuses paths outside it, also through links and "..", and answers the same whether they exist or not', async () => {
    await open('web');
    const secret = join(outside, 'secret.json');
    writeFileSync(secret, cocoDoc());
    symlinkSync(outside, join(folder, 'out-link'));
    symlinkSync(secret, join(folder, 'secret-link.json'));
    const refused = { code: 'bad_request', message: expect.stringMatching(/^web mode reads and writes files only inside the project folder/) };
    for (const out of [join(outside, 'coco.json'), join(outside, 'nope', 'coco.json'), join(folder, 'out-link', 'coco.json'), join(folder, '..', 'outside', 'coco.json'), '/etc/passwd'])
      await expect(call('coco.export', { out }), out).rejects.toMatchObject(refused);
    expect(() => readFileSync(join(outside, 'coco.json'))).toThrow(/ENOENT/);
    for (const file of [secret, join(outside, 'nope.json'), join(folder, 'secret-link.json'), '/etc/passwd'])
      await expect(call('coco.import', { file }), file).rejects.toMatchObject(refused);
    expect((await call('project.stats', {})).annotations).toBe(0);
  });

  it('reads and writes inside it', async () => {
    await open('web');
    mkdirSync(join(folder, 'exports'));
    writeFileSync(join(folder, 'exports', 'in.json'), cocoDoc());
    expect(await call('coco.import', { file: join(folder, 'exports', 'in.json') })).toMatchObject({ annotations: 1, skipped: [] });
    const out = join(folder, 'exports', 'out.json');
    expect((await call('coco.export', { out })).report.annotations).toBe(1);
    expect(JSON.parse(readFileSync(out, 'utf8')).annotations).toHaveLength(1);
  });

  it('the desktop app reads and writes where its native dialogs point', async () => {
    await open('electron');
    writeFileSync(join(outside, 'in.json'), cocoDoc());
    expect(await call('coco.import', { file: join(outside, 'in.json') })).toMatchObject({ annotations: 1 });
    expect((await call('coco.export', { out: join(outside, 'out.json') })).report.annotations).toBe(1);
  });
});

describe('coco.import errors and reports', () => {
  it('says where a file stops being JSON, never what it contains', async () => {
    await open('electron');
    const file = join(outside, 'passwd');
    writeFileSync(file, 'root:x:0:0:root:/root:/bin/bash\nsecret-token-4242\n');
    await expect(call('coco.import', { file })).rejects.toMatchObject({ code: 'bad_request', message: `${file} is not valid JSON (at byte 0)` });
    writeFileSync(file, '{"images": [], "annotations": [], "categories": [], "note": "secret-token-4242" oops}');
    await expect(call('coco.import', { file })).rejects.toMatchObject({ code: 'bad_request', message: `${file} is not valid JSON (at byte 80)` });
  });

  it('a file that is JSON but not COCO is a bad request, not an internal error', async () => {
    await open('electron');
    const file = join(outside, 'package.json');
    writeFileSync(file, '{"name": "x"}');
    await expect(call('coco.import', { file })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/missing "images", "annotations", "categories"/) });
    await expect(call('coco.import', { document: [] })).rejects.toMatchObject({ code: 'bad_request' });
  });

  it('an id nested 100,000 deep is reported as a short description, and the answer serialises', async () => {
    await open('electron');
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const document = JSON.parse(cocoDoc());
    document.annotations.push({ id: deep, image_id: 1, category_id: 1, segmentation: [[20, 20, 30, 20, 30, 28]] });
    const report = await call('coco.import', { document });
    // What web mode and Electron IPC do with every answer.
    expect(JSON.parse(JSON.stringify(report))).toEqual({
      images: 1, annotations: 1, categoriesCreated: 1,
      skipped: [{ what: 'annotation', id: '#1 (id is an array)', reason: expect.stringMatching(/^id: /) }],
    });
    expect(structuredClone(report)).toEqual(report);
  });
});

describe('coco.export reports what it leaves out', () => {
  it('masks on an image that can no longer be read are listed with the path, the reason and how to include them', async () => {
    await open('electron');
    const cat = await call('categories.add', { name: 'box' });
    const img = (await call('images.list', {})).items[0];
    for (const x of [0, 20])
      await call('annotations.add', { imageId: img.id, categoryId: cat.id, mask: toCocoRle(encode(rectMask(H, W, x, 0, x + 5, 5), H, W), false) });
    writeFileSync(join(folder, img.path), 'no longer an image');
    await backend.jobs.wait((await call('project.index', {})).jobId);
    const { report, document } = await call('coco.export', {});
    expect(document.annotations).toEqual([]);
    expect(document.images.map((i: { file_name: string }) => i.file_name)).toEqual(['b/img001.png']);
    expect(report.leftOut).toEqual([{ path: img.path, masks: 2, reason: expect.stringMatching(/could not be read.*index the folder again/) }]);
  });
});
