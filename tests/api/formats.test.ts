// formats.export and formats.import through the contract: both formats each way, web mode kept inside the
// project folder, and a refused dataset answered as a bad request that changes nothing.
import { mkdirSync, readFileSync, readdirSync, symlinkSync } from 'node:fs';
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
  const cat = await call('categories.add', { name: 'box' });
  const image = (await call('images.list', {})).items[0];
  await call('annotations.add', { imageId: image.id, categoryId: cat.id, mask: toCocoRle(encode(rectMask(H, W, 2, 3, 12, 9), H, W), true) });
});
afterEach(async () => {
  await backend.close();
  dir.cleanup();
});

describe('formats.export and formats.import', () => {
  it('write YOLO and VOC datasets in the project folder and read them back (nothing new: already there, but the detection boxes)', async () => {
    for (const format of ['yolo-seg', 'voc', 'yolo-det'] as const) {
      const out = join(folder, 'export', format);
      mkdirSync(join(folder, 'export'), { recursive: true });
      const { report, path } = await call('formats.export', { format, out });
      expect(path).toBe(out);
      expect(report).toMatchObject({ images: 2, annotations: 1, skipped: [], leftOut: [] });
      const back = await call('formats.import', { folder: out });
      // A detection line is a box: the mask's box comes back as a box beside it.
      const isBox = format === 'yolo-det';
      expect(back).toMatchObject({ annotations: isBox ? 1 : 0, labelFiles: 2 });
      expect(back.skipped.map((s: { reason: string }) => s.reason)).toEqual(isBox ? [] : ['already in the project']);
    }
    expect(readFileSync(join(folder, 'export/yolo-det/labels/a/img000.txt'), 'utf8')).toBe('0 0.175 0.2 0.25 0.2\n');
    expect(readdirSync(join(folder, 'export/voc')).sort()).toEqual(['.difflabel-export', 'Annotations', 'ImageSets', 'SegmentationClass', 'SegmentationObject', 'labelmap.txt']);
    // The exports inside the project (VOC's PNGs among them) are not its images.
    expect((await call('images.list', {})).total).toBe(2);
    expect((await call('project.stats', {})).annotations).toBe(2);
  });

  it('keeps web mode inside the project folder and answers a bad dataset as a bad request', async () => {
    symlinkSync(join(dir.path, 'outside'), join(folder, 'out-link'));
    const refused = { code: 'bad_request', message: expect.stringMatching(/^web mode reads and writes files only inside the project folder/) };
    for (const out of [join(dir.path, 'outside', 'ds'), join(folder, 'out-link', 'ds')]) {
      await expect(call('formats.export', { format: 'yolo-seg', out })).rejects.toMatchObject(refused);
      await expect(call('formats.import', { folder: out })).rejects.toMatchObject(refused);
    }
    expect(readdirSync(join(dir.path, 'outside'))).toEqual([]);
    mkdirSync(join(folder, 'empty'));
    await expect(call('formats.import', { folder: join(folder, 'empty'), format: 'yolo' })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^no data.yaml in/) });
    await expect(call('formats.import', { folder: join(folder, 'empty') })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^no labelme .json files in/) });
    await expect(call('formats.import', { folder: join(folder, 'empty'), format: 'voc' })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^no SegmentationObject folder/) });
    await expect(call('formats.export', { format: 'csv', out: join(folder, 'x') })).rejects.toMatchObject({ code: 'bad_request' });
  });
});
