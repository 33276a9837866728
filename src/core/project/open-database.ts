// Opening `<folder>/.difflabel/project.sqlite` safely: an existing file is inspected read-only first, and a
// corrupt, foreign or newer-version file is refused before anything could write to it.
import Database from 'better-sqlite3';
import { accessSync, closeSync, constants, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ProjectOpenError } from './errors';
import { APPLICATION_ID, LATEST_VERSION, migrate } from './migrations';

export const PROJECT_DIR = '.difflabel';
export const DB_FILE = 'project.sqlite';
const BUSY_TIMEOUT_MS = 5000;
const SQLITE_MAGIC = 'SQLite format 3\0';

export interface OpenedDatabase {
  db: Database.Database;
  folder: string;
  dbPath: string;
  schemaVersion: number;
}

export function openProjectDatabase(folderArg: string): OpenedDatabase {
  const folder = resolve(folderArg);
  let st;
  try {
    st = statSync(folder);
  } catch (e) {
    throw new ProjectOpenError('not-a-folder', folder, `Cannot open project: ${folder} does not exist`, { cause: e });
  }
  if (!st.isDirectory()) throw new ProjectOpenError('not-a-folder', folder, `Cannot open project: ${folder} is not a folder`);

  const dir = join(folder, PROJECT_DIR);
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new ProjectOpenError('not-writable', dir, `Cannot open project: cannot write to ${dir} (${(e as Error).message})`, { cause: e });
  }

  const dbPath = join(dir, DB_FILE);
  let exists = false;
  try {
    const isFile = statSync(dbPath).isFile();
    exists = true;
    if (!isFile) fail('corrupt', dbPath, 'it is not a file');
  } catch (e) {
    if (e instanceof ProjectOpenError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (exists) {
    try {
      accessSync(dbPath, constants.R_OK | constants.W_OK);
    } catch (e) {
      throw new ProjectOpenError('not-writable', dbPath, `Cannot open project: ${dbPath} is not writable`, { cause: e });
    }
    inspectExisting(dbPath);
  }

  const db = new Database(dbPath, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL'); // WAL + FULL: each commit is fsynced before the call returns
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const schemaVersion = migrate(db);
    return { db, folder, dbPath, schemaVersion };
  } catch (e) {
    db.close();
    throw e;
  }
}

function fail(code: 'corrupt' | 'newer-version', path: string, why: string): never {
  const hint =
    code === 'newer-version'
      ? 'it was written by a newer DiffLabel; update DiffLabel to open it'
      : 'the file was left untouched; restore it from a backup or move it away to start a new project';
  throw new ProjectOpenError(code, path, `Cannot open project database ${path}: ${why} (${hint})`);
}

/** Read-only checks of an existing database file; throws ProjectOpenError, never writes. */
function inspectExisting(dbPath: string): void {
  const size = statSync(dbPath).size;
  if (size === 0) return; // SQLite treats an empty file as an empty database: nothing to lose
  const head = Buffer.alloc(100);
  const fd = openSync(dbPath, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, 100, 0);
  } finally {
    closeSync(fd);
  }
  if (n < 100 || head.toString('latin1', 0, 16) !== SQLITE_MAGIC) fail('corrupt', dbPath, 'not an SQLite database');
  // The header holds user_version (offset 60) and application_id (68): checked without opening the file.
  const version = head.readInt32BE(60);
  const appId = head.readInt32BE(68);
  if (version > LATEST_VERSION && appId === APPLICATION_ID) {
    fail('newer-version', dbPath, `schema version ${version} is newer than this DiffLabel supports (${LATEST_VERSION})`);
  }

  // A read-only connection writes nothing to the database file (in WAL mode SQLite may add empty -wal/-shm files).
  let ro: Database.Database | undefined;
  try {
    ro = new Database(dbPath, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    const tables = ro.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number };
    if (appId !== APPLICATION_ID && (appId !== 0 || version !== 0 || tables.n > 0)) {
      fail('corrupt', dbPath, 'not a DiffLabel project database');
    }
    const check = ro.pragma('quick_check', { simple: false }) as Array<{ quick_check: string }>;
    const problems = check.map((r) => r.quick_check).filter((m) => m !== 'ok');
    if (problems.length > 0) fail('corrupt', dbPath, `integrity check failed: ${problems.slice(0, 3).join('; ')}`);
  } catch (e) {
    if (e instanceof ProjectOpenError) throw e;
    const code = (e as { code?: string }).code ?? '';
    // A hot journal/WAL that only a writer may recover: let the read-write open recover it as SQLite intends.
    if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN')) return;
    fail('corrupt', dbPath, (e as Error).message);
  } finally {
    ro?.close();
  }
}
