// A batch killed with SIGKILL in the middle loses nothing and leaves nothing half done: `difflabel segment` runs in a
// child process, is killed once an image is stored, and the project then holds no run left 'running', only runs
// whose masks are all there (or none), and the next run finishes the rest without segmenting anything twice.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectStore } from '../../src/core/project';
import { NODE, ROOT } from '../helpers/app';
import { tempDir } from '../helpers/folder';
import { makeScene, writeScene } from './diffseg/fixture-scenes';

const N = 5;
const segmentArgs = (folder: string) => [join(ROOT, 'bin', 'difflabel.mjs'), 'segment', folder, '--model', 'fixture', '--json'];
let dir: ReturnType<typeof tempDir>;

beforeAll(async () => {
  dir = tempDir();
  for (let i = 0; i < N; i++) await writeScene(join(dir.path, `scene${i}.png`), makeScene(320, 240, 3, 60 + i));
});
afterAll(() => dir.cleanup());

/** Runs grouped by status, with the masks of each run. */
function snapshot() {
  const store = ProjectStore.open(dir.path);
  try {
    const runs = store.listRuns();
    const masks = store.listAnnotations();
    return {
      running: runs.filter((r) => r.status === 'running').length,
      done: runs.filter((r) => r.status === 'done'),
      masksOf: (runId: number) => masks.filter((a) => a.runId === runId).length,
      orphans: masks.filter((a) => !runs.some((r) => r.id === a.runId && r.status === 'done')).length,
      images: store.listImages(),
      runsOf: (imageId: number) => runs.filter((r) => r.imageId === imageId && r.status === 'done').length,
    };
  } finally {
    store.close();
  }
}

describe('a batch killed with SIGKILL', () => {
  it('leaves no run running and no masks without their finished run; the next run does the rest once', async () => {
    const child = spawn(NODE, segmentArgs(dir.path), { cwd: ROOT, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Kill it as soon as one image is stored: the next one is then in flight.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const s = await new Promise((r) => setTimeout(r, 50)).then(() => {
        try {
          return snapshot();
        } catch {
          return null; // the child is creating the project
        }
      });
      if (s && s.done.length >= 1) break;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error('the batch never stored an image');
    }
    child.kill('SIGKILL');
    await exited;

    const after = snapshot();
    expect(after.done.length).toBeGreaterThanOrEqual(1);
    expect(after.done.length).toBeLessThan(N);
    expect(after.running).toBe(0);
    for (const r of after.done) expect(after.masksOf(r.id), `masks of run ${r.id}`).toBeGreaterThan(0);
    expect(after.orphans).toBe(0);

    const resumed = spawnSync(NODE, segmentArgs(dir.path), { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ total: N, skipped: after.done.length, segmented: N - after.done.length, failed: [] });
    const end = snapshot();
    expect(end.running).toBe(0);
    expect(end.orphans).toBe(0);
    for (const img of end.images) expect(end.runsOf(img.id), img.path).toBe(1);
  });
});
