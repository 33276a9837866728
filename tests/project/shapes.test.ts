// Boxes and points beside masks: a box is its bbox (area w·h) and a point its bbox's x, y, both without an RLE; they
// carry a category and attributes, move through store.edit and undo/redo as masks do. A version-5 project opens with
// every annotation a mask, and its old undo steps still work.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_VERSION, MIGRATIONS, ProjectStore, StoreError, type AnnotationInput } from '../../src/core/project';
import { seedImages, tempFolder } from './helpers';

let t: ReturnType<typeof tempFolder>;
beforeEach(() => (t = tempFolder()));
afterEach(() => t.cleanup());

function storeError(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StoreError);
    return e as StoreError;
  }
  throw new Error('expected a StoreError');
}

describe('boxes and points in the store', () => {
  let s: ProjectStore;
  let img: number;
  let car: number;
  beforeEach(() => {
    s = ProjectStore.open(t.dir);
    img = seedImages(s, [[40, 30]])[0]!;
    car = s.addCategory({ name: 'car' }).id;
  });
  afterEach(() => s.close());

  const box = (over: Partial<AnnotationInput> = {}): Omit<AnnotationInput, 'imageId'> =>
    ({ categoryId: car, shape: 'box', rle: '', height: 30, width: 40, area: 50, bbox: [2.5, 3, 10, 5], source: 'manual', ...over });

  it('adds a box and a point beside a mask, moves them in undoable steps, and reads them back', () => {
    s.addAttributeDef({ categoryId: car, name: 'occluded', type: 'boolean' });
    const [mask] = s.edit(img, 'polygon', [{ kind: 'add', input: { categoryId: car, rle: '0d1', height: 30, width: 40, area: 3, bbox: [0, 0, 1, 3], source: 'manual' } }]);
    const [b] = s.edit(img, 'add box', [{ kind: 'add', input: box({ attributes: { occluded: true } }) }]);
    const [p] = s.edit(img, 'add point', [{ kind: 'add', input: { categoryId: car, shape: 'point', rle: '', height: 30, width: 40, area: 0, bbox: [39.5, 29.5, 0, 0], source: 'manual' } }]);
    expect(mask!.shape).toBe('mask');
    expect(s.getAnnotation(b!.id)).toMatchObject({ shape: 'box', rle: '', bbox: [2.5, 3, 10, 5], area: 50, attributes: { occluded: true } });
    expect(s.getAnnotation(p!.id)).toMatchObject({ shape: 'point', rle: '', bbox: [39.5, 29.5, 0, 0], area: 0 });
    expect(s.listAnnotations({ imageId: img }).map((a) => a.shape)).toEqual(['mask', 'box', 'point']);
    expect(s.getImage(img)!.status).toBe('in_progress');

    // Resizing a box is its bbox alone: the area follows.
    s.edit(img, 'resize box', [{ kind: 'update', id: b!.id, patch: { bbox: [0, 0, 4, 4] } }]);
    expect(s.getAnnotation(b!.id)).toMatchObject({ bbox: [0, 0, 4, 4], area: 16, shape: 'box' });
    expect(s.undo(img)).toBe(true);
    expect(s.getAnnotation(b!.id)).toMatchObject({ bbox: [2.5, 3, 10, 5], area: 50 });
    expect(s.redo(img)).toBe(true);
    expect(s.getAnnotation(b!.id)).toMatchObject({ bbox: [0, 0, 4, 4], area: 16 });
    // Undoing the point's add removes it; redoing brings it back as a point.
    expect(s.undo(img)).toBe(true);
    expect(s.undo(img)).toBe(true);
    expect(s.getAnnotation(p!.id)).toBeUndefined();
    expect(s.redo(img)).toBe(true);
    expect(s.getAnnotation(p!.id)).toMatchObject({ shape: 'point', bbox: [39.5, 29.5, 0, 0] });
    expect(s.integrityCheck()).toEqual(['ok']);
  });

  it('refuses shapes that do not hold together', () => {
    const add = (input: Omit<AnnotationInput, 'imageId'>) => storeError(() => s.edit(img, 'add', [{ kind: 'add', input }])).message;
    expect(add(box({ rle: '0d1' }))).toBe("a box has no rle (give '')");
    expect(add(box({ bbox: [0, 0, 0, 5], area: 0 }))).toBe('a box needs a width and a height, got [0, 0, 0, 5]');
    expect(add(box({ bbox: [35, 0, 10, 5] }))).toBe('bbox [35, 0, 10, 5] lies outside the 40×30 image');
    expect(add(box({ area: 7 }))).toBe("a box's area is 50 (w·h), got 7");
    expect(add(box({ shape: 'point', area: 0 }))).toBe('a point is [x, y, 0, 0], got [2.5, 3, 10, 5]');
    expect(add(box({ shape: 'point', bbox: [41, 0, 0, 0], area: 0 }))).toBe('bbox [41, 0, 0, 0] lies outside the 40×30 image');
    expect(add(box({ shape: 'blob' as never }))).toBe("shape must be one of mask, box, point, got 'blob'");
    expect(add(box({ shape: 'mask', rle: '' }))).toBe('rle must be a non-empty COCO compressed RLE string');
    const [b] = s.edit(img, 'add box', [{ kind: 'add', input: box() }]);
    expect(storeError(() => s.updateAnnotation(b!.id, { shape: 'mask' } as never)).message).toBe('an annotation stays a box: add a new one instead');
    expect(storeError(() => s.updateAnnotation(b!.id, { rle: '0d1', area: 3, bbox: [0, 0, 1, 3] })).message).toBe("a box has no rle (give '')");
    expect(s.getAnnotation(b!.id)).toMatchObject({ bbox: [2.5, 3, 10, 5], rle: '' });
    expect(s.listAnnotations({ imageId: img })).toHaveLength(1);
  });
});

