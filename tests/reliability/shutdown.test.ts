// Stopping the app: Ctrl-C on `npm start` closes the project cleanly (nothing left in the WAL), and a server killed
// with SIGKILL mid-work loses no acknowledged edit — and its project opens again.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_VERSION, ProjectStore } from '../../src/core/project';
import { call, killApps, startApp, waitIndexed } from '../helpers/app';
import { writeImage } from '../helpers/folder';
import { tempFolder } from '../project/helpers';

const headerVersion = (db: string) => readFileSync(db).readInt32BE(60);

let t: ReturnType<typeof tempFolder>;
beforeEach(async () => {
  t = tempFolder('difflabel-stop-');
  await writeImage(join(t.dir, 'a.png'), 40, 30);
});
afterEach(() => {
  killApps();
  t.cleanup();
});

describe('stopping the app', () => {
  it('one Ctrl-C on `npm start` (web mode) closes the new project cleanly', async () => {
    const app = await startApp(['scripts/start.mjs', t.dir]);
    await waitIndexed(app, 1);
    const img = (await call(app, 'images.list', {})).items[0];
    await call(app, 'categories.add', { name: 'cat' });
    await call(app, 'annotations.add', { imageId: img.id, categoryId: 1, mask: { size: [30, 40], counts: [0, 10, 1190] } });

    process.kill(-app.child.pid!, 'SIGINT'); // the terminal's Ctrl-C: the whole process group
    const [code, signal] = await app.exited;
    const db = join(t.dir, '.difflabel', 'project.sqlite');
    expect(existsSync(`${db}-wal`), `WAL checkpointed and removed on close: ${app.output()}`).toBe(false);
    expect(headerVersion(db)).toBe(LATEST_VERSION);
    expect({ code, signal }, app.output()).toEqual({ code: 0, signal: null });
    expect(app.output()).toMatch(/closed/);
    const store = ProjectStore.open(t.dir);
    expect(store.countAnnotations()).toBe(1);
    store.close();
  });

  it('a server killed with SIGKILL keeps every acknowledged edit, and its new project opens again', async () => {
    const app = await startApp(['bin/difflabel.mjs', 'serve', t.dir, '--port', '0']);
    await waitIndexed(app, 1);
    const img = (await call(app, 'images.list', {})).items[0];
    const acked: number[] = [];
    for (let i = 0; i < 25; i++) {
      const counts = [i, 1, 1200 - i - 1];
      acked.push((await call(app, 'annotations.add', { imageId: img.id, categoryId: null, mask: { size: [30, 40], counts } })).id);
    }
    process.kill(-app.child.pid!, 'SIGKILL');
    await app.exited;

    const store = ProjectStore.open(t.dir);
    expect(store.listAnnotations().map((a) => a.id)).toEqual(acked);
    expect(store.integrityCheck()).toEqual(['ok']);
    store.close();
  });
});
