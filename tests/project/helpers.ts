// Shared helpers for the project tests: temp folders and a project with images in it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProjectStore, type IndexedImage } from '../../src/core/project';

export function tempFolder(prefix = 'difflabel-test-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Registers fake indexed images (no files) so annotation tests need no decoding. */
export function seedImages(store: ProjectStore, sizes: Array<[w: number, h: number]>): number[] {
  const items: IndexedImage[] = sizes.map(([width, height], i) => ({
    path: `img_${String(i).padStart(3, '0')}.png`, width, height, bytes: 1000 + i, mtimeMs: 1_700_000_000_000 + i,
    sha1: 'a'.repeat(40), format: 'png', error: null,
  }));
  return store.saveIndexedImages(items).map((r) => r.id);
}
