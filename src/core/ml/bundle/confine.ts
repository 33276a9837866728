// A bundle is read only through files it holds itself: every path bundle.json names, and every external data
// file a model names, must be a regular file inside the bundle folder, reached without a symbolic link. A
// bundle from elsewhere (an archive, a shared drive) could otherwise make DiffLabel read — and quote back in
// its errors — any file the user can read. The bundle folder itself may be a link (the user named it).
import { lstatSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { externalDataLocations } from '../runtime/modelSize';
import { BundleError } from './errors';
import { relPath } from './hash';
import type { BundleComponent, BundleManifest, ComponentKey } from './schema';

export const LINK_REFUSED = 'a symbolic link (a bundle must hold its files itself)';

/** Why `rel` (a bundle-relative path from bundle.json) cannot be read from the bundle at `dir`, or null. */
export function bundleFileProblem(dir: string, rel: string): string | null {
  const abs = join(dir, rel);
  let real: string;
  try {
    const st = lstatSync(abs);
    if (st.isSymbolicLink()) return LINK_REFUSED;
    if (!st.isFile()) return 'not a regular file';
    real = realpathSync(abs);
  } catch {
    return 'missing';
  }
  const root = realpathSync(dir);
  if (real === join(root, rel)) return null;
  return isInside(root, real) ? `reached through ${LINK_REFUSED}` : 'resolves outside the bundle folder (through a symbolic link)';
}

/** Whether `path` is `dir` or lies below it (both absolute, links already resolved where that matters). */
export function isInside(dir: string, path: string): boolean {
  const r = relative(dir, path);
  return r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r);
}

/** Problems of a component's external data: each file a model reads must be one of its listed (checksummed) files. */
export function externalDataProblems(dir: string, key: ComponentKey, c: BundleComponent): string[] {
  const model = join(dir, c.model);
  let locs: string[];
  try {
    locs = externalDataLocations(model);
  } catch {
    return [`${key}: ${c.model} is not a readable ONNX model`];
  }
  const listed = new Set(c.files.map((f) => relPath(dir, join(dir, f.path))));
  return locs
    .filter((loc) => !listed.has(relPath(dir, resolve(dirname(model), loc))))
    .map((loc) => `${key}: ${c.model} reads weights from ${JSON.stringify(loc.slice(0, 200))}, which is not one of its listed files`);
}

/** Every file bundle.json names (components, tokenizer), once each. */
export function listedFiles(m: BundleManifest, keys: readonly ComponentKey[] = Object.keys(m.components)): string[] {
  const paths = keys.flatMap((k) => m.components[k]?.files.map((f) => f.path) ?? []);
  return [...new Set([...paths, ...(m.tokenizer?.files.map((f) => f.path) ?? [])])];
}

/**
 * What stops the bundle at `dir` from being read safely: linked, outside or missing files among those bundle.json
 * names for `keys`, and (with `models`) external data the models name but bundle.json does not list.
 */
export function containmentProblems(dir: string, m: BundleManifest, opts: { keys?: readonly ComponentKey[]; models?: boolean } = {}): string[] {
  const keys = opts.keys ?? Object.keys(m.components);
  const problems: string[] = [];
  for (const rel of listedFiles(m, keys)) {
    const p = bundleFileProblem(dir, rel);
    if (p) problems.push(`${rel}: ${p}`);
  }
  if (opts.models && !problems.length)
    for (const k of keys) {
      const c = m.components[k];
      if (c) problems.push(...externalDataProblems(dir, k, c));
    }
  return problems;
}

/** Throws a BundleError listing containmentProblems, if any. */
export function assertContained(dir: string, m: BundleManifest, opts: { keys?: readonly ComponentKey[]; models?: boolean } = {}): void {
  const problems = containmentProblems(dir, m, opts);
  if (problems.length) throw new BundleError(`model bundle ${dir} cannot be used`, problems);
}