describe('schema version 6', () => {
  /** One image with a mask and the undo step that added it, as version 5 wrote them. */
  function versionFiveProject(): void {
    mkdirSync(join(t.dir, '.difflabel'));
    const db = new Database(join(t.dir, '.difflabel', 'project.sqlite'));
    db.pragma('journal_mode = WAL');
    for (const m of MIGRATIONS.slice(0, 5)) m.up(db);
    db.pragma('user_version = 5');
    db.prepare(`INSERT INTO images (id, path, width, height, bytes, mtime_ms, sha1, format, status, indexed_at) VALUES (1, 'a.png', 40, 30, 10, 1, ?, 'png', 'in_progress', 1)`)
      .run('a'.repeat(40));
    db.prepare(`INSERT INTO categories (id, name, color) VALUES (1, 'car', '#ff0000')`).run();
    const mask = { id: 1, imageId: 1, categoryId: 1, rle: '0d1', height: 30, width: 40, area: 3, bbox: [0, 0, 1, 3], iscrowd: 0, source: 'manual', runId: null, score: null, attributes: {}, createdAt: 1, updatedAt: 1 };
    db.prepare(`INSERT INTO annotations (id, image_id, category_id, rle, height, width, area, bbox_x, bbox_y, bbox_w, bbox_h, source, created_at, updated_at)
      VALUES (1, 1, 1, '0d1', 30, 40, 3, 0, 0, 1, 3, 'manual', 1, 1)`).run();
    db.prepare(`INSERT INTO history (image_id, label, changes, created_at) VALUES (1, 'add', ?, 1)`).run(JSON.stringify([{ before: null, after: mask }]));
    db.close();
  }

  it('opens a version-5 project with every annotation a mask; its undo steps put masks back', () => {
    versionFiveProject();
    const s = ProjectStore.open(t.dir);
    try {
      expect(s.schemaVersion).toBe(LATEST_VERSION);
      expect(LATEST_VERSION).toBeGreaterThanOrEqual(6);
      expect(s.getAnnotation(1)).toMatchObject({ shape: 'mask', rle: '0d1', bbox: [0, 0, 1, 3] });
      expect(s.undo(1)).toBe(true);
      expect(s.getAnnotation(1)).toBeUndefined();
      expect(s.redo(1)).toBe(true);
      expect(s.getAnnotation(1)).toMatchObject({ shape: 'mask', rle: '0d1' });
      expect(s.integrityCheck()).toEqual(['ok']);
    } finally {
      s.close();
    }
    // The column refuses anything but the three shapes.
    const db = new Database(join(t.dir, '.difflabel', 'project.sqlite'));
    try {
      expect(() => db.prepare("UPDATE annotations SET shape = 'blob' WHERE id = 1").run()).toThrow(/CHECK constraint failed/);
    } finally {
      db.close();
    }
  });
});
