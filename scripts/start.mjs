#!/usr/bin/env node
// `npm start [-- <folder>]`: builds the app and opens its window. Where Electron cannot run (its binary
// cannot be downloaded, or there is no display), it says so in one line and serves the same UI in web mode.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);

// DIFFLABEL_NO_BUILD=1 starts what was built last (the tests build once, then start the app several times).
if (!process.env.DIFFLABEL_NO_BUILD) {
  const build = spawnSync('npx', ['electron-vite', 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

function electronBinary() {
  const dir = join(root, 'node_modules', 'electron');
  const located = () => {
    const pathTxt = join(dir, 'path.txt');
    if (!existsSync(pathTxt)) return null;
    const bin = join(dir, 'dist', readFileSync(pathTxt, 'utf8'));
    return existsSync(bin) ? bin : null;
  };
  if (located()) return { bin: located() };
  // Electron fetches its binary on first use; try once, quietly.
  const r = spawnSync(process.execPath, [join(dir, 'install.js')], { cwd: root, encoding: 'utf8', timeout: 180_000 });
  if (r.status === 0 && located()) return { bin: located() };
  return { reason: downloadFailure(r) };
}

/** Why fetching Electron's binary failed, in words: its installer prints a stack trace, not a reason. */
function downloadFailure(r) {
  const missing = "Electron's binary is not installed and";
  if (r.error?.code === 'ETIMEDOUT') return `${missing} its download did not finish within 3 minutes`;
  const out = `${r.stderr ?? ''}\n${r.stdout ?? ''}`;
  if (/fetch failed|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|socket hang up/.test(out)) {
    // The mirror settings @electron/get reads most often; github.com by default.
    const from = process.env.ELECTRON_MIRROR || process.env.npm_config_electron_mirror || 'https://github.com/';
    return `${missing} could not be downloaded (no network access to ${URL.canParse(from) ? new URL(from).host : from})`;
  }
  const first = out.split('\n').find((l) => l.trim() && !/^\s*at /.test(l));
  return `${missing} could not be downloaded (${first?.trim() ?? `its installer exited with ${r.status ?? r.signal}`})`;
}

const headless = process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY;
const electron = headless ? { reason: "There is no display for Electron's window (DISPLAY is not set)" } : electronBinary();

let child;
if (electron.bin) {
  child = spawn(electron.bin, [root, ...args], { stdio: 'inherit' });
} else {
  console.log(`${electron.reason}; serving the same UI in web mode instead.`);
  child = spawn(process.execPath, [join(root, 'bin', 'difflabel.mjs'), 'serve', ...args], { cwd: root, stdio: 'inherit' });
}
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
// Ctrl-C in the terminal reaches the child directly (same process group): passing it on would be a second
// Ctrl-C. A SIGINT sent to this process alone is passed on as SIGTERM if the child is still running a moment
// later; SIGTERM and SIGHUP, which are sent to this process alone, are passed on at once. The child closes its
// project cleanly on the first of these and ignores the rest.
process.on('SIGINT', () => setTimeout(() => child.exitCode === null && child.kill('SIGTERM'), 1000).unref());
for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
