// A full disk: writes that run out of space fail cleanly and replace nothing. The disk is a 1 MiB tmpfs, which
// needs root (mount); where mounting is not permitted the tests are skipped with the reason.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { area, bbox, encode, toCompressedString } from '../../src/core/masks';
import { ProjectStore } from '../../src/core/project';
import { tempDir } from '../helpers/folder';
import { rng } from '../helpers/random';
import { seedImages } from '../project/helpers';

const root = join(import.meta.dirname, '..', '..');
let dir: ReturnType<typeof tempDir>;
let disk: string;
/** Why the small disk could not be mounted; null when it is mounted. */
let noDisk: string | null = null;

beforeAll(() => {
  dir = tempDir();
  disk = join(dir.path, 'disk');
  mkdirSync(disk);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', disk], { encoding: 'utf8' });
  if (r.status !== 0) noDisk = `cannot mount a 1 MiB tmpfs here: ${(r.stderr || r.error?.message || `mount exited ${r.status}`).trim()}`;
});
afterAll(() => {
  if (!noDisk) spawnSync('umount', [disk]);
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

describe('export', () => {
  it('an export larger than the disk fails, keeps the previous export and leaves no temporary file', async (ctx) => {
    ctx.skip(noDisk !== null, noDisk ?? '');
    const small = join(dir.path, 'small');
    const large = join(dir.path, 'large');
    project(small, 10);
    project(large, 300);
    const out = join(disk, 'coco.json');

    const backend = new Backend({ shell: 'electron' });
    try {
      backend.openProject(small);
      await backend.dispatch('coco.export', { out });
      const previous = readFileSync(out);
      expect(JSON.parse(previous.toString('utf8')).annotations).toHaveLength(10);

      backend.openProject(large);
      await expect(backend.dispatch('coco.export', { out })).rejects.toMatchObject({
        code: 'internal',
        message: expect.stringMatching(new RegExp(`^cannot write ${out}: .*no space left on device`)),
      });
      expect(readFileSync(out).equals(previous)).toBe(true);
      expect(readdirSync(disk)).toEqual(['coco.json']);

      // The command line says the same in one line, without a stack trace, and exits 1.
      const r = spawnSync(join(root, 'node_modules', '.bin', 'node'), [join(root, 'bin', 'difflabel.mjs'), 'export', large, '--out', out], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr.trim()).toMatch(new RegExp(`^error: cannot write ${out}: .*no space left on device[^\\n]*$`));
      expect(readFileSync(out).equals(previous)).toBe(true);
      expect(readdirSync(disk)).toEqual(['coco.json']);
    } finally {
      await backend.close();
    }
  });
});
