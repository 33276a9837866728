// The images selected in the grid, shared by the grid (which selects them), the batch button and the pipeline panel
// (which run on them). Renderer state only, kept while the labeler opens an image and comes back: the back end never
// hears of a selection, only of the image ids a run is given.
import { useMemo } from 'react';
import type { Image } from '../../shared/contract';
import { segmentable, store } from './canvas/pipelines';

export interface Selection {
  /** Selected image id → whether it has pixels to segment (a run leaves the others out), in the grid's order. */
  ids: ReadonlyMap<number, boolean>;
  /** The image clicked last and its position in the grid: where a Shift range starts, what Enter opens. */
  anchor: { index: number; id: number } | null;
  /** The grid filter it was made in: positions (and so ranges) mean nothing under another one. */
  filterKey: string;
}

const EMPTY: Selection = { ids: new Map(), anchor: null, filterKey: '' };
const selection = store<Selection>(EMPTY);

export const useSelection = (): Selection => selection.use();
export const clearSelection = (): void => selection.set(EMPTY);
/** Puts back a selection held before (a double-click opens an image without the selection its first click made). */
export const restoreSelection = (s: Selection): void => selection.set(s);

const entries = (images: Image[]) => images.map((i) => [i.id, segmentable(i)] as const);

/** A plain click: this image only. */
export function selectOnly(img: Image, index: number, filterKey: string): void {
  selection.set({ ids: new Map(entries([img])), anchor: { index, id: img.id }, filterKey });
}

/** Ctrl/Cmd+click: this image in or out, the rest kept. */
export function toggleSelected(img: Image, index: number, filterKey: string): void {
  const s = selection.get();
  const ids = new Map(s.filterKey === filterKey ? s.ids : []);
  if (ids.has(img.id)) ids.delete(img.id);
  else ids.set(img.id, segmentable(img));
  selection.set({ ids, anchor: { index, id: img.id }, filterKey });
}

/** Shift+click (the images from the anchor to the one clicked) or Ctrl+A (every image shown): these, the anchor kept. */
export function selectImages(images: Image[], filterKey: string): void {
  const s = selection.get();
  selection.set({ ids: new Map(entries(images)), anchor: s.filterKey === filterKey ? s.anchor : null, filterKey });
}

/** The selection's size, and the ids a run on it takes (those with pixels to segment). */
export function useSelectedForRun(): { selected: number; runIds: number[] } {
  const { ids } = useSelection();
  return useMemo(() => ({ selected: ids.size, runIds: [...ids].filter(([, ok]) => ok).map(([id]) => id) }), [ids]);
}
