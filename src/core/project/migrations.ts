// Versioned schema migrations. The version lives in `PRAGMA user_version`; each step runs in its own
// transaction together with the version bump, so a crash leaves the database at a whole version.
import type Database from 'better-sqlite3';

/** Marks a DiffLabel database (PRAGMA application_id), so foreign SQLite files are not taken for ours. */
export const APPLICATION_ID = 0x44664c62; // 'DfLb'

export interface Migration {
  version: number;
  description: string;
  up(db: Database.Database): void;
  /** Rebuilds a table others reference: runs with foreign keys off, checked before the commit. */
  rebuildsTables?: boolean;
}

const v1 = `
CREATE TABLE images (
  id          INTEGER PRIMARY KEY,
  path        TEXT    NOT NULL UNIQUE,            -- relative to the project folder, '/' separators
  width       INTEGER NOT NULL DEFAULT 0,         -- after EXIF orientation; 0 when unreadable
  height      INTEGER NOT NULL DEFAULT 0,
  bytes       INTEGER NOT NULL,
  mtime_ms    REAL    NOT NULL,
  sha1        TEXT,
  format      TEXT,                               -- from the file's content: jpeg png webp tiff bmp gif
  status      TEXT    NOT NULL DEFAULT 'unlabeled'
              CHECK (status IN ('unlabeled', 'in_progress', 'done', 'error')),
  error       TEXT,
  indexed_at  INTEGER NOT NULL
);
CREATE INDEX images_status ON images(status, path);

CREATE TABLE categories (
  id            INTEGER PRIMARY KEY AUTOINCREMENT CHECK (id >= 1),
  name          TEXT    NOT NULL UNIQUE CHECK (length(name) > 0),
  supercategory TEXT    NOT NULL DEFAULT '',
  color         TEXT    NOT NULL CHECK (color GLOB '#[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
  isthing       INTEGER NOT NULL DEFAULT 1 CHECK (isthing IN (0, 1))
);

CREATE TABLE runs (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  pipeline     TEXT    NOT NULL,
  model_bundle TEXT,
  params       TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
  image_id     INTEGER REFERENCES images(id) ON DELETE SET NULL,
  started_at   INTEGER NOT NULL,
  finished_at  INTEGER,
  status       TEXT    NOT NULL DEFAULT 'running'
               CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
  error        TEXT
);
CREATE INDEX runs_image ON runs(image_id);

CREATE TABLE annotations (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  image_id    INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  category_id INTEGER REFERENCES categories(id) ON DELETE SET NULL,  -- NULL: unassigned proposal
  rle         TEXT    NOT NULL,                   -- COCO compressed RLE counts string
  height      INTEGER NOT NULL,
  width       INTEGER NOT NULL,
  area        INTEGER NOT NULL CHECK (area >= 0),
  bbox_x      REAL    NOT NULL,
  bbox_y      REAL    NOT NULL,
  bbox_w      REAL    NOT NULL,
  bbox_h      REAL    NOT NULL,
  iscrowd     INTEGER NOT NULL DEFAULT 0 CHECK (iscrowd IN (0, 1)),
  source      TEXT    NOT NULL,
  run_id      INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  score       REAL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE INDEX annotations_image ON annotations(image_id);
CREATE INDEX annotations_category ON annotations(category_id);
CREATE INDEX annotations_run ON annotations(run_id);

CREATE TABLE prompts (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  image_id   INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  kind       TEXT    NOT NULL CHECK (kind IN ('points', 'text', 'example', 'vocabulary')),
  payload    TEXT    NOT NULL CHECK (json_valid(payload)),
  run_id     INTEGER REFERENCES runs(id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX prompts_image ON prompts(image_id);
CREATE INDEX prompts_run ON prompts(run_id);

CREATE TABLE examples (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  image_id      INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  annotation_id INTEGER NOT NULL REFERENCES annotations(id) ON DELETE CASCADE,
  label         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX examples_image ON examples(image_id);
CREATE INDEX examples_annotation ON examples(annotation_id);
`;

