// A project's database as one hash: every table's rows, so "a failed import changes nothing" is one comparison.
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import type { ProjectStore } from '../../src/core/project';

export function snapshot(s: ProjectStore): string {
  const db = new Database(s.dbPath, { readonly: true });
  try {
    const hash = createHash('sha256');
    for (const t of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[])
      hash.update(`${t}\n${JSON.stringify(db.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).all())}\n`);
    return hash.digest('hex');
  } finally {
    db.close();
  }
}
