// Worker-thread side of WorkerSessionHost: one SessionManager, driven by messages; inputs and outputs
// travel as transferred buffers. Errors are answered, never thrown out of the thread.
import { parentPort } from 'node:worker_threads';
import { SessionManager } from './sessionManager';
import { transferables, type Request, type Response } from './workerProtocol';

if (!parentPort) throw new Error('sessionWorker must run in a worker thread');
const port = parentPort;
let manager: SessionManager | null = null;

function mgr(): SessionManager {
  if (!manager) throw new Error('session worker not initialised');
  return manager;
}

async function handle(req: Request): Promise<unknown> {
  switch (req.op) {
    case 'init':
      manager = new SessionManager(req.options);
      return null;
    case 'register':
      return mgr().register(req.key, req.spec);
    case 'load':
      return mgr().load(req.key);
    case 'run':
      return mgr().run(req.key, req.feeds, req.outputNames);
    case 'release':
      return mgr().release(req.key);
    case 'sessions':
      return mgr().sessions();
    case 'dispose':
      return mgr().dispose();
  }
}

port.on('message', (req: Request) => {
  handle(req).then(
    (result) => {
      const res: Response = { id: req.id, providers: manager?.providerStatus() ?? null, ok: true, result };
      const transfer = req.op === 'run' ? transferables(result as never) : [];
      port.postMessage(res, transfer);
    },
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      const res: Response = { id: req.id, providers: manager?.providerStatus() ?? null, ok: false, error: { name: e.name, message: e.message } };
      port.postMessage(res);
    },
  );
});
