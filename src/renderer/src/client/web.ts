// The contract over HTTP + WebSocket (web mode). The token arrives once in the page URL; the server then
// keeps it in an HttpOnly cookie, so requests here carry nothing themselves.
import type { ApiErrorBody, Client, EventName, EventPayload, MethodName } from '../../../shared/contract';
import { ClientError } from './errors';

export function createWebClient(base = ''): Client {
  const listeners = new Map<string, Set<(p: unknown) => void>>();
  let ws: WebSocket | null = null;
  let retry = 500;

  const connect = () => {
    const url = new URL(`${base}/ws`, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(url);
    ws.onopen = () => (retry = 500);
    ws.onmessage = (m) => {
      const { event, payload } = JSON.parse(String(m.data)) as { event: string; payload: unknown };
      for (const l of listeners.get(event) ?? []) l(payload);
    };
    // The server may restart; keep trying with back-off so events resume by themselves.
    ws.onclose = () => setTimeout(connect, (retry = Math.min(retry * 2, 10_000)));
  };
  connect();

  return {
    async call(method: MethodName, input: unknown) {
      const res = await fetch(`${base}/api/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(input ?? {}),
        credentials: 'same-origin',
      });
      const body = (await res.json().catch(() => ({}))) as { result?: unknown; error?: ApiErrorBody; message?: string };
      if (!res.ok) throw new ClientError(body.error ?? { code: 'internal', message: body.message ?? `HTTP ${res.status}` });
      return body.result as never;
    },
    on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void) {
      const set = listeners.get(event) ?? new Set();
      listeners.set(event, set);
      set.add(listener as (p: unknown) => void);
      return () => set.delete(listener as (p: unknown) => void);
    },
    thumbnailUrl: (id) => `${base}/thumbs/${id}`,
    imageUrl: (id) => `${base}/images/${id}`,
  };
}