// Undo/redo per image. Each row is one user step: the annotations it touched, before and after, as JSON
// snapshots. Undone rows stay until a new edit on that image drops them (the redo branch).
const v2 = `
CREATE TABLE history (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  image_id   INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  label      TEXT    NOT NULL,
  changes    TEXT    NOT NULL CHECK (json_valid(changes)),   -- [{ before: Annotation | null, after: Annotation | null }]
  undone     INTEGER NOT NULL DEFAULT 0 CHECK (undone IN (0, 1)),
  created_at INTEGER NOT NULL
);
CREATE INDEX history_image ON history(image_id, undone, id);
`;

// Images whose file vanished are kept (with their masks) and flagged, not deleted: sync clients, renames and
// unmounted folders make files disappear for a while. A path is unique among present images only: a missing image
// keeps the path it was last seen at, where another file may be indexed since. SQLite cannot drop a UNIQUE
// constraint, so the table is rebuilt (with foreign keys off, or dropping it would cascade to the annotations).
const v3 = `
CREATE TABLE images_v3 (
  id            INTEGER PRIMARY KEY,
  path          TEXT    NOT NULL,                   -- relative to the project folder, '/' separators
  width         INTEGER NOT NULL DEFAULT 0,         -- after EXIF orientation; 0 when unreadable
  height        INTEGER NOT NULL DEFAULT 0,
  bytes         INTEGER NOT NULL,
  mtime_ms      REAL    NOT NULL,
  sha1          TEXT,
  format        TEXT,                               -- from the file's content: jpeg png webp tiff bmp gif
  status        TEXT    NOT NULL DEFAULT 'unlabeled'
                CHECK (status IN ('unlabeled', 'in_progress', 'done', 'error')),
  error         TEXT,
  indexed_at    INTEGER NOT NULL,
  missing_since INTEGER                             -- ms since epoch when indexing found the file gone; NULL = present
);
INSERT INTO images_v3 (id, path, width, height, bytes, mtime_ms, sha1, format, status, error, indexed_at)
  SELECT id, path, width, height, bytes, mtime_ms, sha1, format, status, error, indexed_at FROM images;
DROP TABLE images;
ALTER TABLE images_v3 RENAME TO images;
CREATE INDEX images_status ON images(status, path);
CREATE UNIQUE INDEX images_path ON images(path) WHERE missing_since IS NULL;
CREATE INDEX images_missing ON images(missing_since) WHERE missing_since IS NOT NULL;

-- Masks that no longer fit their image (the file was replaced by one of another size), kept to be restored when
-- the image has that size again. Ids are kept: AUTOINCREMENT never hands them out again.
CREATE TABLE set_aside (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  image_id     INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  width        INTEGER NOT NULL,                    -- the image size the mask fits
  height       INTEGER NOT NULL,
  annotation   TEXT    NOT NULL CHECK (json_valid(annotation)),   -- the annotation as the store hands it out
  examples     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(examples)), -- [{ id, label }] that pointed at it
  reason       TEXT    NOT NULL,
  set_aside_at INTEGER NOT NULL
);
CREATE INDEX set_aside_image ON set_aside(image_id, width, height);

-- Undo steps recorded at another size than the image has now (the indexer used to drop such masks and keep their
-- steps) would put masks of the wrong size back: they go.
DELETE FROM history WHERE EXISTS (
  SELECT 1 FROM images i, json_each(history.changes) c
  WHERE i.id = history.image_id
    AND (coalesce(json_extract(c.value, '$.before.width'), json_extract(c.value, '$.after.width')) != i.width
      OR coalesce(json_extract(c.value, '$.before.height'), json_extract(c.value, '$.after.height')) != i.height)
);
`;

// A run either proposes masks (segment everything: its unassigned masks wait for a labeler) or records what a labeler
// accepted (a click). Proposals are told apart by their run, whichever pipeline made them; before, only DiffSeg's
// segment-everything runs proposed. Runs are written when they end, with their masks, so one left 'running' was cut
// short by an older version's crash: it is marked as such (resume only skips finished runs).
const v4 = `
ALTER TABLE runs ADD COLUMN proposes INTEGER NOT NULL DEFAULT 0 CHECK (proposes IN (0, 1));
UPDATE runs SET proposes = 1 WHERE pipeline = 'diffseg';
UPDATE runs SET status = 'failed', error = 'interrupted: the process ended before the run finished', finished_at = started_at
  WHERE status = 'running';
`;

