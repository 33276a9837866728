import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_VERSION, ProjectOpenError, ProjectStore } from '../../src/core/project';
import { seedImages, tempFolder } from './helpers';

let t: ReturnType<typeof tempFolder>;
beforeEach(() => (t = tempFolder()));
afterEach(() => t.cleanup());

function openError(folder: string): ProjectOpenError {
  try {
    ProjectStore.open(folder).close();
  } catch (e) {
    expect(e).toBeInstanceOf(ProjectOpenError);
    return e as ProjectOpenError;
  }
  throw new Error('expected the project to be refused');
}

/**
 * The files in .difflabel with their bytes, to prove a refused open changed nothing. SQLite's read-only
 * WAL connection may leave an empty -wal and an -shm index: those carry no data and are left out.
 */
function snapshot(folder: string): Record<string, string> {
  const dir = join(folder, '.difflabel');
  const files = readdirSync(dir).filter((f) => {
    if (f.endsWith('-shm')) return false;
    return !(f.endsWith('-wal') && statSync(join(dir, f)).size === 0);
  });
  return Object.fromEntries(files.map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
}

describe('opening and migrating', () => {
  it('creates a fresh project with the latest schema, WAL and foreign keys', () => {
    const s = ProjectStore.open(t.dir);
    expect(s.schemaVersion).toBe(LATEST_VERSION);
    expect(s.dbPath).toBe(join(t.dir, '.difflabel', 'project.sqlite'));
    s.close();
    const db = new Database(join(t.dir, '.difflabel', 'project.sqlite'), { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(LATEST_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name);
    expect(tables).toEqual(['annotations', 'attribute_defs', 'categories', 'examples', 'history', 'images', 'prompts', 'runs', 'set_aside', 'settings', 'suggestions']);
    db.close();
  });

  it('reopens an existing project with its data', () => {
    const s = ProjectStore.open(t.dir);
    const [img] = seedImages(s, [[10, 10]]);
    const cat = s.addCategory({ name: 'cat' });
    s.addAnnotation({ imageId: img!, categoryId: cat.id, rle: '0d1', height: 10, width: 10, area: 100, bbox: [0, 0, 10, 10], source: 'manual' });
    s.close();
    const again = ProjectStore.open(t.dir);
    expect(again.schemaVersion).toBe(LATEST_VERSION);
    expect(again.listCategories()).toEqual([cat]);
    expect(again.listAnnotations().map((a) => a.area)).toEqual([100]);
    expect((again as unknown as { db: Database.Database }).db.pragma('foreign_keys', { simple: true })).toBe(1);
    again.close();
  });

  it('refuses a database from a newer schema version and leaves it byte-identical', () => {
    ProjectStore.open(t.dir).close();
    const db = new Database(join(t.dir, '.difflabel', 'project.sqlite'));
    db.pragma(`user_version = ${LATEST_VERSION + 1}`);
    db.close();
    const before = snapshot(t.dir);
    const e = openError(t.dir);
    expect(e.code).toBe('newer-version');
    expect(e.message).toMatch(/newer/);
    expect(snapshot(t.dir)).toEqual(before);
  });

  it('refuses a file of random bytes and leaves it untouched', () => {
    const path = join(t.dir, '.difflabel', 'project.sqlite');
    ProjectStore.open(t.dir).close();
    const junk = randomBytes(8192);
    writeFileSync(path, junk);
    const before = snapshot(t.dir);
    const e = openError(t.dir);
    expect(e.code).toBe('corrupt');
    expect(readFileSync(path).equals(junk)).toBe(true);
    expect(snapshot(t.dir)).toEqual(before);
  });

  it('refuses a truncated database and leaves it untouched', () => {
    const s = ProjectStore.open(t.dir);
    const ids = seedImages(s, Array.from({ length: 300 }, () => [64, 64] as [number, number]));
    s.addAnnotations(ids.map((imageId) => ({ imageId, categoryId: null, rle: 'a'.repeat(200), height: 64, width: 64, area: 10, bbox: [0, 0, 5, 2] as [number, number, number, number], source: 'import' })));
    s.close();
    const path = join(t.dir, '.difflabel', 'project.sqlite');
    const full = readFileSync(path);
    expect(full.length).toBeGreaterThan(16 * 4096);
    writeFileSync(path, full.subarray(0, Math.floor(full.length / 2 / 4096) * 4096));
    const before = snapshot(t.dir);
    const e = openError(t.dir);
    expect(e.code).toBe('corrupt');
    expect(snapshot(t.dir)).toEqual(before);
  });

  it('refuses an SQLite file that is not a DiffLabel project', () => {
    const path = join(t.dir, '.difflabel', 'project.sqlite');
    ProjectStore.open(t.dir).close();
    writeFileSync(path, '');
    const other = new Database(path);
    other.exec('CREATE TABLE photos (id INTEGER PRIMARY KEY)');
    other.close();
    const before = snapshot(t.dir);
    expect(openError(t.dir).code).toBe('foreign');
    expect(snapshot(t.dir)).toEqual(before);
  });

  it('refuses a path that is not a folder', () => {
    writeFileSync(join(t.dir, 'file.txt'), 'x');
    expect(openError(join(t.dir, 'file.txt')).code).toBe('not-a-folder');
    expect(openError(join(t.dir, 'missing')).code).toBe('not-a-folder');
    expect(existsSync(join(t.dir, 'missing'))).toBe(false);
  });

  it.skipIf(process.getuid?.() === 0)('refuses a folder it cannot write to', async () => {
    const { chmodSync, mkdirSync } = await import('node:fs');
    const ro = join(t.dir, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    try {
      expect(openError(ro).code).toBe('read-only');
    } finally {
      chmodSync(ro, 0o755);
    }
    expect(statSync(ro).isDirectory()).toBe(true);
  });
});
