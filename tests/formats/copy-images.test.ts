// Exports that carry their images: with copyImages the exported images are copied byte for byte to where each
// format's readers look (YOLO and mask PNGs: images/, VOC: JPEGImages/), YOLO's data.yaml names the copies, a copy
// replaces only a previous copy, and labelme (which names images by a relative path) refuses the option.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/core/cli/main';
import { exportDataset } from '../../src/core/formats/dataset';
import { FileRefusedError } from '../../src/core/formats/files';
import { ProjectStore, indexFolder } from '../../src/core/project';
import { area, bbox, encode, toCompressedString } from '../../src/shared/masks';
import { tempDir, writeImage } from '../helpers/folder';
import { rectMask } from '../helpers/masks';

const W = 32, H = 24;
let dir: ReturnType<typeof tempDir>;
let store: ProjectStore;

beforeEach(async () => {
  dir = tempDir();
  const root = join(dir.path, 'p');
  await writeImage(join(root, 'one.png'), W, H);
  await writeImage(join(root, 'sub/two.jpg'), W, H, 'jpeg');
  store = ProjectStore.open(root);
  await indexFolder(store);
  const cat = store.addCategory({ name: 'box' });
  const rle = encode(rectMask(H, W, 2, 2, 10, 10), H, W);
  store.addAnnotation({ imageId: store.getImageByPath('one.png')!.id, categoryId: cat.id, rle: toCompressedString(rle), height: H, width: W, area: area(rle), bbox: bbox(rle), source: 'manual' });
});
afterEach(() => {
  store.close();
  dir.cleanup();
});

const same = (copy: string, original: string) => expect(readFileSync(copy).equals(readFileSync(join(dir.path, 'p', original)))).toBe(true);

describe('copyImages', () => {
  it('copies every exported image to images/ (YOLO, mask PNGs) or JPEGImages/ (VOC), and data.yaml names the copies', async () => {
    for (const [format, folder] of [['yolo-seg', 'images'], ['yolo-det', 'images'], ['masks', 'images'], ['voc', 'JPEGImages']] as const) {
      const out = join(dir.path, format);
      const report = await exportDataset(store, format, out, undefined, { copyImages: true });
      expect(report.annotations).toBe(1);
      same(join(out, folder, 'one.png'), 'one.png');
      same(join(out, folder, 'sub/two.jpg'), 'sub/two.jpg');
    }
    expect(readFileSync(join(dir.path, 'yolo-seg/data.yaml'), 'utf8')).toContain('\ntrain: "images"\nval: "images"\n');
    // Without the option nothing is copied and data.yaml names the project folder, as before.
    await exportDataset(store, 'yolo-seg', join(dir.path, 'plain'));
    expect(existsSync(join(dir.path, 'plain/images'))).toBe(false);
    expect(readFileSync(join(dir.path, 'plain/data.yaml'), 'utf8')).toContain(`train: ${JSON.stringify(store.folder)}`);
  });

  it('replaces its own copies, refuses to overwrite another file, and is refused for labelme', async () => {
    const out = join(dir.path, 'ds');
    await exportDataset(store, 'masks', out, undefined, { copyImages: true });
    await expect(exportDataset(store, 'masks', out, undefined, { copyImages: true })).resolves.toMatchObject({ annotations: 1 });
    writeFileSync(join(out, 'images/one.png'), 'notes, not the image');
    await expect(exportDataset(store, 'masks', out, undefined, { copyImages: true })).rejects.toThrow(/images\/one\.png exists and is not a copy of one\.png/);
    expect(readFileSync(join(out, 'images/one.png'), 'utf8')).toBe('notes, not the image');
    await expect(exportDataset(store, 'labelme', join(dir.path, 'lm'), undefined, { copyImages: true })).rejects.toThrow(FileRefusedError);
    expect(existsSync(join(dir.path, 'lm'))).toBe(false);
  });

  it('the CLI copies with --copy-images and refuses it for COCO', async () => {
    store.close();
    let text = '';
    const sink = new Writable({ write: (c, _e, done) => ((text += String(c)), done()) });
    const io = { out: sink, err: sink } as unknown as Parameters<typeof main>[1];
    const out = join(dir.path, 'voc');
    expect(await main(['export', join(dir.path, 'p'), '--format', 'voc', '--out', out, '--copy-images'], io)).toBe(0);
    same(join(out, 'JPEGImages/sub/two.jpg'), 'sub/two.jpg');
    expect(await main(['export', join(dir.path, 'p'), '--out', join(dir.path, 'c.json'), '--copy-images'], io)).toBe(2);
    expect(text).toContain('--copy-images is for --format yolo-seg, yolo-det, voc and masks');
    store = ProjectStore.open(join(dir.path, 'p'));
  });
});
