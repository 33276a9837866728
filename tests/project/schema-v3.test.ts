// Schema version 3 on a version-2 project: the images table is rebuilt (a path is unique among present images
// only) without losing anything that references it, and undo steps recorded at another image size are dropped.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_VERSION, MIGRATIONS, ProjectStore } from '../../src/core/project';
import { migrate } from '../../src/core/project/migrations';
import { tempFolder } from './helpers';

let t: ReturnType<typeof tempFolder>;
beforeEach(() => (t = tempFolder()));
afterEach(() => t.cleanup());

/** A project as schema version 2 left it: two 40×30 images, masks, an example, a run, a prompt, undo steps. */
function versionTwoProject(): void {
  mkdirSync(join(t.dir, '.difflabel'));
  const db = new Database(join(t.dir, '.difflabel', 'project.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  for (const m of MIGRATIONS.slice(0, 2)) m.up(db);
  db.pragma('user_version = 2');
  const image = db.prepare(`INSERT INTO images (id, path, width, height, bytes, mtime_ms, sha1, format, status, indexed_at) VALUES (?, ?, 40, 30, 10, 1, ?, 'png', 'in_progress', 1)`);
  image.run(1, 'a.png', 'a'.repeat(40));
  image.run(2, 'b.png', 'b'.repeat(40));
  db.prepare(`INSERT INTO runs (id, pipeline, image_id, started_at) VALUES (1, 'diffseg', 1, 1)`).run();
  const ann = db.prepare(`INSERT INTO annotations (id, image_id, rle, height, width, area, bbox_x, bbox_y, bbox_w, bbox_h, source, run_id, created_at, updated_at)
    VALUES (?, ?, '0d1', 30, 40, 3, 0, 0, 1, 3, 'manual', ?, 1, 1)`);
  ann.run(1, 1, 1);
  ann.run(2, 2, null);
  db.prepare(`INSERT INTO examples (image_id, annotation_id, label) VALUES (1, 1, 'cow')`).run();
  db.prepare(`INSERT INTO prompts (image_id, kind, payload, created_at) VALUES (1, 'text', '"a cow"', 1)`).run();
  const step = (imageId: number, w: number, h: number) => {
    const a = { id: 10 + imageId, imageId, categoryId: null, rle: '0d1', height: h, width: w, area: 3, bbox: [0, 0, 1, 3], iscrowd: 0, source: 'manual', runId: null, score: null, createdAt: 1, updatedAt: 1 };
    db.prepare(`INSERT INTO history (image_id, label, changes, created_at) VALUES (?, 'brush', ?, 1)`).run(imageId, JSON.stringify([{ before: a, after: null }]));
  };
  step(1, 40, 30); // recorded at the image's size: kept
  step(2, 64, 48); // the file changed size since: undoing it would put a 64×48 mask on a 40×30 image
  db.close();
}

describe('schema version 3', () => {
  it('rebuilds images keeping every row that references them, and drops undo steps of another size', () => {
    versionTwoProject();
    const s = ProjectStore.open(t.dir);
    try {
      expect(s.schemaVersion).toBe(LATEST_VERSION);
      expect(s.integrityCheck()).toEqual(['ok']);
      expect(s.listImages().map((i) => [i.id, i.path, i.missingSince, i.annotationCount])).toEqual([[1, 'a.png', null, 1], [2, 'b.png', null, 1]]);
      expect(s.listAnnotations().map((a) => [a.id, a.imageId, a.runId])).toEqual([[1, 1, 1], [2, 2, null]]);
      expect(s.listExamples()).toEqual([{ id: 1, imageId: 1, annotationId: 1, label: 'cow' }]);
      expect(s.listPrompts()).toHaveLength(1);
      expect(s.getRun(1)?.imageId).toBe(1);
      expect(s.historyState(1).canUndo).toBe(true);
      expect(s.historyState(2).canUndo).toBe(false);
      expect(s.undo(2)).toBe(false);
      expect(s.listAnnotations({ imageId: 2 }).map((a) => a.width)).toEqual([40]);

      // Foreign keys are on again and still cascade.
      const db = (s as unknown as { db: Database.Database }).db;
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(db.pragma('foreign_key_check')).toEqual([]);
      // A path is unique among present images only.
      s.setImageStatus(1, 'done');
      s.retireImages([1]);
      s.saveIndexedImages([{ path: 'a.png', width: 8, height: 8, bytes: 5, mtimeMs: 2, sha1: 'c'.repeat(40), format: 'png', error: null }]);
      expect(s.listImages().map((i) => [i.path, i.missingSince !== null])).toEqual([['a.png', true], ['a.png', false], ['b.png', false]]);
      expect(() => db.prepare(`UPDATE images SET path = 'a.png' WHERE id = 2`).run()).toThrow(/UNIQUE/);
    } finally {
      s.close();
    }
  });

  it('refuses to rebuild inside a transaction, where foreign keys cannot be switched off and the masks would cascade away', () => {
    versionTwoProject();
    const db = new Database(join(t.dir, '.difflabel', 'project.sqlite'));
    db.pragma('foreign_keys = ON');
    db.exec('BEGIN');
    expect(() => migrate(db)).toThrow(/cannot be applied inside a transaction/);
    db.exec('ROLLBACK');
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    expect((db.prepare('SELECT count(*) AS n FROM annotations').get() as { n: number }).n).toBe(2);
    db.close();
  });
});
