export { ProjectOpenError, StoreError } from './errors';
export type { ProjectOpenErrorCode, StoreErrorCode } from './errors';
export { LATEST_VERSION, MIGRATIONS } from './migrations';
export { DB_FILE, PROJECT_DIR } from './open-database';
export { CATEGORY_PALETTE } from './palette';
export { ProjectStore } from './store';
export type { IndexEntry } from './store';
export * from './types';
