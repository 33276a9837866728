// DiffSeg from the UI: the calls (click, accept, segment everything), the model choice (remembered in
// localStorage, shared by every component through a tiny store) and the batch-start helper used by the canvas,
// the image strip and the grid.
import { useEffect, useState, useSyncExternalStore } from 'react';
import type { MethodInput, MethodOutput } from '../../../shared/contract';
import { client } from '../client';

export type ClickPoint = MethodInput<'diffseg.click'>['points'][number];
export type ClickAnswer = MethodOutput<'diffseg.click'>;

/** `model` omitted: the back end takes the first installed bundle (or says how to convert one). */
const withModel = <T extends object>(input: T, model: string) => (model ? { ...input, model } : input);

export const diffseg = {
  click: (imageId: number, points: ClickPoint[], model: string) => client.call('diffseg.click', withModel({ imageId, points }, model)),
  accept: (imageId: number, points: ClickPoint[], categoryId: number | null, model: string) =>
    client.call('diffseg.acceptClick', withModel({ imageId, points, categoryId }, model)),
  segment: (imageIds: number[] | undefined, model: string) => client.call('diffseg.segment', withModel(imageIds ? { imageIds } : {}, model)),
};

// ---- the model choice --------------------------------------------------------------------------------------
const KEY = 'difflabel.diffsegModel';
const listeners = new Set<() => void>();
let chosen = localStorage.getItem(KEY) ?? '';

export function setDiffSegModel(model: string): void {
  chosen = model;
  if (model) localStorage.setItem(KEY, model);
  else localStorage.removeItem(KEY);
  for (const l of listeners) l();
}

/** The chosen model: '' (automatic: the back end's first installed bundle), a bundle name, or 'fixture'. */
export function useDiffSegModel(): string {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => chosen,
  );
}

export type ModelEntry = MethodOutput<'models.list'>[number];

/** Installed bundles plus the fixture, fetched once per mount. */
export function useModels(): { models: ModelEntry[] | null; error: string | null } {
  const [models, setModels] = useState<ModelEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    client.call('models.list', {}).then(setModels, (e: Error) => setError(e.message));
  }, []);
  return { models, error };
}

/** The value a model entry is chosen by: the fixture by its name 'fixture', a bundle by its folder (unique). */
export const modelValue = (m: ModelEntry): string => (m.fixture ? 'fixture' : (m.dir ?? m.name));

/** Every image id matching the strip/grid filter (paged through images.list), errors left out. */
export async function filteredImageIds(filter: { status?: string; search?: string }): Promise<number[]> {
  const ids: number[] = [];
  const PAGE = 5000;
  for (let offset = 0; ; offset += PAGE) {
    const r = await client.call('images.list', { status: filter.status as never, search: filter.search || undefined, offset, limit: PAGE });
    for (const i of r.items) if (i.status !== 'error') ids.push(i.id);
    if (offset + PAGE >= r.total || !r.items.length) return ids;
  }
}
