// Errors callers can tell apart by `code` (the API server maps them to responses).

export type ProjectOpenErrorCode =
  | 'not-a-folder'
  | 'not-a-project' // read-only open of a folder that has no project yet
  | 'corrupt' // SQLite itself says the file is damaged or not a database
  | 'foreign' // a healthy SQLite database of another program
  | 'newer-version'
  | 'disk-full'
  | 'locked'
  | 'read-only'
  | 'io-error';

/** Opening a project was refused; the database file was left exactly as it was. */
export class ProjectOpenError extends Error {
  readonly code: ProjectOpenErrorCode;
  readonly path: string;
  constructor(code: ProjectOpenErrorCode, path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProjectOpenError';
    this.code = code;
    this.path = path;
  }
}

export type StoreErrorCode =
  | 'not-found'
  | 'invalid'
  | 'conflict'
  // the storage failed; nothing was written
  | 'disk-full'
  | 'locked'
  | 'read-only'
  | 'corrupt'
  | 'io-error';

/** A store call was refused (bad input, missing id, duplicate name); nothing was written. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
}
