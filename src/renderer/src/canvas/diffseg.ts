// DiffSeg from the UI: the calls (click, accept, segment everything), the model choice and the labeler's settings
// (both remembered in localStorage, shared by every component through tiny stores) and the batch-start helper used
// by the canvas, the image strip and the grid.
import { useEffect, useState, useSyncExternalStore } from 'react';
import type { MethodInput, MethodOutput } from '../../../shared/contract';
import { client, ClientError } from '../client';

export type ClickPoint = MethodInput<'diffseg.click'>['points'][number];
export type ClickAnswer = MethodOutput<'diffseg.click'>;

/**
 * `model` omitted: the back end takes the first installed bundle (or says how to convert one). The labeler's
 * settings (useDiffSegParams) go with every call; none set: the back end's defaults.
 */
const withModel = <T extends object>(input: T, model: string) => ({
  ...input,
  ...(model ? { model } : {}),
  ...(Object.keys(params).length ? { params } : {}),
});

/** What the model choice calls the test fixture; the no-model note names it the same way. */
export const FIXTURE_LABEL = 'Test fixture (not a real segmenter)';

/** The back end's no_model answer in the app's words (the back end's own message is written for the CLI). */
function noModelMessage(model: string): string {
  const what = model ? `The model “${model}” is not installed` : 'No segmentation model is installed';
  return `${what}: choose “${FIXTURE_LABEL}” under Model to try DiffSeg, or convert a real model (README, “Models”).`;
}

/**
 * A call with a model: whether it answered no_model is remembered for that choice (useNoModel: the latest answer
 * counts), and that answer is said in the app's words.
 */
async function withModelCheck<T>(model: string, call: Promise<T>): Promise<T> {
  try {
    const r = await call;
    if (noModelFor === model) setNoModel(null);
    return r;
  } catch (e) {
    const noModel = e instanceof ClientError && e.code === 'no_model';
    if (noModel) setNoModel(model);
    else if (noModelFor === model) setNoModel(null);
    throw noModel ? new Error(noModelMessage(model)) : e;
  }
}

export const diffseg = {
  click: (imageId: number, points: ClickPoint[], model: string) => withModelCheck(model, client.call('diffseg.click', withModel({ imageId, points }, model))),
  accept: (imageId: number, points: ClickPoint[], categoryId: number | null, model: string) =>
    withModelCheck(model, client.call('diffseg.acceptClick', withModel({ imageId, points, categoryId }, model))),
  segment: (imageIds: number[] | undefined, model: string) => withModelCheck(model, client.call('diffseg.segment', withModel(imageIds ? { imageIds } : {}, model))),
};

// ---- the model choice the back end had no model for ('' = automatic), until a call with it succeeds ------------
const noModelListeners = new Set<() => void>();
let noModelFor: string | null = null;

function setNoModel(model: string | null): void {
  noModelFor = model;
  for (const l of noModelListeners) l();
}

/** True while the chosen model is one the back end answered no_model for: the panel then says what to do. */
export function useNoModel(): boolean {
  const model = useDiffSegModel();
  const missing = useSyncExternalStore(
    (l) => {
      noModelListeners.add(l);
      return () => noModelListeners.delete(l);
    },
    () => noModelFor,
  );
  return missing === model;
}

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

// ---- the labeler's settings (τ, guided outlines, refinement), remembered like the model -----------------------
/** A subset of the contract's DiffSeg params (one τ for every iteration). */
export interface DiffSegSettings {
  tau?: number;
  guided?: boolean;
  refine?: boolean;
}
const PARAMS_KEY = 'difflabel.diffsegParams';
const paramListeners = new Set<() => void>();
let params: DiffSegSettings = loadParams();

/** Stored settings, keeping only valid values (a hand-edited or old entry must not break every call). */
function loadParams(): DiffSegSettings {
  try {
    const v = JSON.parse(localStorage.getItem(PARAMS_KEY) ?? '{}') as Record<string, unknown>;
    const out: DiffSegSettings = {};
    if (typeof v['tau'] === 'number' && v['tau'] > 0 && v['tau'] <= 100) out.tau = v['tau'];
    if (typeof v['guided'] === 'boolean') out.guided = v['guided'];
    if (typeof v['refine'] === 'boolean') out.refine = v['refine'];
    return out;
  } catch {
    return {};
  }
}

/** Replaces the settings ({} = the defaults). */
export function setDiffSegParams(next: DiffSegSettings): void {
  params = next;
  if (Object.keys(next).length) localStorage.setItem(PARAMS_KEY, JSON.stringify(next));
  else localStorage.removeItem(PARAMS_KEY);
  for (const l of paramListeners) l();
}

export function useDiffSegParams(): DiffSegSettings {
  return useSyncExternalStore(
    (l) => {
      paramListeners.add(l);
      return () => paramListeners.delete(l);
    },
    () => params,
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

/** What the strip and the grid filter by. */
export interface ImageFilter {
  status?: string;
  missing?: boolean;
  proposals?: boolean;
  search?: string;
}

/** Every image id matching the strip/grid filter (paged through images.list), errors left out. */
export async function filteredImageIds(filter: ImageFilter): Promise<number[]> {
  const ids: number[] = [];
  const PAGE = 5000;
  for (let offset = 0; ; offset += PAGE) {
    const r = await client.call('images.list', { status: filter.status as never, missing: filter.missing, proposals: filter.proposals, search: filter.search || undefined, offset, limit: PAGE });
    for (const i of r.items) if (i.status !== 'error' && !i.missing) ids.push(i.id); // nothing to segment without the file
    if (offset + PAGE >= r.total || !r.items.length) return ids;
  }
}
