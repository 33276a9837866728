// A full disk: writes that run out of space fail cleanly, replace nothing and lose nothing acknowledged. The disk is a
// 1 MiB tmpfs, which needs root (mount); where mounting is not permitted the tests are skipped with the reason.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { area, bbox, encode, toCompressedString } from '../../src/shared/masks';
import { ProjectOpenError, ProjectStore, StoreError } from '../../src/core/project';
import { tempDir } from '../helpers/folder';
import { tmpfsProbe, type Tmpfs } from '../helpers/tmpfs';
import { rng } from '../helpers/random';
import { seedImages } from '../project/helpers';
import { mask, refusal } from './helpers';

const root = join(import.meta.dirname, '..', '..');
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

/** A project whose export is about `masks` × 7 KB: noise masks on 100×100 images (images seeded, no files). */
function project(folder: string, masks: number): void {
  mkdirSync(folder);
  const store = ProjectStore.open(folder);
  try {
    const ids = seedImages(store, Array.from({ length: masks }, () => [100, 100] as [number, number]));
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

describe.skipIf(!disk.available)('export', () => {
  it('an export larger than the disk fails, keeps the previous export and leaves no temporary file', async () => {
    const small = join(dir.path, 'small');
    const large = join(dir.path, 'large');
    project(small, 10);
    project(large, 300);
    const out = join(fs.dir, 'coco.json');

    const backend = new Backend({ shell: 'electron' });
    try {
      backend.openProject(small);
      await backend.dispatch('coco.export', { out });
      const previous = readFileSync(out);
      expect(JSON.parse(previous.toString('utf8')).annotations).toHaveLength(10);

      backend.openProject(large);
      await expect(backend.dispatch('coco.export', { out })).rejects.toMatchObject({
        code: 'unavailable',
        message: expect.stringMatching(new RegExp(`^cannot write ${out}: .*no space left on device`)),
      });
      expect(readFileSync(out).equals(previous)).toBe(true);
      expect(readdirSync(fs.dir)).toEqual(['coco.json']);

      // The command line says the same in one line, without a stack trace, and exits 1.
      const r = spawnSync(join(root, 'node_modules', '.bin', 'node'), [join(root, 'bin', 'difflabel.mjs'), 'export', large, '--out', out], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr.trim()).toMatch(new RegExp(`^error: cannot write ${out}: .*no space left on device[^\\n]*$`));
      expect(readFileSync(out).equals(previous)).toBe(true);
      expect(readdirSync(fs.dir)).toEqual(['coco.json']);
    } finally {
      await backend.close();
    }
  });
});

describe.skipIf(!disk.available)('project database', () => {
  it('refuses the edit that does not fit with "disk full", keeps every acknowledged one, and works again once space is freed', () => {
    const folder = join(fs.dir, 'photos');
    mkdirSync(folder);
    const store = ProjectStore.open(folder);
    const [imageId] = seedImages(store, [[64, 48]]);
    const acked: number[] = [];
    for (let i = 0; i < 20; i++) acked.push(store.addAnnotation(mask(imageId!, i)).id);
    const filler = fs.fill();

    let e: ProjectOpenError | StoreError | null = null;
    for (let i = 20; i < 100_000 && !e; i++) {
      try {
        acked.push(store.addAnnotation(mask(imageId!, i)).id);
      } catch (err) {
        e = err as StoreError;
      }
    }
    expect(e).toBeInstanceOf(StoreError);
    expect(e!.code).toBe('disk-full');
    expect(e!.message).toMatch(/disk .* is full: the change was not saved/);
    store.close();

    // A new project cannot be made here, and says why.
    const other = refusal(() => ProjectStore.open(fs.dir));
    expect(other.code).toBe('disk-full');
    expect(other.message).not.toMatch(/corrupt|backup|move it away/);

    rmSync(filler);
    const again = ProjectStore.open(folder);
    expect(again.listAnnotations().map((a) => a.id)).toEqual(acked);
    expect(again.integrityCheck()).toEqual(['ok']);
    again.addAnnotation(mask(imageId!, 0));
    again.close();
  });
});