// Per-object attributes (occluded, truncated, a note…): each category defines its own, and a mask holds values for
// its category's attributes as JSON by name (COCO's `attributes` as CVAT writes it). A mask without a value for an
// attribute has the attribute's default, so defining an attribute touches no mask.
const v5 = `
CREATE TABLE attribute_defs (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  category_id   INTEGER NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
  name          TEXT    NOT NULL CHECK (length(name) > 0),
  type          TEXT    NOT NULL CHECK (type IN ('boolean', 'text', 'select')),
  options       TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(options)),   -- the choices of a 'select'
  default_value TEXT    NOT NULL CHECK (json_valid(default_value)),          -- JSON: true/false or a string
  UNIQUE (category_id, name)
);
ALTER TABLE annotations ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes));
`;

// A proposal found as a named category (the vocabulary modes) suggests it: accepting the proposal gives it that
// category. Keyed by the annotation without a foreign key, so a proposal that undo removes and redo brings back (with
// its id) suggests its category again; the category's deletion removes its suggestions. The project's vocabulary
// (and any later per-project setting) is a JSON value by key.
const v6 = `
CREATE TABLE suggestions (
  annotation_id INTEGER PRIMARY KEY,
  category_id   INTEGER NOT NULL REFERENCES categories(id) ON DELETE CASCADE
);
CREATE INDEX suggestions_category ON suggestions(category_id);
CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL CHECK (json_valid(value))
);
`;

// Boxes and points beside masks: a box is its bbox and a point its bbox's x, y (w = h = 0), both without an RLE ('').
// Every existing annotation is a mask.
const v7 = `
ALTER TABLE annotations ADD COLUMN shape TEXT NOT NULL DEFAULT 'mask' CHECK (shape IN ('mask', 'box', 'point'));
`;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'images, categories, annotations, prompts, examples, runs',
    up(db) {
      db.exec(v1);
      db.pragma(`application_id = ${APPLICATION_ID}`);
    },
  },
  { version: 2, description: 'undo/redo history per image', up: (db) => db.exec(v2) },
  { version: 3, description: 'missing images kept with their masks; masks set aside', up: (db) => db.exec(v3), rebuildsTables: true },
  { version: 4, description: 'runs that propose masks; runs cut short marked failed', up: (db) => db.exec(v4) },
  { version: 5, description: 'attributes defined per category, their values per annotation', up: (db) => db.exec(v5) },
  { version: 6, description: 'categories suggested by proposals; project settings (the vocabulary)', up: (db) => db.exec(v6) },
  { version: 7, description: 'annotations that are boxes or points', up: (db) => db.exec(v7) },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Brings the database up to LATEST_VERSION, one transaction per step. Returns the version reached. */
export function migrate(db: Database.Database): number {
  const current = () => db.pragma('user_version', { simple: true }) as number;
  for (const m of MIGRATIONS) {
    if (m.version <= current()) continue;
    // PRAGMA foreign_keys is a no-op inside a transaction, so it is switched around it.
    const foreignKeys = db.pragma('foreign_keys', { simple: true }) as number;
    if (m.rebuildsTables) {
      db.pragma('foreign_keys = OFF');
      // Inside a caller's transaction the pragma does nothing, and dropping the old table would cascade.
      if (db.pragma('foreign_keys', { simple: true })) throw new Error(`schema version ${m.version} cannot be applied inside a transaction`);
    }
    try {
      db.transaction(() => {
        // Re-read under the write lock: another process may have migrated while we waited for it.
        if (m.version <= current()) return;
        m.up(db);
        if (m.rebuildsTables && (db.pragma('foreign_key_check') as unknown[]).length > 0) {
          throw new Error(`schema version ${m.version} would break foreign keys`);
        }
        db.pragma(`user_version = ${m.version}`);
      }).immediate();
    } finally {
      db.pragma(`foreign_keys = ${foreignKeys}`);
    }
  }
  return current();
}
