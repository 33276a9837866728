// `difflabel segment --pipeline diffseg --model fixture` end to end in a child process: progress on stderr,
// proposals in the project, resume, exit codes (0 ok, 3 unreadable images skipped, 1 no model).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectStore } from '../../../src/core/project';
import { tempDir } from '../../helpers/folder';
import { makeScene, matchedMiou, writeScene } from './fixture-scenes';
import { annotationPixels } from './helpers';

const root = join(__dirname, '..', '..', '..');
const cli = (env: Record<string, string>, ...args: string[]) =>
  spawnSync(join(root, 'node_modules', '.bin', 'node'), [join(root, 'bin', 'difflabel.mjs'), ...args], {
    encoding: 'utf8', cwd: root, env: { ...process.env, ...env }, timeout: 120_000,
  });

let dir: ReturnType<typeof tempDir>;
let emptyModels: ReturnType<typeof tempDir>;
const scenes = { 'a.png': makeScene(640, 480, 4, 31), 'b/b.png': makeScene(300, 500, 3, 32) };

beforeAll(async () => {
  dir = tempDir();
  emptyModels = tempDir();
  for (const [rel, s] of Object.entries(scenes)) await writeScene(join(dir.path, rel), s);
});
afterAll(() => (dir.cleanup(), emptyModels.cleanup()));

describe('difflabel segment', () => {
  it('segments a folder with the fixture, stores proposals, and resumes', () => {
    let r = cli({}, 'segment', dir.path, '--pipeline', 'diffseg', '--model', 'fixture');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/segmenting 2\/2/);
    expect(r.stdout).toMatch(/segmented .+ with diffseg \(fixture-affinity\): 2 images, \d+ proposals; 0 already done; 0 failed/);
    const store = ProjectStore.open(dir.path);
    try {
      for (const [rel, scene] of Object.entries(scenes)) {
        const img = store.getImageByPath(rel)!;
        const anns = store.listAnnotations({ imageId: img.id });
        expect(anns.every((a) => a.source === 'diffseg' && a.runId !== null && a.categoryId === null)).toBe(true);
        expect(matchedMiou(scene, anns.map(annotationPixels)).miou).toBeGreaterThanOrEqual(0.9);
      }
    } finally {
      store.close();
    }
    r = cli({}, 'segment', dir.path, '--model', 'fixture', '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ total: 2, skipped: 2, segmented: 0 });
    r = cli({}, 'segment', dir.path, '--model', 'fixture', '--images', 'a.png', '--tau', '0.9', '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ total: 1, segmented: 1, params: { tau: 0.9, guided: true } });
    r = cli({}, 'segment', dir.path, '--model', 'fixture', '--images', 'a.png', '--no-guided', '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ total: 1, segmented: 1, params: { tau: 1.1, guided: false } });
  });

  it('exits 3 when some images cannot be read, 1 when there is no model, 2 on bad usage', () => {
    writeFileSync(join(dir.path, 'broken.png'), 'not an image');
    let r = cli({}, 'segment', dir.path, '--model', 'fixture');
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/skipped \(unreadable\): broken\.png/);
    r = cli({ DIFFLABEL_MODELS_DIR: emptyModels.path }, 'segment', dir.path);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no model bundle for DiffSeg is installed.+models convert/);
    r = cli({}, 'segment', dir.path, '--pipeline', 'nope');
    expect(r.status).toBe(2);
    r = cli({}, 'segment', dir.path, '--model', 'fixture', '--images', 'missing.png');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no image missing\.png/);
  });
});
