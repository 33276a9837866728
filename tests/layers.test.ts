// The layers stay put: the renderer reaches the back end only through the contract (src/shared), the contract and the
// shared mask code import nothing of the back end, ml/ knows nothing of the pipelines built on it, and only the
// Electron shell (src/main, src/preload) imports electron. Every import of every source file is read, static and dynamic.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const SRC = join(ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(p);
    return /\.(ts|tsx|mts|mjs|js)$/.test(d.name) ? [p] : [];
  });
}

// `import … from 'x'`, `export … from 'x'`, `import 'x'`, `import('x')`, `require('x')`.
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)(['"])([^'"]+)\1/g;

/** Every module a file imports: bare names as written, relative ones as paths from the repository root. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => {
    const spec = m[2]!;
    return spec.startsWith('.') ? relative(ROOT, resolve(dirname(file), spec)).split('\\').join('/') : spec;
  });
}

const all = sourceFiles(SRC).map((f) => ({ file: relative(ROOT, f).split('\\').join('/'), imports: importsOf(f) }));

/** "file → import" for every file under `from` importing something `bad` matches. */
function offending(from: (file: string) => boolean, bad: (spec: string) => boolean): string[] {
  return all.filter((f) => from(f.file)).flatMap((f) => f.imports.filter(bad).map((s) => `${f.file} → ${s}`));
}

const under = (prefix: string) => (p: string) => p === prefix || p.startsWith(`${prefix}/`);

describe('layers', () => {
  it('reads the imports of the whole source tree', () => {
    expect(all.length).toBeGreaterThan(100);
    // The reader sees what it must: the renderer's client imports the contract.
    expect(all.find((f) => f.file === 'src/renderer/src/client/index.ts')!.imports).toContain('src/shared/contract');
  });

  it('the renderer imports nothing of src/core: it talks to the back end through the contract', () => {
    expect(offending(under('src/renderer'), under('src/core'))).toEqual([]);
  });

  it('src/shared imports nothing of src/core, the renderer or the shell', () => {
    expect(offending(under('src/shared'), (s) => under('src/core')(s) || under('src/renderer')(s) || under('src/main')(s))).toEqual([]);
  });

  it('ml/ imports nothing of the pipelines built on it', () => {
    expect(offending(under('src/core/ml'), under('src/core/pipelines'))).toEqual([]);
  });

  it('only src/main and src/preload import electron', () => {
    const shell = (f: string) => under('src/main')(f) || under('src/preload')(f);
    expect(offending((f) => !shell(f), (s) => s === 'electron' || s.startsWith('electron/'))).toEqual([]);
  });
});
