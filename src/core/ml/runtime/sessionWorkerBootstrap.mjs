// Starts sessionWorker.ts when DiffLabel runs from TypeScript source (tests, CLI via tsx): worker threads
// do not inherit the parent's loader hooks, so tsx is registered here before importing the .ts entry.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./sessionWorker.ts', import.meta.url).href);
