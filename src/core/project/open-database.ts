// Opening `<folder>/.difflabel/project.sqlite` safely. Everything about an existing file is asked of SQLite itself
// (its header fields may be stale while the data sits in the WAL, e.g. after a crash), and nothing is written until
// SQLite has said the file is a healthy DiffLabel database of a version we know. Failures are told apart: a file
// SQLite calls damaged, another program's database, a newer schema, a full disk, a lock, a read-only disk.
import Database from 'better-sqlite3';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { ProjectOpenError, type ProjectOpenErrorCode } from './errors';
import { APPLICATION_ID, LATEST_VERSION, migrate } from './migrations';

export const PROJECT_DIR = '.difflabel';
export const DB_FILE = 'project.sqlite';
/** How long a write waits for another process's transaction (BEGIN IMMEDIATE applies it to every write). */
export const BUSY_TIMEOUT_MS = 5000;

export interface OpenedDatabase {
  db: Database.Database;
  folder: string;
  dbPath: string;
  schemaVersion: number;
  readonly: boolean;
  /** Call after closing db: removes the private copy a read-only open may have made. */
  cleanup(): void;
}

export interface OpenDatabaseOptions {
  /**
   * Open without writing anything (stats, export): works on a read-only disk and never creates a project.
   * An older schema cannot be upgraded this way and is refused.
   */
  readonly?: boolean;
}

export function openProjectDatabase(folderArg: string, opts: OpenDatabaseOptions = {}): OpenedDatabase {
  const folder = resolve(folderArg);
  const readonly = opts.readonly === true;
  let st;
  try {
    st = statSync(folder);
  } catch (e) {
    throw new ProjectOpenError('not-a-folder', folder, `Cannot open project: ${folder} does not exist`, { cause: e });
  }
  if (!st.isDirectory()) throw new ProjectOpenError('not-a-folder', folder, `Cannot open project: ${folder} is not a folder`);

  const dir = join(folder, PROJECT_DIR);
  const dbPath = join(dir, DB_FILE);
  if (!readonly) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw refusal(dir, e);
    }
  }
  let exists = false;
  try {
    if (!statSync(dbPath).isFile()) throw new ProjectOpenError('corrupt', dbPath, `Cannot open project database ${dbPath}: it is not a file`);
    exists = true;
  } catch (e) {
    if (e instanceof ProjectOpenError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw refusal(dbPath, e);
  }
  if (!exists && readonly) {
    throw new ProjectOpenError('not-a-project', folder, `Cannot open project: ${folder} has no DiffLabel project yet (run \`difflabel index\` on it first)`);
  }

  if (readonly) return openReadOnly(folder, dbPath);
  // SQLite would quietly open an unwritable file read-only, and every edit would then fail: say so up front.
  if (!writable(dir) || (exists && !writable(dbPath))) {
    throw refusal(dbPath, Object.assign(new Error('not writable'), { code: 'EACCES' }));
  }
  const db = connect(dbPath, false);
  try {
    if (exists) inspect(db, dbPath);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL'); // WAL + FULL: each commit is fsynced before the call returns
    db.pragma('foreign_keys = ON');
    const schemaVersion = migrate(db);
    return { db, folder, dbPath, schemaVersion, readonly, cleanup: () => {} };
  } catch (e) {
    db.close();
    throw refusal(dbPath, e);
  }
}

function connect(path: string, readonly: boolean): Database.Database {
  try {
    return new Database(path, { readonly, fileMustExist: readonly, timeout: BUSY_TIMEOUT_MS });
  } catch (e) {
    throw refusal(path, e);
  }
}

/**
 * A WAL database can be read in place only where SQLite may create its -shm index beside it. On a read-only disk
 * without one (a project that was closed cleanly), it is read from a private copy in the temp folder instead.
 */
