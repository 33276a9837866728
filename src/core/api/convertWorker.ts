// One checkpoint conversion in a worker thread (convertInWorker.ts): the converter's graph building and writing are
// synchronous, minutes long for SD 1.5, and the back end must keep answering meanwhile. A cancel is a flag the parent
// sets in shared memory, read before each step: the converter then stops and removes its temporary folder itself.
import { parentPort, workerData } from 'node:worker_threads';
import { BundleError, convertCheckpoint, readConfigsFolder } from '../ml/bundle';
import { unetVariants } from '../pipelines/registry';
import type { ConvertMessage, ConvertRequest } from './convertInWorker';

if (!parentPort) throw new Error('convertWorker must run in a worker thread');
const port = parentPort;
const { request: r, cancel } = workerData as { request: ConvertRequest; cancel: Int32Array };
const post = (m: ConvertMessage) => port.postMessage(m);

async function run(): Promise<void> {
  try {
    const { dir, manifest } = await convertCheckpoint(r.source, r.out, {
      name: r.name, licence: r.licence, fp16: r.fp16, tokenizer: r.tokenizer, configs: r.configs ? readConfigsFolder(r.configs) : undefined,
      variants: unetVariants(),
      onProgress: (done, total, step) => {
        if (Atomics.load(cancel, 0)) throw new BundleError('cancelled');
        post({ type: 'progress', done, total, step });
      },
    });
    post({ type: 'done', dir, name: manifest.name, warnings: manifest.warnings });
  } catch (e) {
    // The converter's own errors say what is wrong with the file; anything else is wrapped by it already.
    post({ type: 'failed', message: e instanceof Error ? e.message : String(e) });
  }
}

void run();
