// The segmenters from the UI, all from `pipelines.list`: which one the labeler chose, its model and settings (each
// remembered in localStorage per pipeline, shared by every component through tiny stores), the calls (run over images,
// preview a prompt, accept it) and the start of a batch over the strip's or the grid's images. Nothing
// here knows any pipeline.
import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import type { Image, MethodOutput, PipelineInfo, Prompt } from '../../../shared/contract';
import { paramFields, type ParamField } from '../../../shared/params';
import { client, ClientError } from '../client';

/** A tiny store: a value, and the components that show it re-render when it changes. */
export function store<T>(initial: T) {
  let value = initial;
  const listeners = new Set<() => void>();
  const subscribe = (l: () => void) => {
    listeners.add(l);
    return () => void listeners.delete(l);
  };
  return {
    get: () => value,
    set(next: T) {
      value = next;
      for (const l of listeners) l();
    },
    use: () => useSyncExternalStore(subscribe, () => value),
  };
}

// ---- the pipelines ------------------------------------------------------------------------------------------
const list = store<PipelineInfo[] | null>(null);
let loading: Promise<void> | null = null;

/** Every pipeline with its settings' schema, asked for once per page (availability: with the automatic model). */
export function usePipelines(): PipelineInfo[] | null {
  useEffect(() => {
    loading ??= client.call('pipelines.list', {}).then(list.set, () => void (loading = null));
  }, []);
  return list.use();
}

/** The title of a pipeline's jobs (their kind is its id), once the list is in. */
export function pipelineTitle(kind: string): string | undefined {
  return list.get()?.find((p) => p.id === kind)?.title;
}

const PIPELINE_KEY = 'difflabel.pipeline';
const chosenId = store(localStorage.getItem(PIPELINE_KEY) ?? '');

export function setPipeline(id: string): void {
  localStorage.setItem(PIPELINE_KEY, id);
  chosenId.set(id);
}

/** The chosen pipeline (remembered), else the first; null until the list is in. */
export function usePipeline(): PipelineInfo | null {
  const all = usePipelines();
  const id = chosenId.use();
  return all?.find((p) => p.id === id) ?? all?.[0] ?? null;
}

/** A pipeline's settings as fields (from its JSON Schema). */
export function fieldsOf(p: PipelineInfo): ParamField[] {
  return paramFields(p.params);
}

// ---- each pipeline's model choice ('' = automatic) and settings, remembered per pipeline --------------------------
// The keys are those DiffSeg's choices had before there were several pipelines: they carry over.
const modelKey = (id: string) => `difflabel.${id}Model`;
const settingsKey = (id: string) => `difflabel.${id}Params`;
const models = new Map<string, ReturnType<typeof store<string>>>();
const modelStore = (id: string) => {
  let s = models.get(id);
  if (!s) models.set(id, (s = store(localStorage.getItem(modelKey(id)) ?? '')));
  return s;
};

export function setModel(pipeline: string, model: string): void {
  if (model) localStorage.setItem(modelKey(pipeline), model);
  else localStorage.removeItem(modelKey(pipeline));
  modelStore(pipeline).set(model);
}

/** The model chosen for a pipeline: '' (automatic: the back end's first installed bundle it can run on), a bundle, or 'fixture'. */
export function useModel(pipeline: string): string {
  return modelStore(pipeline).use();
}

export type Settings = Record<string, unknown>;
const settings = new Map<string, ReturnType<typeof store<Settings>>>();
const settingsStore = (id: string) => {
  let s = settings.get(id);
  if (!s) settings.set(id, (s = store(loadSettings(id))));
  return s;
};

/** Whether a value fits a field (type, bounds): what is stored and sent. */
export function fits(f: ParamField, v: unknown): boolean {
  if (f.type === 'boolean') return typeof v === 'boolean';
  if (f.type === 'enum') return typeof v === 'string' && f.choices!.includes(v);
  if (f.type === 'string') return typeof v === 'string';
  if (f.type === 'json') return v !== undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || (f.type === 'integer' && !Number.isInteger(v))) return false;
  if (f.min !== undefined && (f.minExclusive ? v <= f.min : v < f.min)) return false;
  return f.max === undefined || v <= f.max;
}

/** Stored settings: an old or hand-edited entry must not break every call, so only values that fit are kept (once the list is in). */
function loadSettings(id: string): Settings {
  try {
    const v = JSON.parse(localStorage.getItem(settingsKey(id)) ?? '{}') as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Settings) : {};
  } catch {
    return {};
  }
}

/** Replaces a pipeline's settings ({} = its defaults). */
export function setSettings(pipeline: string, next: Settings): void {
  if (Object.keys(next).length) localStorage.setItem(settingsKey(pipeline), JSON.stringify(next));
  else localStorage.removeItem(settingsKey(pipeline));
  settingsStore(pipeline).set(next);
}

/** The settings the labeler changed for a pipeline, those that fit its fields ({} while the list loads). */
export function useSettings(p: PipelineInfo | null): Settings {
  const raw = settingsStore(p?.id ?? '').use();
  return useMemo(() => (p ? validSettings(p, raw) : {}), [p, raw]);
}

function validSettings(p: PipelineInfo, s: Settings): Settings {
  const fields = new Map(fieldsOf(p).map((f) => [f.name, f]));
  return Object.fromEntries(Object.entries(s).filter(([k, v]) => fields.has(k) && fits(fields.get(k)!, v)));
}

