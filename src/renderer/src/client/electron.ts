// The contract over Electron IPC: the preload exposes one function per method and an event subscription.
import type { ApiErrorBody, Client, EventName, EventPayload, MethodName } from '../../../shared/contract';
import { ClientError } from './errors';

export interface PreloadBridge {
  methods: Record<MethodName, (input: unknown) => Promise<{ ok: true; result: unknown } | { ok: false; error: ApiErrorBody }>>;
  on(event: EventName, listener: (payload: unknown) => void): () => void;
}

export function createElectronClient(bridge: PreloadBridge): Client {
  return {
    async call(method: MethodName, input: unknown) {
      const r = await bridge.methods[method](input ?? {});
      if (!r.ok) throw new ClientError(r.error);
      return r.result as never;
    },
    on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void) {
      return bridge.on(event, listener as (p: unknown) => void);
    },
    // The UI is served from difflabel://app/, which also serves these paths.
    thumbnailUrl: (id) => `/thumbs/${id}`,
    imageUrl: (id) => `/images/${id}`,
  };
}
