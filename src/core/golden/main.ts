// `npm run golden -- <case folder> …` and `npm run golden -- --all <golden root>`: runs the project's implementation
// on each golden case and prints every output's error against its tolerance (docs/golden.md).
// Exit codes: 0 every case checked passed (--all lists the kinds not implemented yet without failing), 1 a case
// failed, could not be read, or was named but its kind is not implemented yet, 2 bad usage (no such folder).
import { Command, CommanderError } from 'commander';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { readJsonObject, withinTolerance, type CaseManifest, type OutputCheck } from './compare';
import { GOLDEN_KINDS } from './registry';

const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

interface CaseReport {
  case: string;
  dir: string;
  kind: string | null;
  status: 'passed' | 'failed' | 'not-implemented';
  /** Why the case failed without checks, or which kind is not implemented yet. */
  message?: string;
  seconds?: number;
  checks: OutputCheck[];
}

class UsageError extends Error {}

/** Reads the case's manifest, runs its kind and sums up; never throws. */
async function checkCase(dir: string): Promise<CaseReport> {
  const report = { case: basename(dir), dir, kind: null, checks: [] };
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) return { ...report, status: 'failed', message: 'no manifest.json: not a golden case folder' };
  let manifest: Record<string, unknown>;
  try {
    manifest = readJsonObject(manifestPath);
  } catch (e) {
    return { ...report, status: 'failed', message: (e as Error).message };
  }
  const kind = manifest['kind'];
  if (typeof kind !== 'string' || kind === '') return { ...report, status: 'failed', message: `${manifestPath} has no "kind"` };
  const impl = Object.hasOwn(GOLDEN_KINDS, kind) ? GOLDEN_KINDS[kind] : undefined;
  if (!impl) return { ...report, kind, status: 'not-implemented', message: `not implemented yet (kind ${kind})` };
  const start = performance.now();
  try {
    const checks = await impl.check(dir, manifest as CaseManifest);
    const seconds = (performance.now() - start) / 1000;
    if (checks.length === 0) return { ...report, kind, seconds, status: 'failed', message: 'no outputs compared' };
    return { ...report, kind, seconds, checks, status: checks.every(withinTolerance) ? 'passed' : 'failed' };
  } catch (e) {
    return { ...report, kind, status: 'failed', message: (e as Error).message };
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Every folder directly under `root` is a case (hidden ones aside): one without a manifest fails rather than being skipped. */
function casesUnder(root: string): string[] {
  if (!isDir(root)) throw new UsageError(`golden root not found: ${root}`);
  const dirs = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => join(root, e.name))
    .sort();
  if (!dirs.length) throw new UsageError(`no case folders under ${root}`);
  return dirs;
}

const caseCount = (n: number) => `${n} ${n === 1 ? 'case' : 'cases'}`;

/** Two significant digits: 5.7e-6, 1e-4. */
const num = (x: number) => (x === 0 ? '0' : Number(x.toExponential(1)).toExponential());

/** One line per output: whether it passed, its error and its tolerance. */
function checkLine(c: OutputCheck): string {
  const mark = withinTolerance(c) ? 'ok  ' : 'FAIL';
  const error = c.measure === 'max_abs'
    ? `max |error| ${Number.isFinite(c.error) ? num(c.error) : '—'} (tolerance ${num(c.tolerance)})`
    : `${c.error} of ${c.total} differ (tolerance ${c.tolerance})`;
  return `  ${mark} ${c.name}: ${error}${c.detail && !withinTolerance(c) ? `: ${c.detail}` : ''}`;
}

function caseLines(r: CaseReport): string[] {
  if (r.status === 'not-implemented') return [`${r.case}: ${r.message}`];
  const head = `${r.case}${r.kind ? ` (${r.kind}: ${GOLDEN_KINDS[r.kind]!.title})` : ''}`;
  if (r.message) return [`${head}: FAILED: ${r.message}`];
  const bad = r.checks.filter((c) => !withinTolerance(c)).length;
  const verdict = bad ? `FAILED (${bad} of ${r.checks.length} outputs above tolerance)` : `passed (${r.checks.length} outputs)`;
  return [`${head}: ${verdict} in ${r.seconds!.toFixed(1)} s`, ...r.checks.map(checkLine)];
}

/** `cwd`: where relative folders are resolved from. */
export async function main(argv: string[], io = { out: process.stdout, err: process.stderr }, cwd = process.cwd()): Promise<number> {
  let code: number = EXIT.ok;
  const program = new Command('golden')
    .description('check the project against the reference implementations\' golden cases')
    .argument('[cases...]', 'case folders (each with a manifest.json whose kind says what it checks)')
    .option('--all <root>', 'every case folder under <root>; kinds not implemented yet are listed, not failed')
    .option('--json', 'print one JSON object')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) })
    .showHelpAfterError()
    .action(async (cases: string[], o: { all?: string; json?: boolean }) => {
      if (o.all !== undefined && cases.length) throw new UsageError('give case folders or --all <root>, not both');
      if (o.all === undefined && !cases.length) throw new UsageError('give case folders, or --all <golden root>');
      const dirs = o.all !== undefined ? casesUnder(resolve(cwd, o.all)) : cases.map((c) => resolve(cwd, c));
      for (const d of dirs) if (!isDir(d)) throw new UsageError(`case folder not found: ${d}`);
      const reports: CaseReport[] = [];
      for (const d of dirs) {
        const r = await checkCase(d);
        reports.push(r);
        if (!o.json) for (const line of caseLines(r)) io.out.write(`${line}\n`);
      }
      const count = (s: CaseReport['status']) => reports.filter((r) => r.status === s).length;
      const summary = { passed: count('passed'), failed: count('failed'), notImplemented: count('not-implemented') };
      // A case named on its own must be checked; --all only lists the kinds still to come.
      if (summary.failed || (o.all === undefined && summary.notImplemented)) code = EXIT.failed;
      // JSON has no Infinity: an error that is not a number comes out as null (the check's detail says why).
      if (o.json) io.out.write(`${JSON.stringify({ ...summary, cases: reports }, null, 2)}\n`);
      // Worded apart from the test suite's "N passed, N failed" line, which CI reads from the same log.
      else io.out.write(`golden: ${caseCount(summary.passed)} passed, ${caseCount(summary.failed)} failed, ${summary.notImplemented} not implemented yet\n`);
    });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    io.err.write(`error: ${(e as Error)?.message ?? String(e)}\n`);
    return e instanceof UsageError ? EXIT.usage : EXIT.failed;
  }
}
