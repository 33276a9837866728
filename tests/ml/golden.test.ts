// `npm run golden`: a case whose reference output is moved past its tolerance fails with exit 1 and says which
// output and by how much; --all lists kinds not implemented yet without failing; bad folders and manifests are
// refused with one line each. Case copies in temp dirs, taken from tests/golden/clip_D (the smallest model case).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors, type WriteTensor } from '../../src/core/ml/weights';
import { main } from '../../src/core/golden/main';
import { tempDir } from '../helpers/folder';
import { golden, REPO_ROOT } from './weights.helpers';

let dir: ReturnType<typeof tempDir>;

/** Runs the runner in this process; returns exit code, stdout and stderr. */
async function run(...args: string[]) {
  let out = '', err = '';
  const io = { out: { write: (s: string) => ((out += s), true) }, err: { write: (s: string) => ((err += s), true) } } as never;
  return { code: await main(args, io), out, err };
}

/** A copy of clip_D at `path` whose outputs.safetensors went through `change`. */
function clipCase(path: string, change: (t: Record<string, WriteTensor>) => void = () => {}): string {
  cpSync(golden('clip_D'), path, { recursive: true });
  const file = join(path, 'outputs.safetensors');
  const f = SafetensorsFile.open(file);
  const tensors: Record<string, WriteTensor> = {};
  for (const k of f.keys()) tensors[k] = f.readRaw(k);
  f.close();
  change(tensors);
  writeSafetensors(file, tensors);
  return path;
}

/** Moves one value of the reference last_hidden_state by `by`. */
const nudge = (by: number) => (t: Record<string, WriteTensor>) => {
  (t['last_hidden_state']!.data as Float32Array)[100]! += by;
};

function caseFolder(name: string, manifest: string | undefined): string {
  const path = join(dir.path, name);
  mkdirSync(path, { recursive: true });
  if (manifest !== undefined) writeFileSync(join(path, 'manifest.json'), manifest);
  return path;
}

beforeAll(() => {
  dir = tempDir('difflabel-golden-');
});
afterAll(() => dir.cleanup());

describe('npm run golden', () => {
  it('fails with exit 1 when one reference output is moved past its tolerance, naming it and its error', () => {
    clipCase(join(dir.path, 'off', 'clip_D'), nudge(1e-3));
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['golden']).toBe('node scripts/golden.mjs');
    // The command npm runs, in its own process (no build step, tsx loads the TypeScript), as npm starts it: in the
    // package root, with the folder named from where `npm run golden` was typed.
    const env = { ...process.env, npm_lifecycle_event: 'golden', INIT_CWD: dir.path };
    const r = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'node'), [join(REPO_ROOT, 'scripts', 'golden.mjs'), join('off', 'clip_D')], { encoding: 'utf8', cwd: REPO_ROOT, env });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^clip_D \(clip_text: transformers CLIPTextModel\): FAILED \(1 of 13 outputs above tolerance\)/);
    expect(r.stdout).toMatch(/^ {2}FAIL last_hidden_state: max \|error\| 1e-3 \(tolerance 1e-4\)$/m);
    expect(r.stdout).toMatch(/^ {2}ok {3}pooler_output: max \|error\| \S+ \(tolerance 1e-4\)$/m);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe('golden: 0 cases passed, 1 case failed, 0 not implemented yet');
  });

  it('passes a case moved by less than its tolerance; --json gives every output with its error and tolerance', async () => {
    const near = clipCase(join(dir.path, 'near', 'clip_D'), nudge(5e-5));
    const r = await run('--json', near);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as { passed: number; failed: number; cases: { case: string; kind: string; status: string; checks: { name: string; error: number; tolerance: number }[] }[] };
    expect(report).toMatchObject({ passed: 1, failed: 0, notImplemented: 0, cases: [{ case: 'clip_D', kind: 'clip_text', status: 'passed' }] });
    const last = report.cases[0]!.checks.find((c) => c.name === 'last_hidden_state')!;
    expect(last.error).toBeGreaterThan(4e-5);
    expect(last.error).toBeLessThanOrEqual(1e-4);
    expect(last.tolerance).toBe(1e-4);
    expect(report.cases[0]!.checks).toHaveLength(13);
  });

  it('fails a reference output the kind does not compare (null error in JSON)', async () => {
    const extra = clipCase(join(dir.path, 'extra', 'clip_D'), (t) => {
      t['final_norm_input'] = { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) };
    });
    const r = await run('--json', extra);
    expect(r.code).toBe(1);
    const checks = (JSON.parse(r.out) as { cases: { checks: { name: string; error: number | null; detail?: string }[] }[] }).cases[0]!.checks;
    expect(checks.filter((c) => c.error === null || c.error > 1e-4)).toEqual([
      { name: 'final_norm_input', measure: 'max_abs', error: null, tolerance: 0, detail: 'not compared' },
    ]);
  });

  it('--all runs the kinds it implements and lists the others as not implemented yet without failing', async () => {
    const root = join(dir.path, 'all');
    clipCase(join(root, 'clip_D'));
    mkdirSync(join(root, 'later_Z'));
    writeFileSync(join(root, 'later_Z', 'manifest.json'), JSON.stringify({ kind: 'later_kind', format: 'golden-vectors/1' }));
    mkdirSync(join(root, '.cache')); // hidden folders are not cases
    const r = await run('--all', root);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^clip_D \(clip_text: transformers CLIPTextModel\): passed \(13 outputs\) in \d+\.\d s$/m);
    expect(r.out).toMatch(/^later_Z: not implemented yet \(kind later_kind\)$/m);
    expect(r.out.trimEnd().split('\n').at(-1)).toBe('golden: 1 case passed, 0 cases failed, 1 not implemented yet');
    // Named on its own, a case that cannot be checked is a failure.
    const alone = await run(join(root, 'later_Z'));
    expect(alone.code).toBe(1);
    expect(alone.out).toMatch(/^later_Z: not implemented yet \(kind later_kind\)$/m);
  });

  it('refuses missing folders as usage (exit 2) and fails unreadable cases (exit 1), one line each', async () => {
    expect(await run()).toEqual({ code: 2, out: '', err: 'error: give case folders, or --all <golden root>\n' });
    const missing = join(dir.path, 'no-such-case');
    expect(await run(missing)).toEqual({ code: 2, out: '', err: `error: case folder not found: ${missing}\n` });
    expect(await run('--all', missing)).toEqual({ code: 2, out: '', err: `error: golden root not found: ${missing}\n` });
    expect((await run('--all', caseFolder('empty-root', undefined))).err).toMatch(/^error: no case folders under /);

    const noKind = caseFolder('bad/no_kind', JSON.stringify({ case: 'no_kind' }));
    const notJson = caseFolder('bad/not_json', '{"kind": "unet",');
    caseFolder('bad/no_manifest', undefined);
    const noFiles = caseFolder('bad/no_files', JSON.stringify({ kind: 'clip_text' }));
    const r = await run('--all', join(dir.path, 'bad'));
    expect(r.code).toBe(1);
    expect(r.err).toBe('');
    expect(r.out.split('\n')).toEqual([
      `no_files (clip_text: transformers CLIPTextModel): FAILED: cannot read ${join(noFiles, 'config.json')}: no such file`,
      `no_kind: FAILED: ${join(noKind, 'manifest.json')} has no "kind"`,
      'no_manifest: FAILED: no manifest.json: not a golden case folder',
      `not_json: FAILED: cannot read ${join(notJson, 'manifest.json')}: not valid JSON (at character 16)`,
      'golden: 0 cases passed, 4 cases failed, 0 not implemented yet',
      '',
    ]);
  });
});
