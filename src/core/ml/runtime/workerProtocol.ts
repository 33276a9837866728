// Messages between WorkerSessionHost and its worker thread, and the transfer-list helper.
import type { SessionManagerOptions } from './sessionManager';
import type { Feeds, ModelSpec, Outputs, ProviderStatus } from './types';

export type Request =
  | { id: number; op: 'init'; options: SessionManagerOptions }
  | { id: number; op: 'register'; key: string; spec: ModelSpec | string }
  | { id: number; op: 'load'; key: string }
  | { id: number; op: 'run'; key: string; feeds: Feeds; outputNames?: string[] }
  | { id: number; op: 'release'; key?: string }
  | { id: number; op: 'sessions' }
  | { id: number; op: 'dispose' };

/** Every answer carries the worker's current provider status, so the host can report it without a round trip. */
export type Response = { id: number; providers: ProviderStatus | null } & (
  | { ok: true; result: unknown }
  | { ok: false; error: { name: string; message: string } }
);

/** Buffers that can be moved rather than copied: typed-array views covering a whole, non-shared ArrayBuffer. */
export function transferables(tensors: Feeds | Outputs): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  const out: ArrayBuffer[] = [];
  for (const t of Object.values(tensors)) {
    const buf = t.data.buffer;
    if (!(buf instanceof ArrayBuffer) || t.data.byteOffset !== 0 || t.data.byteLength !== buf.byteLength) continue;
    if (seen.has(buf)) {
      // two tensors on one buffer: copying both is the only safe choice
      out.splice(out.indexOf(buf), 1);
      continue;
    }
    seen.add(buf);
    out.push(buf);
  }
  return out;
}
