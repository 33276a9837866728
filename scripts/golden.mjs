#!/usr/bin/env node
// `npm run golden -- <case folder> …` / `npm run golden -- --all <golden root>`: loads the TypeScript runner
// through tsx, so no build step is needed (docs/golden.md).
const { register } = await import('tsx/esm/api');

register();
const { main } = await import('../src/core/ml/golden/main.ts');
process.exitCode = await main(process.argv.slice(2));
