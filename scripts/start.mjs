#!/usr/bin/env node
// `npm start [-- <folder>]`: builds the app and opens its window. Where Electron cannot run (its binary
// cannot be downloaded, or there is no display), it says so in one line and serves the same UI in web mode.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);

const build = spawnSync('npx', ['electron-vite', 'build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

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
  return { reason: `its binary could not be downloaded (${(r.stderr || r.stdout || 'no output').trim().split('\n').pop()})` };
}

const headless = process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY;
const electron = headless ? { reason: 'there is no display (DISPLAY is not set)' } : electronBinary();

if (electron.bin) {
  const child = spawn(electron.bin, [root, ...args], { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 0));
} else {
  console.log(`Electron is not available here: ${electron.reason}; serving the same UI in web mode instead.`);
  const child = spawn(process.execPath, [join(root, 'bin', 'difflabel.mjs'), 'serve', ...args], { cwd: root, stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code) => process.exit(code ?? 0));
}
