// Peekaboo's cost and its faster settings, two modes:
//
//   table  On the fixture scene (tests/pipelines/peekaboo: a grey image with a red disk and a blue square, an analytic
//          denoiser, NOT Stable Diffusion), each candidate setting's mask for "red" and "blue" against the reference
//          setting's mask (IoU), against the true shape, and its wall time. The reference setting is SGD for 300
//          iterations at alpha side `--size` (default 64, as the fixture tests; the rate scaled by (256/size)², see
//          docs/peekaboo.md) and composite 512. Candidates: fewer iterations, Adam at several rates, a smaller alpha,
//          a smaller composite, early stop, several timesteps per UNet call, a start from a mask near the true shape
//          (grown or shrunk by 4 px: what a coarse segment gives). Per run its wall time and its process CPU time
//          (onnxruntime's threads included: less dependent on the load than wall time).
//   sd     One optimisation iteration on CPU with SD 1.5-size random weights (the cost does not depend on the values):
//          the step graph (two forwards and a backward through the alpha MLP, the blur and the VAE encoder) and the
//          UNet pair at the composite's latent, per preset shape; the same graph without its backward and update (the
//          forward alone) as the same-run peer, so the backward's cost is a ratio. `--iterations` (default 2) timed
//          iterations after one untimed (graph build, session creation); per image is EXTRAPOLATED: the median
//          iteration × the preset's iterations.
//
// Usage: npm run bench -- peekaboo [--mode sd|table] [--shapes 128/256,256/512] [--iterations N] [--size 64]
//                                  [--only 0,3 (table: these candidates)] [--report (table: from the cache only)]
//                                  [--fresh (table: run the chosen candidates again, e.g. a baseline for same-run times)]
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { readManifest } from '../src/core/ml/bundle';
import type { GraphBuilder } from '../src/core/ml/graph';
import { buildUNet, buildVaeEncoder, SD15_UNET_CONFIG, SD15_VAE_CONFIG, unetWeightShapes, vaeWeightShapes } from '../src/core/ml/models';
import { PEEKABOO_BILATERAL } from '../src/core/ml/models/peekaboo';
import { SessionManager, type Feeds } from '../src/core/ml/runtime';
import { GaussianNoise } from '../src/core/ml/schedulers';
import { RandomWeights } from '../src/core/ml/weights';
import { buildStepGraph, mlpParameters, type StepGraphOptions } from '../src/core/pipelines/peekaboo/step';
import { peekabooSession } from '../src/core/pipelines/peekaboo/definition';
import { fixtureScene, grownMask, writePeekabooFixtureBundle } from '../src/core/pipelines/peekaboo/fixture';
import { PeekabooModels } from '../src/core/pipelines/peekaboo/models';
import { PeekabooParamsSchema, PRESETS } from '../src/core/pipelines/peekaboo/params';
import type { ImageInput } from '../src/core/pipelines/types';
import type { ImageRow } from '../src/core/project';
import { decode, encode, fromCompressedString, toCocoRle, toCompressedString } from '../src/shared/masks';
import { pixelIou as iou } from '../tests/helpers/masks';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : d;
};
const log = (...a: unknown[]) => console.error('[bench peekaboo]', ...a);
const machine = () => ({ cpus: os.cpus().length, cpu: os.cpus()[0]?.model, load: os.loadavg().map((x) => Math.round(x * 100) / 100), node: process.version });
const peakRss = () => process.resourceUsage().maxRSS * 1024;

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
  const { width: W, height: H } = scene.rgb;
  type Word = keyof typeof scene.truth;
  const startFrom = (px: number) => (word: Word) => ({ start: 'segment', initialMask: toCocoRle(encode(grownMask(scene.truth[word], W, H, px), H, W), true) });
  const adam = { optimizer: 'adam', learningRate: 3e-3 };
  const candidates: { name: string; params: Record<string, unknown> | ((word: Word) => Record<string, unknown>) }[] = [
    { name: `reference (SGD ${reference.learningRate.toExponential(1)}, 300)`, params: reference },
    { name: 'SGD, 100 iterations', params: { ...reference, iterations: 100 } },
    { name: 'Adam 1e-3, 100', params: { optimizer: 'adam', learningRate: 1e-3, iterations: 100 } },
    { name: 'Adam 3e-3, 50', params: { optimizer: 'adam', learningRate: 3e-3, iterations: 50 } },
    { name: 'Adam 1e-2, 30', params: { optimizer: 'adam', learningRate: 1e-2, iterations: 30 } },
    { name: `Adam 3e-3, 50, alpha ${size / 2}`, params: { optimizer: 'adam', learningRate: 3e-3, iterations: 50, size: size / 2 } },
    { name: 'Adam 3e-3, 50, composite 256', params: { optimizer: 'adam', learningRate: 3e-3, iterations: 50, compositeSize: 256 } },
    { name: 'Adam 3e-3, ≤100, stop when stable 10', params: { optimizer: 'adam', learningRate: 3e-3, iterations: 100, stopWhenStable: 10 } },
    { name: 'fast preset', params: { preset: 'fast' } },
    { name: 'Adam 3e-3, 25, 2 timesteps per call', params: { ...adam, iterations: 25, timestepsPerCall: 2 } },
    { name: 'Adam 3e-3, 13, 4 timesteps per call', params: { ...adam, iterations: 13, timestepsPerCall: 4 } },
    // Adam moves a parameter by about the rate per step: fewer steps need a higher rate, which the averaged gradient's
    // lower noise may allow.
    { name: 'Adam 6e-3, 25, 2 timesteps per call', params: { optimizer: 'adam', learningRate: 6e-3, iterations: 25, timestepsPerCall: 2 } },
    { name: 'Adam 1.2e-2, 13, 4 timesteps per call', params: { optimizer: 'adam', learningRate: 1.2e-2, iterations: 13, timestepsPerCall: 4 } },
    { name: 'Adam 1.2e-2, 13, 4 timesteps per call, seed 1', params: { optimizer: 'adam', learningRate: 1.2e-2, iterations: 13, timestepsPerCall: 4, seed: 1 } },
    { name: 'Adam 1.2e-2, 13 (its peer: one timestep per call)', params: { optimizer: 'adam', learningRate: 1.2e-2, iterations: 13 } },
    { name: 'Adam 3e-3, 10, from the shape grown 4 px', params: (w) => ({ ...adam, iterations: 10, ...startFrom(4)(w) }) },
    { name: 'Adam 3e-3, 20, from the shape grown 4 px', params: (w) => ({ ...adam, iterations: 20, ...startFrom(4)(w) }) },
    { name: 'Adam 3e-3, 10, from the shape shrunk 4 px', params: (w) => ({ ...adam, iterations: 10, ...startFrom(-4)(w) }) },
    // The SD-size cost per iteration falls with the composite (its VAE encoder and UNet latent) and grows with the
    // timesteps per call: the settings that fit 3 minutes per image on two CPU cores.
    { name: 'Adam 1e-2, 30, composite 256', params: { optimizer: 'adam', learningRate: 1e-2, iterations: 30, compositeSize: 256 } },
    { name: 'Adam 1e-2, 20, composite 256', params: { optimizer: 'adam', learningRate: 1e-2, iterations: 20, compositeSize: 256 } },
    { name: 'Adam 1.2e-2, 13, 4 timesteps per call, composite 256', params: { optimizer: 'adam', learningRate: 1.2e-2, iterations: 13, timestepsPerCall: 4, compositeSize: 256 } },
    { name: 'Adam 1e-2, 30, composite 256, seed 1', params: { optimizer: 'adam', learningRate: 1e-2, iterations: 30, compositeSize: 256, seed: 1 } },
  ];
  const paramsOf = (c: (typeof candidates)[number], word: Word) => PeekabooParamsSchema.parse({ size, ...(typeof c.params === 'function' ? c.params(word) : c.params) });
  // Every mask is kept in a cache folder (seeded runs repeat exactly), so candidates can run in separate processes
  // (`--only 0,3`) and a last run without --only prints the whole table from the cache.
  const cache = opt('cache', join(os.tmpdir(), `bench-peekaboo-table-${size}`));
  mkdirSync(cache, { recursive: true });
  const only = opt('only', '');
  const chosen = argv.includes('--report') ? [] : only ? only.split(',').map(Number) : candidates.map((_, i) => i);
  const fresh = argv.includes('--fresh');
  type Result = { counts: string; s: number; cpu?: number; iterations: number; load: number[] };
  // Parameters at their defaults are left out of the key, so masks cached before a parameter existed stay valid.
  const defaults = PeekabooParamsSchema.parse({});
  // Sorted, so that the key does not depend on the order the schema fills fields in.
  const key = (p: Record<string, unknown>) => Object.fromEntries(Object.entries(p).filter(([k, v]) => !(['timestepsPerCall', 'start'] as string[]).includes(k) || v !== defaults[k as keyof typeof defaults]).sort(([a], [b]) => (a < b ? -1 : 1)));
  const file = (c: (typeof candidates)[number], word: Word) => join(cache, `${createHash('sha256').update(JSON.stringify({ params: key({ ...paramsOf(c, word) }), word })).digest('hex').slice(0, 16)}.json`);
  const result = (c: (typeof candidates)[number], word: Word): Result | null => (existsSync(file(c, word)) ? JSON.parse(readFileSync(file(c, word), 'utf8')) : null);
  try {
    for (const i of chosen) {
      const c = candidates[i]!;
      for (const word of ['red', 'blue'] as const) {
        if (!fresh && result(c, word)) continue;
        const p = paramsOf(c, word);
        let iterations = 0;
        const t0 = performance.now(), cpu0 = process.cpuUsage();
        const out = await (await session(p.compositeSize)).run(image, p, { kind: 'text', text: word }, { priority: 'batch', onProgress: (x) => x.message?.startsWith('iteration') && iterations++ });
        const cpu = process.cpuUsage(cpu0);
        const r: Result = {
          counts: out[0] ? toCompressedString(out[0].mask) : toCompressedString(encode(new Uint8Array(W * H), H, W)), s: (performance.now() - t0) / 1000,
          cpu: (cpu.user + cpu.system) / 1e6, iterations, load: machine().load,
        };
        writeFileSync(file(c, word), JSON.stringify(r));
        log(c.name, word, { s: round(r.s, 1), cpu: round(r.cpu!, 1), iterations, load: r.load });
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
        [`${word}: iterations`]: r.iterations, [`${word}: s`]: round(r.s, 1), [`${word}: cpu s`]: r.cpu === undefined ? null : round(r.cpu, 1), [`${word}: load`]: r.load[0],
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
  const shapes = opt('shapes', '128/256,256/512').split(',').map((x) => x.split('/').map(Number) as [number, number]);
  const timed = Number(opt('iterations', '2'));
  const tmp = mkdtempSync(join(os.tmpdir(), 'bench-peekaboo-sd-'));
  const host = new SessionManager({ sessionOptions: { graphOptimizationLevel: 'all' } });
  const vae = () => buildVaeEncoder(SD15_VAE_CONFIG, new RandomWeights(vaeWeightShapes(SD15_VAE_CONFIG)), { batch: 1, height: P, width: P }).graph;
  let P = 0;
  const load = async (key: string, build: () => GraphBuilder) => {
    build().save(join(tmp, `${key}.onnx`));
    await host.register(key, join(tmp, `${key}.onnx`));
    await host.load(key);
  };
  const time = async (key: string, feeds: () => Feeds, outputs: string[]) => {
    await host.run(key, feeds(), outputs); // untimed: the first run allocates
    const s: number[] = [];
    for (let k = 0; k < timed; k++) {
      const t0 = performance.now();
      await host.run(key, feeds(), outputs);
      s.push((performance.now() - t0) / 1000);
    }
    return round(median(s), 2);
  };
  const rows: Record<string, unknown>[] = [];
  try {
    for (const [S, composite] of shapes) {
      P = composite;
      const h = P / 8, F = 128;
      const latent = () => ({ data: new Float32Array(4 * h * h).fill(0.1), dims: [1, 4, h, h] });
      const specs = mlpParameters(F);
      const rng = new GaussianNoise(1);
      const theta = specs.map((p) => ({ data: rng.fill(new Float32Array(p.shape.reduce((a, b) => a * b, 1))).map((v) => v * 0.05), dims: p.shape }));
      const base = () => {
        const f: Feeds = {
          guide_image: { data: rng.fill(new Float32Array(3 * S * S)).map((v) => 0.5 + 0.1 * v), dims: [3, S, S] },
          freqs: { data: rng.fill(new Float32Array(2 * F)).map((v) => 10 * v), dims: [2, F] },
          background: { data: Float32Array.of(0.2, 0.5, 0.8), dims: [3] },
          eps: latent(),
        };
        specs.forEach((p, i) => (f[`param.${p.name}`] = { data: theta[i]!.data.slice(), dims: p.shape }));
        return f;
      };
      const options = (optimizer: 'sgd' | 'adam', forwardOnly = false): StepGraphOptions => ({
        size: S, frequencies: F, compositeSize: P, scalingFactor: 0.18215, gravity: 0.05, optimizer, forwardOnly, blur: { ...PEEKABOO_BILATERAL },
      });
      const row: Record<string, unknown> = { alpha: S, composite: P };
      log(`alpha ${S}, composite ${P}: forward only`);
      await load(`forward-${S}-${P}`, () => buildStepGraph(vae(), options('sgd', true)));
      row['forward s'] = await time(`forward-${S}-${P}`, base, ['alpha', 'latent']);
      await host.release(`forward-${S}-${P}`);
      for (const optimizer of ['sgd', 'adam'] as const) {
        log(`alpha ${S}, composite ${P}: step (${optimizer})`);
        const key = `step-${optimizer}-${S}-${P}`;
        await load(key, () => buildStepGraph(vae(), options(optimizer)));
        const feeds = () => {
          const f = base();
          Object.assign(f, { lr: { data: Float32Array.of(1e-5), dims: [] }, grad_latent: latent(), next_background: { data: Float32Array.of(0.9, 0.1, 0.3), dims: [3] }, next_eps: latent() });
          if (optimizer === 'adam') {
            f['adam_bias2'] = { data: Float32Array.of(1000), dims: [] };
            specs.forEach((p, i) => {
              f[`adam_m.${p.name}`] = { data: new Float32Array(theta[i]!.data.length), dims: p.shape };
              f[`adam_v.${p.name}`] = { data: new Float32Array(theta[i]!.data.length), dims: p.shape };
            });
          }
          return f;
        };
        row[`step ${optimizer} s`] = await time(key, feeds, ['alpha', 'latent']);
        await host.release(key);
      }
      // The backward and the update: a step is two forwards, one backward, one update.
      row['backward ÷ forward'] = round(((row['step sgd s'] as number) - 2 * (row['forward s'] as number)) / (row['forward s'] as number), 2);
      log(`alpha ${S}, composite ${P}: UNet pair at ${h}²`);
      await load(`unet-${h}`, () => buildUNet(SD15_UNET_CONFIG, new RandomWeights(unetWeightShapes(SD15_UNET_CONFIG)), { batch: 2, height: h, width: h, textLength: 77, timesteps: 2 }).graph);
      row['unet pair s'] = await time(`unet-${h}`, () => ({
        sample: { data: new Float32Array(2 * 4 * h * h).fill(0.1), dims: [2, 4, h, h] }, timestep: { data: Float32Array.of(500, 500), dims: [2] },
        encoder_hidden_states: { data: rng.fill(new Float32Array(2 * 77 * 768)), dims: [2, 77, 768] },
      }), ['noise_pred']);
      await host.release(`unet-${h}`);
      row['iteration s (sgd)'] = round((row['step sgd s'] as number) + (row['unet pair s'] as number), 2);
      row['iteration s (adam)'] = round((row['step adam s'] as number) + (row['unet pair s'] as number), 2);
      row['load'] = machine().load;
      row['peak RSS GB'] = round(peakRss() / 2 ** 30, 2);
      rows.push(row);
      log(row);
    }
  } finally {
    await host.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
  // Per image, EXTRAPOLATED from the timed iterations: the preset's iterations × the median iteration.
  const perImage = Object.fromEntries(
    (['reference', 'fast'] as const).map((preset) => {
      const p = PeekabooParamsSchema.parse({ preset });
      const row = rows.find((r) => r['alpha'] === p.size && r['composite'] === p.compositeSize);
      return [preset, row ? { iterations: p.iterations, alpha: p.size, composite: p.compositeSize, seconds: round((row[`iteration s (${p.optimizer})`] as number) * p.iterations, 0), extrapolated: true } : 'its shape was not measured'];
    }),
  );
  return { mode: 'sd', timedIterations: timed, machine: machine(), rows, perImage };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
