#!/usr/bin/env node
// `npm run bench -- NAME [args]`: runs benchmarks/NAME.ts, which prints one JSON object on stdout.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...rest] = process.argv.slice(2);
const names = readdirSync(join(root, 'benchmarks')).filter((f) => f.endsWith('.ts') && !f.startsWith('_')).map((f) => f.slice(0, -3));
if (!name || !names.includes(name)) {
  console.error(`usage: npm run bench -- NAME\navailable: ${names.join(', ')}`);
  process.exit(2);
}
const file = join(root, 'benchmarks', `${name}.ts`);
if (!existsSync(file)) process.exit(2);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', file, ...rest], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
