// Peekaboo's cost and its faster settings, two modes:
//
//   table  On the fixture scene (tests/pipelines/peekaboo: a grey image with a red disk and a blue square, an analytic
//          denoiser, NOT Stable Diffusion), each candidate setting's mask for "red" and "blue" against the reference
//          setting's mask (IoU), against the true shape, and its wall time. The reference setting is SGD for 300
//          iterations at alpha side `--size` (default 64, as the fixture tests; the rate scaled by (256/size)², see
//          docs/peekaboo.md) and composite 512. Candidates: fewer iterations, Adam at several rates, a smaller alpha,
//          a smaller composite, early stop.
//   sd     One optimisation iteration on CPU with SD 1.5-size random weights (the cost does not depend on the values):
//          the step graph (two forwards and a backward through the alpha MLP, the blur and the VAE encoder) and the
//          UNet pair at the composite's latent, per preset shape; the same graph without its backward and update (the
//          forward alone) as the same-run peer, so the backward's cost is a ratio. `--iterations` (default 2) timed
//          iterations after one untimed (graph build, session creation); per image is EXTRAPOLATED: the median
//          iteration × the preset's iterations.
//
// Usage: npm run bench -- peekaboo [--mode sd|table] [--shapes 256/512,128/256] [--iterations N] [--size 64]
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { readManifest } from '../src/core/ml/bundle';
import { SessionManager } from '../src/core/ml/runtime';
import { peekabooSession } from '../src/core/pipelines/peekaboo/definition';
import { fixtureScene, writePeekabooFixtureBundle } from '../src/core/pipelines/peekaboo/fixture';
import { PeekabooModels } from '../src/core/pipelines/peekaboo/models';
import { PeekabooParamsSchema, PRESETS } from '../src/core/pipelines/peekaboo/params';
import type { ImageInput } from '../src/core/pipelines/types';
import type { ImageRow } from '../src/core/project';
import { decode, encode, fromCompressedString, toCompressedString } from '../src/shared/masks';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : d;
};
const log = (...a: unknown[]) => console.error('[bench peekaboo]', ...a);
const machine = () => ({ cpus: os.cpus().length, cpu: os.cpus()[0]?.model, load: os.loadavg().map((x) => Math.round(x * 100) / 100), node: process.version });
const peakRss = () => process.resourceUsage().maxRSS * 1024;

function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0, union = 0;
  for (let i = 0; i < a.length; i++) {
    inter += a[i]! & b[i]!;
    union += a[i]! | b[i]!;
  }
  return union ? inter / union : 1;
}