function openReadOnly(folder: string, dbPath: string): OpenedDatabase {
  let copy: string | null = null;
  let db: Database.Database | undefined;
  try {
    let version: number;
    try {
      db = connect(dbPath, true);
      version = inspect(db, dbPath);
    } catch (e) {
      if (sqliteCode(e) !== 'SQLITE_CANTOPEN' || writable(dirname(dbPath))) throw e;
      db?.close();
      copy = mkdtempSync(join(tmpdir(), 'difflabel-readonly-'));
      copyFileSync(dbPath, join(copy, DB_FILE));
      if (existsSync(`${dbPath}-wal`)) copyFileSync(`${dbPath}-wal`, join(copy, `${DB_FILE}-wal`));
      db = connect(join(copy, DB_FILE), true);
      version = inspect(db, dbPath);
    }
    if (version < LATEST_VERSION) {
      throw new ProjectOpenError('read-only', dbPath,
        `Cannot open project database ${dbPath} read-only: it was written by an older DiffLabel (schema ${version}) and must be upgraded once, which needs write access`);
    }
    const dir = copy;
    return { db, folder, dbPath, schemaVersion: version, readonly: true, cleanup: () => dir && rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    db?.close();
    if (copy) rmSync(copy, { recursive: true, force: true });
    throw refusal(dbPath, e);
  }
}

/** SQLite's error code, also when it is wrapped in a refusal already. */
function sqliteCode(e: unknown): string {
  const cause = e instanceof ProjectOpenError ? e.cause : e;
  return String((cause as { code?: unknown })?.code ?? '');
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks an existing file through SQLite (which reads the WAL too) without writing to it; returns its schema version.
 * A zero-byte file is an empty database to SQLite: nothing to lose, it becomes a new project.
 */
function inspect(db: Database.Database, dbPath: string): number {
  const version = db.pragma('user_version', { simple: true }) as number;
  const appId = db.pragma('application_id', { simple: true }) as number;
  const tables = (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n;
  if (appId !== APPLICATION_ID && (appId !== 0 || version !== 0 || tables > 0)) {
    throw new ProjectOpenError('foreign', dbPath,
      `Cannot open project database ${dbPath}: it is an SQLite database of another program, not a DiffLabel project (left untouched; move it away to start a new project here)`);
  }
  if (version > LATEST_VERSION) {
    throw new ProjectOpenError('newer-version', dbPath,
      `Cannot open project database ${dbPath}: schema version ${version} is newer than this DiffLabel supports (${LATEST_VERSION}); it was written by a newer DiffLabel: update DiffLabel to open it`);
  }
  const problems = (db.pragma('quick_check') as Array<{ quick_check: string }>).map((r) => r.quick_check).filter((m) => m !== 'ok');
  if (problems.length > 0) throw corrupt(dbPath, `SQLite's integrity check failed: ${problems.slice(0, 3).join('; ')}`);
  return version;
}

function corrupt(dbPath: string, why: string): ProjectOpenError {
  return new ProjectOpenError('corrupt', dbPath,
    `Cannot open project database ${dbPath}: ${why}. The file was left untouched; restore it from a backup, or move it away to start a new project`);
}

/** What went wrong opening a project, in the user's terms; only SQLite's own verdict makes a file "corrupt". */
export function refusal(path: string, e: unknown): ProjectOpenError {
  if (e instanceof ProjectOpenError) return e;
  // SQLite cannot say why it could not open a file; an unwritable folder (for the WAL's companions) is the usual cause.
  const cantOpen = sqliteCode(e) === 'SQLITE_CANTOPEN';
  const kind = cantOpen && !writable(dirname(path)) ? 'read-only' : classifyStorageError(e);
  const detail = (e as Error)?.message ?? String(e);
  const say = (code: ProjectOpenErrorCode, message: string) => new ProjectOpenError(code, path, message, { cause: e });
  switch (kind) {
    case 'corrupt':
      return corrupt(path, `SQLite reports it is not a usable database (${detail})`);
    case 'disk-full':
      return say('disk-full', `Cannot open project: the disk holding ${path} is full. Free some space and open it again; nothing was changed`);
    case 'locked':
      return say('locked', `Cannot open project: ${path} is locked by another program (another DiffLabel busy writing, or a backup or sync tool). Wait for it or close it, then open again`);
    case 'read-only':
      return say('read-only', `Cannot open project for editing: ${path} cannot be written (read-only disk or no permission). \`difflabel stats\` and \`difflabel export\` can still read it; copy the folder somewhere writable to edit`);
    default:
      return say('io-error', `Cannot open project: ${path}: ${detail}`);
  }
}

export type StorageErrorKind = 'corrupt' | 'disk-full' | 'locked' | 'read-only' | 'io-error';

/** Sorts SQLite's and the file system's error codes into what a user can act on. */
export function classifyStorageError(e: unknown): StorageErrorKind {
  const code = String((e as { code?: unknown })?.code ?? '');
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return 'corrupt';
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') return 'disk-full';
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'locked';
  if (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH' || code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return 'read-only';
  return 'io-error';
}
