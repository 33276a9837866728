// `difflabel generate` with the fixture model: 3 images into a project subfolder, indexed and masked; a second call
// generates nothing; `export` writes them to COCO with their masks; bad input is refused with exit 2.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectStore } from '../../src/core/project';
import { tempDir } from '../helpers/folder';

const root = join(__dirname, '..', '..');
const cli = (...args: string[]) =>
  spawnSync(join(root, 'node_modules', '.bin', 'node'), [join(root, 'bin', 'difflabel.mjs'), ...args], { encoding: 'utf8', cwd: root });

let dir: ReturnType<typeof tempDir>;
let folder: string;
const args = () => ['generate', folder, '--prompt', 'a photo of a red square', '--category', 'red', '--category', 'blue', '--count', '3', '--seed', '5', '--steps', '10', '--model', 'fixture', '--out-subfolder', 'synthetic'];

beforeAll(() => {
  dir = tempDir();
  folder = join(dir.path, 'project');
  mkdirSync(folder);
});
afterAll(() => dir.cleanup());

describe('difflabel generate', () => {
  it('generates 3 masked images into the project, resumes without generating again, and export includes them', () => {
    let r = cli(...args());
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^generated 3 images into synthetic with fixture-grounded \(seed 5, ddim\): 6 masks; 0 already there$/m);
    expect(readdirSync(join(folder, 'synthetic'))).toHaveLength(3);
    const store = ProjectStore.open(folder, { readonly: true });
    try {
      expect(store.listImages().map((i) => i.path.split('/')[0])).toEqual(['synthetic', 'synthetic', 'synthetic']);
      expect(store.listCategories().map((c) => c.name).sort()).toEqual(['blue', 'red']);
      expect(store.listAnnotations().map((a) => a.source)).toEqual(Array(6).fill('grounded'));
      expect(store.listRuns({ pipeline: 'grounded', status: 'done' }).map((run) => (run.params as { seed: number }).seed).sort()).toEqual([5, 6, 7]);
    } finally {
      store.close();
    }

    r = cli(...args());
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^generated 0 images into synthetic .*: 0 masks; 3 already there$/m);

    const out = join(dir.path, 'coco.json');
    r = cli('export', folder, '--out', out);
    expect(r.status).toBe(0);
    const coco = JSON.parse(readFileSync(out, 'utf8'));
    expect(coco.images.map((i: { file_name: string }) => i.file_name.split('/')[0])).toEqual(['synthetic', 'synthetic', 'synthetic']);
    expect(coco.annotations).toHaveLength(6);
    expect(coco.categories.map((c: { name: string }) => c.name).sort()).toEqual(['blue', 'red']);
  });

  it('killed mid-way, it leaves only whole images with their masks, and the next call generates the rest', async () => {
    const project = join(dir.path, 'killed');
    mkdirSync(project);
    // Many steps make each image take long enough to be killed in the middle of the next one.
    const killArgs = ['generate', project, '--prompt', 'a photo of a red square', '--category', 'red', '--count', '3', '--seed', '1', '--steps', '400', '--model', 'fixture'];
    const child = spawn(join(root, 'node_modules', '.bin', 'node'), [join(root, 'bin', 'difflabel.mjs'), ...killArgs], { cwd: root, stdio: 'ignore' });
    const exited = new Promise((ok) => child.on('exit', ok));
    const indexed = () => {
      try {
        const s = ProjectStore.open(project, { readonly: true });
        try {
          return s.countImages();
        } finally {
          s.close();
        }
      } catch {
        return 0; // the project is still being created
      }
    };
    while (indexed() < 1) await sleep(50);
    child.kill('SIGKILL');
    await exited;

    const store = ProjectStore.open(project, { readonly: true });
    const before = store.listImages();
    for (const img of before) {
      expect(store.listRuns({ imageId: img.id, pipeline: 'grounded', status: 'done' })).toHaveLength(1);
      expect(store.listAnnotations({ imageId: img.id })).toHaveLength(1);
    }
    store.close();
    expect(before.length).toBeGreaterThanOrEqual(1);
    expect(before.length).toBeLessThan(3);
    // Every PNG on disk is whole (a temporary file may be left, hidden, and is not indexed).
    const pngs = readdirSync(join(project, 'generated')).filter((f) => !f.startsWith('.'));
    for (const f of pngs) expect((await sharp(join(project, 'generated', f)).metadata()).width).toBe(512);

    const r = cli(...killArgs);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`generated ${3 - before.length} images`);
    expect(r.stdout).toContain(`${before.length} already there`);
    const after = ProjectStore.open(project, { readonly: true });
    try {
      expect(after.countImages()).toBe(3);
      expect(after.listAnnotations()).toHaveLength(3);
    } finally {
      after.close();
    }
  });

  it('--grounding attention masks the prompt\'s words without the module', () => {
    const r = cli('generate', folder, '--prompt', 'a photo of a red square', '--category', 'red', '--grounding', 'attention', '--steps', '10', '--seed', '1', '--model', 'fixture', '--out-subfolder', 'attention');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^generated 1 images into attention .*: 1 masks; 0 already there$/m);
    const store = ProjectStore.open(folder, { readonly: true });
    try {
      const [img] = store.listImages().filter((i) => i.path.startsWith('attention/'));
      expect(store.listRuns({ imageId: img!.id })[0]!.params).toMatchObject({ grounding: 'attention', categories: ['red'] });
    } finally {
      store.close();
    }
  });

  it('refuses bad input with exit 2 and says why', () => {
    let r = cli('generate', folder, '--prompt', 'a photo of a dog', '--model', 'fixture');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/required option '--category <name>' not specified/);
    r = cli('generate', folder, '--prompt', 'a dog', '--category', 'dog', '--sampler', 'euler', '--model', 'fixture');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--sampler.*euler.*Allowed choices are ddim, pndm, dpmpp/);
    r = cli('generate', folder, '--prompt', 'a dog', '--category', 'dog', '--out-subfolder', '../elsewhere', '--model', 'fixture');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/error: the output subfolder must be a relative path inside the project, not "..\/elsewhere"/);
    r = cli('generate', join(dir.path, 'nope'), '--prompt', 'a dog', '--category', 'dog', '--model', 'fixture');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error: folder not found/);
  });
});
