// Where bundles live and what is there. Two roots by default:
//   1. resources/models — bundles shipped with the app or put beside it (resourcesModelsDir);
//   2. the user's models folder — $DIFFLABEL_MODELS_DIR, else the platform data folder:
//      Linux $XDG_DATA_HOME/difflabel/models (~/.local/share/difflabel/models),
//      macOS ~/Library/Application Support/DiffLabel/models, Windows %APPDATA%\DiffLabel\models.
// Models are large data, not settings, so the user folder is the data dir, not Electron's config-like userData.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertContained, isInside } from './confine';
import { BundleError } from './errors';
import { BUNDLE_FILE, type BundleManifest, type ComponentKey } from './schema';
import { readManifest } from './verify';

export const MODELS_DIR_ENV = 'DIFFLABEL_MODELS_DIR';

/** The nearest folder at or above `dir` holding a package.json, or null. */
function packageRoot(dir: string): string | null {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) return null;
  }
}

/**
 * resources/models: the folder at the top of the package this code runs from (found by its package.json, so
 * the same from source, from the built out/ bundle and in web mode), except in the packaged app, whose code
 * lies inside Electron's resources folder (`process.resourcesPath`, app.asar or app/): there electron-builder's
 * extraResources put the folder beside it, as `<resources>/models`.
 */
export function resourcesModelsDir(at: { resourcesPath?: string } = {}): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = packageRoot(here) ?? here;
  const resources = at.resourcesPath ?? (process as { resourcesPath?: string }).resourcesPath; // set by Electron only
  return resources && isInside(resolve(resources), root) ? join(resources, 'models') : join(root, 'resources', 'models');
}

export function userModelsDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = homedir()): string {
  if (env[MODELS_DIR_ENV]) return resolve(env[MODELS_DIR_ENV]!);
  if (platform === 'win32') return join(env['APPDATA'] ?? join(home, 'AppData', 'Roaming'), 'DiffLabel', 'models');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'DiffLabel', 'models');
  return join(env['XDG_DATA_HOME'] || join(home, '.local', 'share'), 'difflabel', 'models');
}

export function defaultModelDirs(): string[] {
  return [resourcesModelsDir(), userModelsDir()];
}

export interface BundleListing {
  dir: string;
  /** Manifest name, or the folder name when bundle.json is unreadable. */
  name: string;
  ok: boolean;
  /** Why bundle.json could not be read, or which file it names is missing or not the bundle's own (contents are not checked here: verifyBundle does that). */
  error?: string;
  dtype?: BundleManifest['dtype'];
  components?: ComponentKey[];
  /** It holds a tokenizer. */
  tokenizer?: boolean;
  createdAt?: string;
  sourceKind?: BundleManifest['source']['kind'];
  /** The bundle's licence, as stated at conversion. */
  licence?: string;
  /** Components whose weights carry a licence of their own (bundle.json's component `licence`). */
  componentLicences?: Record<ComponentKey, string>;
}

/** Each component whose licence differs from the bundle's, with that licence. */
export function componentLicences(m: BundleManifest): Record<ComponentKey, string> {
  return Object.fromEntries(Object.entries(m.components).flatMap(([k, c]) => (c.licence && c.licence !== m.licence ? [[k, c.licence]] : [])));
}

/**
 * Bundles directly under each root (a root that is itself a bundle counts too); missing roots are skipped.
 * A bundle is listed as unreadable when bundle.json is, or when a file it names is a link or missing (confine.ts);
 * a linked folder under a root is listed as unreadable, not followed.
 */
export function listBundles(roots: string | string[] = defaultModelDirs()): BundleListing[] {
  const out: BundleListing[] = [];
  const seen = new Set<string>();
  for (const root of (Array.isArray(roots) ? roots : [roots]).map((r) => resolve(r))) {
    if (!existsSync(root) || !statSync(root).isDirectory()) continue;
    const candidates = existsSync(join(root, BUNDLE_FILE))
      ? [{ dir: root, linked: false }]
      : readdirSync(root, { withFileTypes: true })
          .filter((d) => (d.isDirectory() || d.isSymbolicLink()) && !d.name.startsWith('.') && existsSync(join(root, d.name, BUNDLE_FILE)))
          .map((d) => ({ dir: join(root, d.name), linked: d.isSymbolicLink() }))
          .sort((a, b) => (a.dir < b.dir ? -1 : 1));
    for (const { dir, linked } of candidates) {
      if (seen.has(dir)) continue;
      seen.add(dir);
      const name = dir.split(/[\\/]/).pop()!;
      if (linked) {
        out.push({ dir, name, ok: false, error: `${dir} is a symbolic link: bundles must be folders inside the models folder (point ${MODELS_DIR_ENV} at the folder that holds it instead)` });
        continue;
      }
      try {
        const m = readManifest(dir);
        assertContained(dir, m);
        out.push({
          dir, name: m.name, ok: true, dtype: m.dtype, components: Object.keys(m.components), tokenizer: Boolean(m.tokenizer), createdAt: m.createdAt, sourceKind: m.source.kind,
          licence: m.licence, componentLicences: componentLicences(m),
        });
      } catch (e) {
        out.push({ dir, name, ok: false, error: e instanceof BundleError ? e.message : String(e) });
      }
    }
  }
  return out;
}
