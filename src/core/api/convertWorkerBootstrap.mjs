// Starts convertWorker.ts when DiffLabel runs from TypeScript source (tests, web mode via tsx): worker threads do not
// inherit the parent's loader hooks, so tsx is registered here before importing the .ts entry.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./convertWorker.ts', import.meta.url).href);
