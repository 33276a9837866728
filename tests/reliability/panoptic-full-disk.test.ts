// A full disk under a COCO panoptic export: it fails with the reason, leaves the previous export (JSON and PNGs) as it
// was and no temporary file or folder. The disk is a 1 MiB tmpfs (root mounts it); elsewhere the test is skipped.
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { ProjectStore } from '../../src/core/project';
import { area, bbox, encode, toCompressedString } from '../../src/shared/masks';
import { tempDir } from '../helpers/folder';
import { rng } from '../helpers/random';
import { tmpfsProbe, type Tmpfs } from '../helpers/tmpfs';
import { seedImages } from '../project/helpers';

const disk = tmpfsProbe(1024 * 1024);
if (!disk.available) console.warn(`full-disk tests skipped: ${disk.reason}`);
let dir: ReturnType<typeof tempDir>;
let fs: Tmpfs;
beforeEach(() => {
  dir = tempDir();
  if (disk.available) fs = disk.mount();
});
afterEach(() => {
  if (disk.available) fs.unmount();
  dir.cleanup();
});

/** Images seeded without files, each with a noise mask: its PNG of ids hardly compresses. */
function project(folder: string, images: number): void {
  mkdirSync(folder);
  const store = ProjectStore.open(folder);
  try {
    const ids = seedImages(store, Array.from({ length: images }, () => [100, 100] as [number, number]));
    const cat = store.addCategory({ name: 'noise' });
    const random = rng(7);
    store.addAnnotations(
      ids.map((imageId) => {
        const rle = encode(Uint8Array.from({ length: 100 * 100 }, () => (random() < 0.5 ? 1 : 0)), 100, 100);
        return { imageId, categoryId: cat.id, rle: toCompressedString(rle), height: 100, width: 100, area: area(rle), bbox: bbox(rle), source: 'manual' };
      }),
    );
  } finally {
    store.close();
  }
}

describe.skipIf(!disk.available)('COCO panoptic export on a full disk', () => {
  it('fails with the reason, keeps the previous export whole and leaves nothing else', async () => {
    const small = join(dir.path, 'small');
    const large = join(dir.path, 'large');
    project(small, 5);
    project(large, 1000);
    const out = join(fs.dir, 'pan.json');
    const backend = new Backend({ shell: 'electron' });
    try {
      backend.openProject(small);
      await backend.dispatch('coco.export', { kind: 'panoptic', out });
      const previous = { json: readFileSync(out), pngs: readdirSync(join(fs.dir, 'pan')).sort() };
      expect(previous.pngs.filter((f) => f.endsWith('.png'))).toHaveLength(5);

      backend.openProject(large);
      await expect(backend.dispatch('coco.export', { kind: 'panoptic', out })).rejects.toMatchObject({
        code: 'unavailable',
        message: expect.stringMatching(new RegExp(`^cannot write ${out}: .*(no space left on device|ENOSPC).*\\(it is unchanged\\)$`, 'i')),
      });
      expect(readFileSync(out).equals(previous.json)).toBe(true);
      expect(readdirSync(join(fs.dir, 'pan')).sort()).toEqual(previous.pngs);
      expect(readdirSync(fs.dir).sort()).toEqual(['pan', 'pan.json']);
    } finally {
      await backend.close();
    }
  });
});
