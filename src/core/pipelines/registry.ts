// Every segmenter DiffLabel knows, in the order they are offered (the first is the default). A new pipeline is its own
// folder plus one line here.
import type { UNetVariant } from '../ml/bundle';
import { diffseg } from './diffseg/definition';
import { prototype } from './prototype/definition';
import { refldmseg } from './refldmseg/definition';
import { peekaboo } from './peekaboo/definition';
import { odise } from './odise/definition';
import { vocabulary } from './vocabulary/definition';
import type { Pipeline } from './types';

const pipelines = new Map<string, Pipeline>();

const ID = /^[a-z][a-z0-9-]{0,39}$/;
/** Job kinds of the back end's own work: a pipeline's jobs are of its id. */
const RESERVED = new Set(['index']);
const LABEL_MAX = 40;

/** Adds a pipeline (built-ins below; tests add theirs). Returns what takes it out again. */
export function registerPipeline(p: Pipeline): () => void {
  if (!ID.test(p.id) || RESERVED.has(p.id)) throw new Error(`pipeline id "${p.id}" must be lower-case letters, digits and dashes, and not ${[...RESERVED].join(', ')}`);
  if (pipelines.has(p.id)) throw new Error(`a pipeline "${p.id}" is registered already`);
  for (const label of [p.runLabel, p.preview?.label ?? '']) if (label.length > LABEL_MAX) throw new Error(`pipeline ${p.id}: the undo label "${label}" is over ${LABEL_MAX} characters`);
  if (p.preview && p.prompt === 'none') throw new Error(`pipeline ${p.id}: a preview needs a prompt`);
  for (const v of p.variants ?? []) if (!p.components.includes(v.key)) throw new Error(`pipeline ${p.id}: its UNet variant ${v.key} is not among its components`);
  pipelines.set(p.id, p);
  return () => void pipelines.delete(p.id);
}

registerPipeline(diffseg);
registerPipeline(refldmseg);
registerPipeline(prototype);
registerPipeline(peekaboo);
registerPipeline(odise);
registerPipeline(vocabulary);

export function listPipelines(): Pipeline[] {
  return [...pipelines.values()];
}

export function getPipeline(id: string): Pipeline | undefined {
  return pipelines.get(id);
}

/** The UNet variants the converter builds: every pipeline's but those `without`, once each. */
export function unetVariants(without: ReadonlySet<string> = new Set()): UNetVariant[] {
  const byKey = new Map<string, UNetVariant>();
  for (const p of pipelines.values()) if (!without.has(p.id)) for (const v of p.variants ?? []) if (!byKey.has(v.key)) byKey.set(v.key, v);
  return [...byKey.values()];
}