async function table() {
  const size = Number(opt('size', '64'));
  const rate = (256 / size) ** 2; // the reference's rate at this alpha side (see docs/peekaboo.md)
  const scene = fixtureScene();
  const image: ImageInput = { row: { id: 1, path: 'scene.png', width: scene.rgb.width, height: scene.rgb.height } as ImageRow, rgb: async () => scene.rgb };
  const dir = mkdtempSync(join(os.tmpdir(), 'bench-peekaboo-'));
  const host = new SessionManager();
  const sessions = new Map<number, ReturnType<typeof peekabooSession>>();
  const session = async (composite: number) => {
    let s = sessions.get(composite);
    if (!s) {
      const b = await writePeekabooFixtureBundle(join(dir, `fixture-${composite}`), scene.rgb, composite);
      sessions.set(composite, (s = peekabooSession(new PeekabooModels(b, readManifest(b), host, join(dir, 'graphs')))));
    }
    return s;
  };
  const reference = { preset: 'reference', learningRate: PRESETS.reference.learningRate * rate, iterations: 300 };
  const candidates: { name: string; params: Record<string, unknown> }[] = [
    { name: `reference (SGD ${reference.learningRate.toExponential(1)}, 300)`, params: reference },
    { name: 'SGD, 100 iterations', params: { ...reference, iterations: 100 } },
    { name: 'Adam 1e-3, 100', params: { optimizer: 'adam', learningRate: 1e-3, iterations: 100 } },
    { name: 'Adam 3e-3, 50', params: { optimizer: 'adam', learningRate: 3e-3, iterations: 50 } },
    { name: 'Adam 1e-2, 30', params: { optimizer: 'adam', learningRate: 1e-2, iterations: 30 } },
    { name: `Adam 3e-3, 50, alpha ${size / 2}`, params: { optimizer: 'adam', learningRate: 3e-3, iterations: 50, size: size / 2 } },
    { name: 'Adam 3e-3, 50, composite 256', params: { optimizer: 'adam', learningRate: 3e-3, iterations: 50, compositeSize: 256 } },
    { name: 'Adam 3e-3, ≤100, stop when stable 10', params: { optimizer: 'adam', learningRate: 3e-3, iterations: 100, stopWhenStable: 10 } },
    { name: 'fast preset', params: { preset: 'fast' } },
  ];
  // Every mask is kept in a cache folder (seeded runs repeat exactly), so candidates can run in separate processes
  // (`--only 0,3`) and a last run without --only prints the whole table from the cache.
  const cache = opt('cache', join(os.tmpdir(), `bench-peekaboo-table-${size}`));
  mkdirSync(cache, { recursive: true });
  const only = opt('only', '');
  const chosen = only ? only.split(',').map(Number) : candidates.map((_, i) => i);
  type Result = { counts: string; s: number; iterations: number; load: number[] };
  const file = (c: (typeof candidates)[number], word: string) => join(cache, `${createHash('sha256').update(JSON.stringify({ params: PeekabooParamsSchema.parse({ size, ...c.params }), word })).digest('hex').slice(0, 16)}.json`);
  const result = (c: (typeof candidates)[number], word: string): Result | null => (existsSync(file(c, word)) ? JSON.parse(readFileSync(file(c, word), 'utf8')) : null);
  const { width: W, height: H } = scene.rgb;
  try {
    for (const i of chosen) {
      const c = candidates[i]!;
      for (const word of ['red', 'blue'] as const) {
        if (result(c, word)) continue;
        const p = PeekabooParamsSchema.parse({ size, ...c.params });
        let iterations = 0;
        const t0 = performance.now();
        const out = await (await session(p.compositeSize)).run(image, p, { kind: 'text', text: word }, { priority: 'batch', onProgress: (x) => x.message?.startsWith('iteration') && iterations++ });
        const r: Result = { counts: out[0] ? toCompressedString(out[0].mask) : toCompressedString(encode(new Uint8Array(W * H), H, W)), s: (performance.now() - t0) / 1000, iterations, load: machine().load };
        writeFileSync(file(c, word), JSON.stringify(r));
        log(c.name, word, { s: round(r.s, 1), iterations, load: r.load });
      }
    }
  } finally {
    for (const s of sessions.values()) await s.dispose();
    await host.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
  const mask = (r: Result) => decode(fromCompressedString(r.counts, H, W));
  const rows = candidates.map((c) => {
    const row: Record<string, unknown> = { setting: c.name };
    for (const word of ['red', 'blue'] as const) {
      const r = result(c, word), ref = result(candidates[0]!, word);
      if (!r) return { ...row, missing: 'not run yet' };
      Object.assign(row, {
        [`${word}: IoU vs reference`]: ref ? round(iou(mask(r), mask(ref))) : null, [`${word}: IoU vs truth`]: round(iou(mask(r), scene.truth[word])),
        [`${word}: iterations`]: r.iterations, [`${word}: s`]: round(r.s, 1), [`${word}: load`]: r.load[0],
      });
    }
    return row;
  });
  return { mode: 'table', alphaSide: size, machine: machine(), rows };
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

const mode = opt('mode', 'sd');
const result = mode === 'table' ? await table() : await sd();
console.log(JSON.stringify({ benchmark: 'peekaboo', ...result, peakRssBytes: peakRss() }, null, 2));

async function sd(): Promise<Record<string, unknown>> {
  throw new Error('todo');
}
