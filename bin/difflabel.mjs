#!/usr/bin/env node
// Entry point of the `difflabel` command: loads the TypeScript CLI through tsx, so no build step is needed.
if (Number(process.versions.node.split('.')[0]) < 22) {
  console.error(`error: DiffLabel needs Node 24 (this is ${process.version}); run it through npx or npm, which use the Node that npm install put in node_modules`);
  process.exit(1);
}
const { register } = await import('tsx/esm/api');

register();
const { main } = await import('../src/core/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
