// Several processes writing one project at once (two app windows, or the command line while the app is open):
// every write waits its turn for the lock instead of failing with "database is locked".
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProjectStore } from '../../src/core/project';
import { seedImages, tempFolder } from '../project/helpers';

const ROOT = join(import.meta.dirname, '..', '..');
const NODE = join(ROOT, 'node_modules/.bin/node');

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
afterEach(() => t.cleanup());

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
});
