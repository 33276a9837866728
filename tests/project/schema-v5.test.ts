// Schema version 5 on a version-4 project: masks get an empty set of attribute values, categories no definitions,
// and undo steps recorded before (their snapshots hold no attributes) still undo and redo.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_VERSION, MIGRATIONS, ProjectStore } from '../../src/core/project';
import { tempFolder } from './helpers';

let t: ReturnType<typeof tempFolder>;
beforeEach(() => (t = tempFolder()));
afterEach(() => t.cleanup());

/** One image with a 'car' mask and the undo step that added it, as version 4 wrote them. */
function versionFourProject(): void {
  mkdirSync(join(t.dir, '.difflabel'));
  const db = new Database(join(t.dir, '.difflabel', 'project.sqlite'));
  db.pragma('journal_mode = WAL');
  for (const m of MIGRATIONS.slice(0, 4)) m.up(db);
  db.pragma('user_version = 4');
  db.prepare(`INSERT INTO images (id, path, width, height, bytes, mtime_ms, sha1, format, status, indexed_at) VALUES (1, 'a.png', 40, 30, 10, 1, ?, 'png', 'in_progress', 1)`)
    .run('a'.repeat(40));
  db.prepare(`INSERT INTO categories (id, name, color) VALUES (1, 'car', '#ff0000')`).run();
  const mask = { id: 1, imageId: 1, categoryId: 1, rle: '0d1', height: 30, width: 40, area: 3, bbox: [0, 0, 1, 3], iscrowd: 0, source: 'manual', runId: null, score: null, createdAt: 1, updatedAt: 1 };
  db.prepare(`INSERT INTO annotations (id, image_id, category_id, rle, height, width, area, bbox_x, bbox_y, bbox_w, bbox_h, source, created_at, updated_at)
    VALUES (1, 1, 1, '0d1', 30, 40, 3, 0, 0, 1, 3, 'manual', 1, 1)`).run();
  db.prepare(`INSERT INTO history (image_id, label, changes, created_at) VALUES (1, 'add', ?, 1)`).run(JSON.stringify([{ before: null, after: mask }]));
  db.close();
}

describe('schema version 5', () => {
  it('opens a version-4 project: masks without attribute values, definitions can be added, old undo steps still work', () => {
    versionFourProject();
    const s = ProjectStore.open(t.dir);
    try {
      expect(s.schemaVersion).toBe(LATEST_VERSION);
      expect(LATEST_VERSION).toBeGreaterThanOrEqual(5);
      expect(s.getAnnotation(1)!.attributes).toEqual({});
      expect(s.listAttributeDefs()).toEqual([]);
      s.addAttributeDef({ categoryId: 1, name: 'occluded', type: 'boolean' });
      s.edit(1, 'set attributes', [{ kind: 'update', id: 1, patch: { attributes: { occluded: true } } }]);
      expect(s.undo(1)).toBe(true); // the step above
      expect(s.undo(1)).toBe(true); // version 4's step: removes the mask
      expect(s.getAnnotation(1)).toBeUndefined();
      expect(s.redo(1)).toBe(true);
      expect(s.getAnnotation(1)!.attributes).toEqual({});
      expect(s.integrityCheck()).toEqual(['ok']);
    } finally {
      s.close();
    }
  });
});
