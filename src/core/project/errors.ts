// Errors callers can tell apart by `code` (the API server maps them to responses).

export type ProjectOpenErrorCode = 'newer-version' | 'corrupt' | 'not-a-folder' | 'not-writable';

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

export type StoreErrorCode = 'not-found' | 'invalid' | 'conflict';

/** A store call was refused (bad input, missing id, duplicate name); nothing was written. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string) {
    super(message);
    this.name = 'StoreError';
    this.code = code;
  }
}
