// Runs the converter (ml/bundle convertCheckpoint, with every pipeline's UNet variants, as `models convert` does) in a
// worker thread, with progress and cancel. A cancelled conversion stops before its next step and leaves nothing; a
// worker that dies mid-step (out of memory) leaves the converter's temporary folder, which is removed here.
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { BundleError, partialPrefix } from '../ml/bundle';

export interface ConvertRequest {
  source: string;
  /** The bundle folder to create: it must not exist. */
  out: string;
  name: string;
  licence?: string;
  fp16: boolean;
  tokenizer?: string;
  /** A folder of unet/, vae/, text_encoder/ config.json for a single file that is not SD 1.5. */
  configs?: string;
}

export type ConvertMessage =
  | { type: 'progress'; done: number; total: number; step: string }
  | { type: 'done'; dir: string; name: string; warnings: string[] }
  | { type: 'failed'; message: string };

function workerScript(): URL {
  // From source the module is a .ts file that plain Node cannot start as a worker.
  return import.meta.url.endsWith('.ts') ? new URL('./convertWorkerBootstrap.mjs', import.meta.url) : new URL('./convertWorker.js', import.meta.url);
}

function removePartial(out: string): void {
  const prefix = partialPrefix(out);
  for (const f of readdirSync(dirname(out)).filter((n) => n.startsWith(prefix))) rmSync(join(dirname(out), f), { recursive: true, force: true });
}

/** The bundle written; a BundleError saying what is wrong with the source, or 'cancelled' once `signal` aborts. */
export function convertInWorker(
  request: ConvertRequest,
  o: { signal: AbortSignal; onProgress(done: number, total: number, step: string): void },
): Promise<{ dir: string; name: string; warnings: string[] }> {
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(workerScript(), { workerData: { request, cancel } });
  const onAbort = () => Atomics.store(cancel, 0, 1);
  if (o.signal.aborted) onAbort();
  else o.signal.addEventListener('abort', onAbort, { once: true });
  return new Promise((resolve, reject) => {
    let settled = false;
    const stopped = (why: string) => {
      if (settled) return;
      settled = true;
      try {
        removePartial(request.out);
      } catch {
        // The models folder itself is gone or unreadable: there is nothing of ours left in it.
      }
      reject(new BundleError(`the conversion of ${request.source} stopped: ${why}`));
    };
    worker.on('message', (m: ConvertMessage) => {
      if (m.type === 'progress') o.onProgress(m.done, m.total, m.step);
      else if (!settled) {
        settled = true;
        if (m.type === 'done') resolve(m);
        else reject(new BundleError(m.message));
      }
    });
    worker.on('error', (e) => stopped(e.message));
    worker.on('exit', (code) => {
      o.signal.removeEventListener('abort', onAbort);
      stopped(`its worker thread exited (code ${code})`);
    });
  });
}