// ---- calls ---------------------------------------------------------------------------------------------------------
/** What the model choice calls a pipeline's test fixture; the no-model note names it the same way. */
export const FIXTURE_LABEL = 'Test fixture (not a real segmenter)';

/** The back end's no_model answer in the app's words (the back end's own message is written for the CLI). */
function noModelMessage(p: PipelineInfo, model: string): string {
  const what = model ? `The model “${model}” is not installed or cannot run ${p.title}` : `No model for ${p.title} is installed`;
  return `${what}: ${p.fixture ? `choose “${FIXTURE_LABEL}” under Model to try it, or ` : ''}add a real model with the Models button (README, “Models”).`;
}

/** (pipeline, model) the back end answered no_model for, until a call with them succeeds. */
const noModel = store<string | null>(null);
const noModelKey = (p: PipelineInfo, model: string) => `${p.id}\n${model}`;

/** True while the pipeline's chosen model is one the back end answered no_model for: the panel then says what to do. */
export function useNoModel(p: PipelineInfo): boolean {
  return noModel.use() === noModelKey(p, useModel(p.id));
}

/**
 * A call with the pipeline's chosen model and settings (none set: the back end's defaults). Whether it answered
 * no_model is remembered for that choice (the latest answer counts), and that answer is said in the app's words.
 */
async function withChoice<T>(p: PipelineInfo, call: (extra: { model?: string; params?: Settings }) => Promise<T>): Promise<T> {
  const model = modelStore(p.id).get();
  const params = validSettings(p, settingsStore(p.id).get());
  const key = noModelKey(p, model);
  try {
    const r = await call({ ...(model ? { model } : {}), ...(Object.keys(params).length ? { params } : {}) });
    if (noModel.get() === key) noModel.set(null);
    return r;
  } catch (e) {
    const missing = e instanceof ClientError && e.code === 'no_model';
    if (missing) noModel.set(key);
    else if (noModel.get() === key) noModel.set(null);
    throw missing ? new Error(noModelMessage(p, model)) : e;
  }
}

export const pipelineCalls = {
  run: (p: PipelineInfo, imageIds: number[] | undefined, prompt?: Prompt) =>
    withChoice(p, (x) => client.call('pipelines.run', { pipeline: p.id, ...(imageIds ? { imageIds } : {}), ...(prompt ? { prompt } : {}), ...x })),
  /** cachedOnly: from what the back end cached for the image only (a hover); refused (conflict) where a model would run. */
  preview: (p: PipelineInfo, imageId: number, prompt: Prompt, cachedOnly = false) =>
    withChoice(p, (x) => client.call('pipelines.preview', { pipeline: p.id, imageId, prompt, ...x, ...(cachedOnly ? { cachedOnly } : {}) })),
  accept: (p: PipelineInfo, imageId: number, prompt: Prompt, categoryId: number | null, overlap: { exclusive?: true; locked?: number[] } = {}) =>
    withChoice(p, (x) => client.call('pipelines.accept', { pipeline: p.id, imageId, prompt, categoryId, ...overlap, ...x })),
};
export type PreviewAnswer = MethodOutput<'pipelines.preview'>;

// ---- models --------------------------------------------------------------------------------------------------------
export type ModelEntry = MethodOutput<'models.list'>[number];

/** Installed bundles plus the fixture, fetched on mount and again whenever a bundle is added, removed or verified. */
export function useModels(): { models: ModelEntry[] | null; error: string | null } {
  const [found, setFound] = useState<ModelEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const load = () => void client.call('models.list', {}).then(setFound, (e: Error) => setError(e.message));
    load();
    return client.on('models.changed', load);
  }, []);
  return { models: found, error };
}

/** The value a model entry is chosen by: the fixture by its name 'fixture', a bundle by its folder (unique). */
export const modelValue = (m: ModelEntry): string => (m.fixture ? 'fixture' : (m.dir ?? m.name));

/** Components of the pipeline a bundle lacks ('tokenizer' is not listed among a bundle's components: not judged here). */
export const lacks = (p: PipelineInfo, m: ModelEntry): string[] => p.components.filter((c) => c !== 'tokenizer' && !m.components.includes(c));

// ---- batches over the strip's or the grid's images ------------------------------------------------------------------
/** What the strip and the grid filter by. */
export interface ImageFilter {
  status?: string;
  missing?: boolean;
  proposals?: boolean;
  search?: string;
}

/** Whether an image has pixels to segment: its file is there and readable. */
export const segmentable = (i: Image): boolean => i.status !== 'error' && !i.missing;

/** The images at positions [from, to) of the strip/grid's order under a filter (paged through images.list). */
export async function imagesIn(filter: ImageFilter, from = 0, to = Infinity): Promise<Image[]> {
  const out: Image[] = [];
  const PAGE = 5000;
  for (let offset = from; offset < to; offset += PAGE) {
    const limit = Math.min(PAGE, to - offset);
    const r = await client.call('images.list', { status: filter.status as never, missing: filter.missing, proposals: filter.proposals, search: filter.search || undefined, offset, limit });
    out.push(...r.items);
    if (offset + limit >= r.total || !r.items.length) return out;
  }
  return out;
}

/** Every image id matching the strip/grid filter, those without pixels to segment left out. */
export async function filteredImageIds(filter: ImageFilter): Promise<number[]> {
  return (await imagesIn(filter)).filter(segmentable).map((i) => i.id);
}
