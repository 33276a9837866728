#!/usr/bin/env node
// `npm run golden -- <case folder> …` / `npm run golden -- --all <golden root>`: loads the TypeScript runner
// through tsx, so no build step is needed (docs/golden.md).
const { register } = await import('tsx/esm/api');

register();
const { main } = await import('../src/core/golden/main.ts');
// npm runs scripts in the package root: folders are named from where `npm run golden` was typed.
const cwd = process.env.npm_lifecycle_event === 'golden' && process.env.INIT_CWD ? process.env.INIT_CWD : process.cwd();
process.exitCode = await main(process.argv.slice(2), undefined, cwd);
