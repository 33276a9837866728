// Several processes writing one project at once (two app windows, or the command line while the app is open):
// every write waits its turn for the lock instead of failing with "database is locked".
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProjectStore } from '../../src/core/project';
import { NODE, ROOT, call, killApps, startApp, waitIndexed } from '../helpers/app';
import { writeImage } from '../helpers/folder';
import { seedImages, tempFolder } from '../project/helpers';

function writer(folder: string, edits: number, tag: string): Promise<{ added: number; errors: string[] }> {
  const child = spawn(NODE, ['--import', 'tsx', 'tests/reliability/writer-child.ts', folder, String(edits), tag], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((ok, fail) =>
    child.on('close', (code) => (code === 0 ? ok(JSON.parse(out)) : fail(new Error(`writer ${tag} exited ${code}: ${err}`)))),
  );
}

let t: ReturnType<typeof tempFolder>;
beforeEach(() => (t = tempFolder('difflabel-writers-')));
afterEach(() => {
  killApps();
  t.cleanup();
});

describe('two writers', () => {
  it('three processes editing one project at once lose no edit and see no lock error', async () => {
    const setup = ProjectStore.open(t.dir);
    seedImages(setup, [[64, 48], [32, 32], [8, 8]]);
    setup.close();

    const results = await Promise.all(['a', 'b', 'c'].map((tag) => writer(t.dir, 400, tag)));
    for (const r of results) expect(r.errors.slice(0, 3)).toEqual([]);

    const store = ProjectStore.open(t.dir);
    const anns = store.listAnnotations();
    for (const [i, tag] of ['a', 'b', 'c'].entries()) expect(anns.filter((a) => a.source === tag)).toHaveLength(results[i]!.added);
    expect(store.integrityCheck()).toEqual(['ok']);
    store.close();
  });

  it('the command line imports COCO while the app has the project open and is editing it', async () => {
    await writeImage(join(t.dir, 'a.png'), 40, 30);
    const app = await startApp(['bin/difflabel.mjs', 'serve', t.dir, '--port', '0']);
    await waitIndexed(app, 1);
    // 1,199 different one-pixel masks: a big enough transaction to overlap the app's edits.
    const annotations = Array.from({ length: 1199 }, (_, i) => ({ id: i + 1, image_id: 1, category_id: 1, iscrowd: 0, segmentation: { size: [30, 40], counts: [i, 1, 1200 - i - 1] } }));
    const coco = join(t.dir, 'coco.json');
    writeFileSync(coco, JSON.stringify({ images: [{ id: 1, file_name: 'a.png', width: 40, height: 30 }], annotations, categories: [{ id: 1, name: 'dot' }] }));

    const imported = new Promise<ReturnType<typeof spawnSync>>((ok) => {
      const child = spawn(NODE, ['bin/difflabel.mjs', 'import', t.dir, coco], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (status) => ok({ status, stdout, stderr } as ReturnType<typeof spawnSync>));
    });
    let done = false;
    void imported.then(() => (done = true));
    const edits: number[] = [];
    while (!done || edits.length < 20) {
      edits.push((await call(app, 'annotations.add', { imageId: 1, categoryId: null, mask: { size: [30, 40], counts: [0, 1200] } })).id);
    }
    const r = await imported;
    expect({ status: r.status, stderr: String(r.stderr) }).toEqual({ status: 0, stderr: '' });
    expect(String(r.stdout)).toMatch(/imported 1199 annotations/);
    const all = await call(app, 'annotations.list', { imageId: 1 });
    expect(all).toHaveLength(1199 + edits.length);
  });
});
