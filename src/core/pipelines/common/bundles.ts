// Which model bundle a pipeline runs on, and whether it can: a bundle holds the components the pipeline declares, or
// it is refused with the reason (a ModelNotFoundError, the API's no_model) before anything loads.
import { existsSync } from 'node:fs';
import { assertContained, defaultModelDirs, listBundles, MODELS_DIR_ENV, readManifest, type BundleManifest } from '../../ml/bundle';
import type { Pipeline } from '../types';

export class ModelNotFoundError extends Error {
  override name = 'ModelNotFoundError';
}

/** What bundle resolution reads of a pipeline; a generator (which runs on no image) declares the same. */
export type BundleUser = Pick<Pipeline, 'id' | 'title' | 'components' | 'models' | 'refuses'>;

/** The model spec that names a pipeline's test fixture. */
export const FIXTURE = 'fixture';

export interface ResolvedBundle {
  dir: string;
  manifest: BundleManifest;
}

/** The environment variable naming a pipeline's default model: DIFFLABEL_<ID>_MODEL (DIFFLABEL_DIFFSEG_MODEL). */
export function modelEnvName(p: Pick<Pipeline, 'id'>): string {
  return `DIFFLABEL_${p.id.toUpperCase().replace(/-/g, '_')}_MODEL`;
}

/** The components of `p` a bundle lacks ('tokenizer': its tokenizer). */
export function missingComponents(p: BundleUser, has: { components: readonly string[]; tokenizer: boolean }): string[] {
  return p.components.filter((k) => (k === 'tokenizer' ? !has.tokenizer : !has.components.includes(k)));
}

function cannotRun(p: BundleUser, name: string, missing: string[]): string {
  return `model bundle ${name} cannot run ${p.title}: it lacks ${missing.join(', ')} (convert its checkpoint again: \`npx difflabel models convert\` builds what every pipeline needs)`;
}

function noneInstalled(p: BundleUser): string {
  return (
    `no model bundle for ${p.title} is installed. ${p.models?.hint ?? 'Convert a checkpoint with `npx difflabel models convert`'} ` +
    `(models folder: ${process.env[MODELS_DIR_ENV] ?? 'resources/models or the user models folder'}), or pass a bundle folder (--model DIR)` +
    `${p.models?.fixture ? '; --model fixture runs the test fixture (not a real segmenter)' : ''}.`
  );
}

type Choice = { kind: 'fixture' } | { kind: 'bundle'; dir: string } | { kind: 'refused'; reason: string };

/**
 * Where `spec` points for `p`, from bundle.json files only: 'fixture' (its test fixture), a bundle folder, or an
 * installed bundle's name; no spec: the first installed bundle that holds p's components.
 */
function choose(p: BundleUser, spec: string | undefined, roots: string[]): Choice {
  if (spec === FIXTURE) return p.models?.fixture ? { kind: 'fixture' } : { kind: 'refused', reason: `${p.title} has no test fixture` };
  if (spec && existsSync(spec)) return { kind: 'bundle', dir: spec };
  const bundles = listBundles(roots);
  if (spec) {
    const hit = bundles.find((b) => b.name === spec || b.dir.split(/[\\/]/).pop() === spec);
    return hit
      ? { kind: 'bundle', dir: hit.dir }
      : { kind: 'refused', reason: `no model bundle "${spec}" (not a folder, and not among the installed bundles: ${bundles.map((b) => b.name).join(', ') || 'none'})` };
  }
  const usable = bundles.find((b) => b.ok && !missingComponents(p, { components: b.components!, tokenizer: b.tokenizer! }).length && !refusal(p, b.dir));
  return usable ? { kind: 'bundle', dir: usable.dir } : { kind: 'refused', reason: noneInstalled(p) };
}

/** The bundle's manifest, or why `p` cannot run on it. */
function check(p: BundleUser, dir: string): { manifest: BundleManifest; problem: string | null } {
  const manifest = readManifest(dir);
  const missing = missingComponents(p, { components: Object.keys(manifest.components), tokenizer: Boolean(manifest.tokenizer) });
  // A bundle the pipeline refuses outright says so first: converting it again would not give what it lacks.
  return { manifest, problem: p.refuses?.(manifest) ?? (missing.length ? cannotRun(p, manifest.name, missing) : null) };
}

/** Why `p` refuses the listed bundle in `dir` although it holds p's components (null: it does not). */
function refusal(p: BundleUser, dir: string): string | null {
  return p.refuses ? p.refuses(readManifest(dir)) : null;
}

/**
 * The bundle `p` runs on (see choose; the fixture is written on first use), checked: it holds p's components, and the
 * files p reads are the bundle's own (no links, external data listed: ml/bundle/confine.ts). null for a pipeline that
 * needs no model. Throws ModelNotFoundError saying what to do, BundleError for a broken bundle.
 */
export async function resolveBundle(p: BundleUser, spec?: string, roots: string[] = defaultModelDirs()): Promise<ResolvedBundle | null> {
  if (!p.components.length) return null;
  const c = choose(p, spec, roots);
  if (c.kind === 'refused') throw new ModelNotFoundError(c.reason);
  const dir = c.kind === 'fixture' ? await p.models!.fixture!() : c.dir;
  const { manifest, problem } = check(p, dir);
  if (problem) throw new ModelNotFoundError(problem);
  assertContained(dir, manifest, { keys: p.components.filter((k) => k !== 'tokenizer'), models: true });
  return { dir, manifest };
}

/**
 * Whether `p` can run with `spec` (or the automatic choice), from bundle.json files only (its fixture is taken as
 * able); `model` names the bundle that was judged.
 */
export function availability(p: BundleUser, spec?: string, roots: string[] = defaultModelDirs()): { available: boolean; reason?: string; model: string | null } {
  if (!p.components.length) return { available: true, model: null };
  const c = choose(p, spec, roots);
  if (c.kind === 'refused') return { available: false, reason: c.reason, model: null };
  if (c.kind === 'fixture') return { available: true, model: FIXTURE };
  try {
    const { manifest, problem } = check(p, c.dir);
    return problem ? { available: false, reason: problem, model: manifest.name } : { available: true, model: manifest.name };
  } catch (e) {
    return { available: false, reason: (e as Error).message, model: null };
  }
}
