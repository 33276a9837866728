// The command line's side of web mode and of failures: `serve` on a non-loopback address warns and prints the
// addresses other machines would use; an unexpected error is one line and a hint, never a stack.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { main } from '../../src/core/cli/main';
import { ProjectStore } from '../../src/core/project';
import { networkAddresses } from '../../src/core/server/origin';
import { makeImageFolder, tempDir } from '../helpers/folder';

const root = join(__dirname, '..', '..');
let dir: ReturnType<typeof tempDir>;
let folder: string;

/** Runs the CLI in this process; returns exit code, stdout and stderr. */
async function run(args: string[], env: Record<string, string> = {}) {
  let out = '', err = '';
  const io = { out: { write: (s: string) => ((out += s), true) }, err: { write: (s: string) => ((err += s), true) } } as never;
  const saved = Object.keys(env).map((k) => [k, process.env[k]] as const);
  Object.assign(process.env, env);
  try {
    return { code: await main(args, io), out, err };
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Starts `difflabel serve` with these arguments, returns what it printed once it serves, and stops it. */
function serveOutput(args: string[]): Promise<{ out: string; err: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(join(root, 'node_modules', '.bin', 'node'), [join(root, 'bin', 'difflabel.mjs'), 'serve', '--port', '0', '--no-index', ...args], { cwd: root });
    let out = '', err = '';
    const timer = setTimeout(() => (child.kill('SIGKILL'), fail(new Error(`serve did not start: ${out}${err}`))), 30_000);
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      if (/session token/.test(out)) child.kill('SIGTERM');
    });
    child.on('exit', () => (clearTimeout(timer), ok({ out, err })));
  });
}

beforeAll(async () => {
  dir = tempDir();
  folder = join(dir.path, 'photos');
  await makeImageFolder(folder, 1, () => [40, 30]);
});
afterAll(() => dir.cleanup());
afterEach(() => vi.restoreAllMocks());

describe('CLI errors', () => {
  it('prints an unexpected error as one line and a hint, without the stack', async () => {
    vi.spyOn(ProjectStore.prototype, 'stats').mockImplementation(() => {
      throw new TypeError('something nobody foresaw');
    });
    const r = await run(['stats', folder]);
    expect(r.code).toBe(1);
    expect(r.err).toBe('error: something nobody foresaw\n(unexpected: run again with DIFFLABEL_DEBUG=1 to see the stack)\n');
  });

  it('prints the stack with DIFFLABEL_DEBUG=1', async () => {
    vi.spyOn(ProjectStore.prototype, 'stats').mockImplementation(() => {
      throw new TypeError('something nobody foresaw');
    });
    const r = await run(['stats', folder], { DIFFLABEL_DEBUG: '1' });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: something nobody foresaw\n.*\n\s+at /s);
  });

  it('an export to a folder that does not exist says so in one line', async () => {
    const out = join(dir.path, 'no-such-folder', 'x.json');
    const r = await run(['export', folder, '--out', out]);
    expect({ code: r.code, err: r.err }).toEqual({ code: 1, err: `error: folder not found: ${join(dir.path, 'no-such-folder')}\n` });
  });

  it('prints an expected error as its message alone', async () => {
    const r = await run(['stats', join(dir.path, 'missing')]);
    expect({ code: r.code, err: r.err }).toEqual({ code: 1, err: `error: folder not found: ${join(dir.path, 'missing')}\n` });
  });
});

describe('difflabel serve', () => {
  it('on a non-loopback address, warns that images and the token cross the network in clear text, and prints the addresses to use', async () => {
    const { out, err } = await serveOutput(['--host', '0.0.0.0', folder]);
    expect(err).toMatch(/warning: .*0\.0\.0\.0.*not a loopback address.*images and the session token cross the network unencrypted/);
    const port = /open http:\/\/0\.0\.0\.0:(\d+)\//.exec(out)?.[1];
    expect(port).toBeDefined();
    const addresses = networkAddresses();
    for (const a of addresses) expect(out).toContain(`http://${a.includes(':') ? `[${a}]` : a}:${port}/?token=`);
    if (!addresses.length) expect(err).toMatch(/no network address/);
  });

  it('on loopback, prints no warning', async () => {
    const { out, err } = await serveOutput([folder]);
    expect(out).toMatch(/open http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    expect(err).not.toMatch(/warning/);
  });
});
