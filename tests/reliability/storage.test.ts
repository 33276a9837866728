// The disk under a project misbehaves: read-only, or locked by another program (a full disk: full-disk.test.ts). Each gets its own message,
// nothing acknowledged is lost, and nothing is called corrupt unless SQLite says so.
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProjectStore } from '../../src/core/project';
import { tmpfsProbe, type Tmpfs } from '../helpers/tmpfs';
import { seedImages, tempFolder } from '../project/helpers';
import { mask, refusal } from './helpers';

const ROOT = join(import.meta.dirname, '..', '..');
const NODE = join(ROOT, 'node_modules/.bin/node');
const disk = tmpfsProbe(2 * 1024 * 1024);
if (!disk.available) console.warn(`read-only disk tests skipped: ${disk.reason}`);

describe.skipIf(!disk.available)('on a read-only disk', () => {
  let fs: Tmpfs;
  let tempDir: string;
  beforeEach(() => {
    fs = disk.mount();
    tempDir = mkdtempSync(join(tmpdir(), 'difflabel-ro-out-'));
  });
  afterEach(() => {
    fs.remount('rw');
    fs.unmount();
    rmSync(tempDir, { recursive: true, force: true });
  });

  it('refuses editing with "read-only" and still opens for reading', () => {
    const folder = fs.dir;
    const store = ProjectStore.open(folder);
    const [imageId] = seedImages(store, [[64, 48]]);
    const ids = [1, 2, 3].map((i) => store.addAnnotation(mask(imageId!, i)).id);
    store.close();
    fs.remount('ro');
    const e = refusal(() => ProjectStore.open(folder));
    expect(e.code).toBe('read-only');
    expect(e.message).toMatch(/stats.*export/);
    expect(e.message).not.toMatch(/corrupt|backup|move it away/);

    const ro = ProjectStore.open(folder, { readonly: true });
    expect(ro.readonly).toBe(true);
    expect(ro.listAnnotations().map((a) => a.id)).toEqual(ids);
    const w = refusal(() => ro.addCategory({ name: 'cat' }));
    expect(w.code).toBe('read-only');
    expect(w.message).toMatch(/not saved/);
    ro.close();

    // The command line: stats and export read it; index (which writes) says why it cannot.
    const cli = (...args: string[]) => spawnSync(NODE, ['bin/difflabel.mjs', ...args], { cwd: ROOT, encoding: 'utf8' });
    const stats = cli('stats', folder, '--json');
    expect(stats.status, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout).annotations).toBe(3);
    const out = join(tempDir, 'export.json');
    const exported = cli('export', folder, '--out', out);
    expect(exported.stderr).not.toMatch(/read-only|error/);
    expect(JSON.parse(readFileSync(out, 'utf8')).images).toHaveLength(1);
    const index = cli('index', folder);
    expect(index.status).toBe(1);
    expect(index.stderr).toMatch(/^error: .*read-only disk or no permission.*stats.*export/);
    expect(index.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('reads edits that are still in the WAL (a crash before the disk became read-only), with or without its index', () => {
    const folder = fs.dir;
    const child = spawnSync(NODE, ['--import', 'tsx', 'tests/reliability/die-child.ts', folder], { cwd: ROOT, encoding: 'utf8' });
    expect(child.signal, child.stderr).toBe('SIGKILL');
    const ids = JSON.parse(child.stdout) as number[];
    const shm = join(folder, '.difflabel', 'project.sqlite-shm');
    for (const dropIndex of [false, true]) {
      fs.remount('rw');
      if (dropIndex) rmSync(shm, { force: true });
      fs.remount('ro');
      const ro = ProjectStore.open(folder, { readonly: true });
      expect(ro.listAnnotations().map((a) => a.id), `without -shm: ${dropIndex}`).toEqual(ids);
      ro.close();
    }
  });

  it('says there is no project yet, rather than creating one, when a read-only open finds none', () => {
    fs.remount('ro');
    expect(refusal(() => ProjectStore.open(fs.dir, { readonly: true })).code).toBe('not-a-project');
  });
});

describe('locked by another program', () => {
  let t: ReturnType<typeof tempFolder>;
  beforeEach(() => (t = tempFolder('difflabel-lock-')));
  afterEach(() => t.cleanup());

  it('an exclusive lock held past the busy timeout refuses the open with "locked", not "corrupt"', () => {
    ProjectStore.open(t.dir).close();
    const other = new Database(join(t.dir, '.difflabel', 'project.sqlite'));
    other.pragma('locking_mode = EXCLUSIVE');
    other.exec('BEGIN EXCLUSIVE; CREATE TABLE other_tool (x); COMMIT'); // keeps the exclusive lock until closed
    try {
      const e = refusal(() => ProjectStore.open(t.dir));
      expect(e.code).toBe('locked');
      expect(e.message).toMatch(/locked by another program/);
    } finally {
      other.close();
    }
    ProjectStore.open(t.dir).close();
  });

  it('an edit that waits past the busy timeout is refused with "locked" and changes nothing', () => {
    const store = ProjectStore.open(t.dir);
    const [imageId] = seedImages(store, [[64, 48]]);
    const other = new Database(join(t.dir, '.difflabel', 'project.sqlite'));
    other.exec('BEGIN IMMEDIATE');
    try {
      const e = refusal(() => store.addAnnotation(mask(imageId!, 1)));
      expect(e.code).toBe('locked');
      expect(e.message).toMatch(/not saved, try again/);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(store.countAnnotations()).toBe(0);
    store.addAnnotation(mask(imageId!, 2));
    store.close();
  });
});
