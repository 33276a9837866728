// Schema version 4 on a version-3 project: runs say whether they propose masks (DiffSeg's segment-everything runs
// did; its accepted clicks did not), so what was a proposal stays one and nothing else becomes one; a run an older
// version left 'running' (it crashed before the run ended) is marked failed, so resume does not take it as finished.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, ProjectStore } from '../../src/core/project';
import { tempFolder } from './helpers';

let t: ReturnType<typeof tempFolder>;
beforeEach(() => (t = tempFolder()));
afterEach(() => t.cleanup());

/** Image 1 holds a DiffSeg proposal and an accepted click (both unassigned), image 2 a run cut short with its proposal. */
function versionThreeProject(): void {
  mkdirSync(join(t.dir, '.difflabel'));
  const db = new Database(join(t.dir, '.difflabel', 'project.sqlite'));
  db.pragma('journal_mode = WAL');
  for (const m of MIGRATIONS.slice(0, 3)) m.up(db);
  db.pragma('user_version = 3');
  const image = db.prepare(`INSERT INTO images (id, path, width, height, bytes, mtime_ms, sha1, format, status, indexed_at) VALUES (?, ?, 40, 30, 10, 1, ?, 'png', ?, 1)`);
  image.run(1, 'a.png', 'a'.repeat(40), 'in_progress');
  image.run(2, 'b.png', 'b'.repeat(40), 'unlabeled');
  const run = db.prepare(`INSERT INTO runs (id, pipeline, image_id, started_at, finished_at, status) VALUES (?, ?, ?, 5, ?, ?)`);
  run.run(1, 'diffseg', 1, 6, 'done');
  run.run(2, 'diffseg-click', 1, 6, 'done');
  run.run(3, 'diffseg', 2, null, 'running');
  const ann = db.prepare(`INSERT INTO annotations (id, image_id, rle, height, width, area, bbox_x, bbox_y, bbox_w, bbox_h, source, run_id, created_at, updated_at)
    VALUES (?, ?, '0d1', 30, 40, 3, 0, 0, 1, 3, ?, ?, 1, 1)`);
  ann.run(1, 1, 'diffseg', 1);
  ann.run(2, 1, 'diffseg-click', 2);
  ann.run(3, 2, 'diffseg', 3);
  db.close();
}

describe('schema version 4', () => {
  it('keeps DiffSeg proposals proposals and accepted clicks not; marks runs left running as failed', () => {
    versionThreeProject();
    const s = ProjectStore.open(t.dir);
    try {
      expect(s.schemaVersion).toBeGreaterThanOrEqual(4);
      expect(s.listRuns().map((r) => [r.id, r.proposes, r.status])).toEqual([[1, true, 'done'], [2, false, 'done'], [3, true, 'failed']]);
      expect(s.getRun(3)).toMatchObject({ error: expect.stringMatching(/interrupted/), finishedAt: 5 });
      expect(s.listImages({ proposals: true }).map((i) => i.id)).toEqual([1, 2]);
      expect(s.runProposes(1)).toBe(true);
      expect(s.runProposes(2)).toBe(false);
      expect(s.runProposes(null)).toBe(false);
      expect(s.integrityCheck()).toEqual(['ok']);
    } finally {
      s.close();
    }
  });
});
