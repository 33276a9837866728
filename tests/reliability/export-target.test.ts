// Where `coco.export {out}` may write: never into the project's .difflabel folder (links followed), never over
// an image, never over a file that is not a previous export; a missing folder is a clear bad_request. Every
// refused target is left byte for byte as it was, and the project still opens.
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { encode, toCocoRle } from '../../src/shared/masks';
import { ProjectStore } from '../../src/core/project';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';

const H = 30;
const W = 40;
let dir: ReturnType<typeof tempDir>;
let folder: string;
let elsewhere: string;
let backend: Backend;
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;

beforeEach(async () => {
  dir = tempDir();
  folder = join(dir.path, 'photos');
  elsewhere = join(dir.path, 'elsewhere');
  mkdirSync(elsewhere);
  await makeImageFolder(folder, 2, () => [W, H]);
  backend = new Backend({ shell: 'electron' });
  backend.openProject(folder);
  await backend.jobs.wait((await call('project.index', {})).jobId);
  const cat = await call('categories.add', { name: 'box' });
  const imageId = (await call('images.list', {})).items[0].id;
  await call('annotations.add', { imageId, categoryId: cat.id, mask: toCocoRle(encode(rectMask(H, W, 2, 2, 12, 9), H, W), false) });
});
afterEach(async () => {
  await backend.close();
  dir.cleanup();
});

const dbPath = () => join(folder, '.difflabel', 'project.sqlite');

/** The export is refused as a bad request whose message matches `why`, and `path` (if it exists) keeps its bytes. */
async function refused(out: string, why: RegExp, path = out): Promise<void> {
  const existed = existsSync(path);
  const before = existed && statSync(path).isFile() ? readFileSync(path) : null;
  await expect(call('coco.export', { out })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(why) });
  if (before) expect(readFileSync(path).equals(before)).toBe(true);
  expect(existsSync(path)).toBe(existed);
}

/** The project is intact: its database still opens and holds the mask. */
async function projectIntact(): Promise<void> {
  expect(readFileSync(dbPath()).subarray(0, 16).toString('latin1')).toBe('SQLite format 3\0');
  await backend.close();
  const store = ProjectStore.open(folder);
  try {
    expect(store.listAnnotations({})).toHaveLength(1);
  } finally {
    store.close();
  }
}

describe('export targets', () => {
  it('refuses the project database, anything else in .difflabel, and links into it', async () => {
    await refused(dbPath(), /\.difflabel/);
    await refused(join(folder, '.difflabel', 'coco.json'), /\.difflabel/);
    symlinkSync(dbPath(), join(elsewhere, 'link.json'));
    await refused(join(elsewhere, 'link.json'), /\.difflabel/, dbPath());
    symlinkSync(join(folder, '.difflabel'), join(elsewhere, 'hidden'));
    await refused(join(elsewhere, 'hidden', 'coco.json'), /\.difflabel/);
    await refused(join(elsewhere, 'hidden', 'project.sqlite'), /\.difflabel/, dbPath());
    expect(readdirSync(join(folder, '.difflabel')).filter((n) => n.includes('coco') || n.endsWith('.tmp'))).toEqual([]);
    await projectIntact();
  });

  it('refuses images: indexed ones, and any file whose content is an image', async () => {
    await refused(join(folder, 'a', 'img000.png'), /image of the project/);
    const disguised = join(elsewhere, 'photo.json');
    writeFileSync(disguised, readFileSync(join(folder, 'b', 'img001.png')));
    await refused(disguised, /is an image \(png\)/);
    await projectIntact();
  });

  it('refuses an existing file that is not a previous export, and replaces a previous export', async () => {
    const notes = join(elsewhere, 'notes.txt');
    writeFileSync(notes, 'my notes, not an export\n');
    await refused(notes, /not a COCO export/);
    const config = join(elsewhere, 'config.json');
    writeFileSync(config, '{"name": "something else", "images": []}');
    await refused(config, /not a COCO export/);
    await refused(elsewhere, /is a folder/);

    // Our own export, one from another tool (pretty-printed, another key order), and an empty file are replaced.
    const out = join(elsewhere, 'coco.json');
    expect((await call('coco.export', { out })).path).toBe(out);
    writeFileSync(join(elsewhere, 'other.json'), '\ufeff{\n  "images": [],\n  "annotations": [],\n  "categories": []\n}\n');
    writeFileSync(join(elsewhere, 'empty.json'), '');
    for (const target of [out, join(elsewhere, 'other.json'), join(elsewhere, 'empty.json')]) {
      const r = await call('coco.export', { out: target, format: 'polygons' });
      expect(r.report.annotations).toBe(1);
      const doc = JSON.parse(readFileSync(target, 'utf8'));
      expect(doc.annotations).toHaveLength(1);
      expect(Array.isArray(doc.annotations[0].segmentation)).toBe(true);
    }
    // No temporary file is left beside the targets.
    expect(readdirSync(elsewhere).sort()).toEqual(['coco.json', 'config.json', 'empty.json', 'notes.txt', 'other.json']);
  });

  it('a missing folder is a clear bad request', async () => {
    await refused(join(elsewhere, 'nope', 'coco.json'), new RegExp(`folder not found: ${join(elsewhere, 'nope')}`));
  });

  it('writes through a link to a previous export: the link stays, the file it points to is replaced', async () => {
    const real = join(elsewhere, 'coco.json');
    await call('coco.export', { out: real });
    symlinkSync(real, join(dir.path, 'latest.json'));
    await call('coco.export', { out: join(dir.path, 'latest.json'), format: 'polygons' });
    expect(lstatSync(join(dir.path, 'latest.json')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(dir.path, 'latest.json'), 'utf8')).toBe(readFileSync(real, 'utf8'));
    expect(Array.isArray(JSON.parse(readFileSync(real, 'utf8')).annotations[0].segmentation)).toBe(true);
  });
});
