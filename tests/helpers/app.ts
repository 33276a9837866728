// The app as a user runs it: `npm start` or `difflabel serve` in a process group of its own (as a terminal starts
// it), driven over its HTTP API.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const NODE = join(ROOT, 'node_modules/.bin/node');

export interface RunningApp {
  child: ChildProcess;
  url: string;
  token: string;
  output(): string;
  exited: Promise<[number | null, string | null]>;
}

const running = new Set<ChildProcess>();

/** Kills what a failed test left running (call from afterEach). */
export function killApps(): void {
  for (const c of running) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {}
  }
}

/** Starts a command in its own process group (as a terminal would) and waits for the web-mode URL it prints. */
export async function startApp(args: string[]): Promise<RunningApp> {
  const env: NodeJS.ProcessEnv = { ...process.env, DIFFLABEL_NO_BUILD: '1' };
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;
  const child = spawn(NODE, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<[number | null, string | null]>((ok) => child.on('exit', (c, s) => ok([c, s])));
  running.add(child);
  void exited.then(() => running.delete(child));
  const deadline = Date.now() + 60_000;
  let m: RegExpExecArray | null = null;
  while (!(m = /open (http:\/\/[^/\s]+)\/\?token=(\S+)/.exec(out))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`app did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, url: m[1]!, token: m[2]!, output: () => out, exited };
}

export async function call(app: { url: string; token: string }, method: string, input: unknown): Promise<any> {
  const r = await fetch(`${app.url}/api/${method}`, {
    method: 'POST', headers: { authorization: `Bearer ${app.token}`, 'content-type': 'application/json' }, body: JSON.stringify(input),
  });
  const body = await r.json();
  if (!r.ok) throw new Error(`${method}: ${r.status} ${JSON.stringify(body)}`);
  return body.result;
}

export async function waitIndexed(app: { url: string; token: string }, n: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await call(app, 'project.stats', {})).images === n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('indexing did not finish');
}

