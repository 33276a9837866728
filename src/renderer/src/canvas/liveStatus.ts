// Values that change on every mouse move or frame (cursor pixel, zoom): the status bar subscribes to them
// directly, so moving the mouse re-renders one small component, not the whole workplace.
import { useSyncExternalStore } from 'react';

export interface Live {
  cursor: { x: number; y: number } | null;
  scale: number;
}

let state: Live = { cursor: null, scale: 1 };
const listeners = new Set<() => void>();

export function setLive(patch: Partial<Live>): void {
  const next = { ...state, ...patch };
  if (next.scale === state.scale && next.cursor?.x === state.cursor?.x && next.cursor?.y === state.cursor?.y) return;
  state = next;
  for (const l of listeners) l();
}

export function useLive(): Live {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => state,
  );
}
