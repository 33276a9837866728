// Text → image with a grounding mask, per 512² image on CPU with SD 1.5-size random weights (the cost does not depend
// on the values), through the generator's own code (generate.ts generateImage on GroundedModels): the text encoder
// (CLIP ViT-L/14 text), the grounded UNet variant (batch 2, taps and cross-attention outputs, as the converter builds
// it), the VAE decoder and the grounding module at the released size (GROUNDING_SD1_CONFIG), for each sampler at
// `--steps` steps (default 3).
//
// The same-run baseline: one guided UNet pass (the [2, 4, 64, 64] pair, [2, 77, 768] context) run directly on the
// host, `--passes` times (default 3). Reported per sampler: seconds per image, per sampling step (the time from the
// first UNet call to the decode, over the calls), per-step / UNet-pass (what the sampler adds: guidance, the update,
// the copies), the module's and the decoder's shares of the image, and the load average beside each figure.
//
// Usage: npm run bench -- generate [--samplers ddim,pndm,dpmpp] [--steps N] [--passes N] [--ep cpu|cuda]
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { BundleManifest } from '../src/core/ml/bundle/schema';
import type { GraphBuilder, Value } from '../src/core/ml/graph';
import { buildClipTextEncoder, buildVaeDecoder, clipWeightShapes, SD15_CLIP_CONFIG, SD15_UNET_CONFIG, SD15_VAE_CONFIG, unetWeightShapes, vaeWeightShapes } from '../src/core/ml/models';
import { buildGroundingModule, GROUNDING_SD1_CONFIG, GroundingWeights, groundingWeightShapes } from '../src/core/ml/models/grounding';
import { SessionManager } from '../src/core/ml/runtime';
import { GaussianNoise } from '../src/core/ml/schedulers';
import { RandomWeights } from '../src/core/ml/weights';
import { ensureFixtureBundle } from '../src/core/pipelines/grounded/fixture';
import { generateImage, SAMPLER_NAMES } from '../src/core/pipelines/grounded/generate';
import { GroundedModels } from '../src/core/pipelines/grounded/models';
import { GROUNDED_UNET } from '../src/core/pipelines/grounded/variant';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : d;
};
const samplers = opt('samplers', 'ddim,pndm,dpmpp').split(',');
const steps = Number(opt('steps', '3'));
const passes = Number(opt('passes', '3'));
const ep = opt('ep', 'cpu');
const log = (...a: unknown[]) => console.error('[bench generate]', ...a);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const load = () => Math.round(os.loadavg()[0]! * 100) / 100;
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

const tmp = mkdtempSync(join(os.tmpdir(), 'bench-generate-'));
const graphs: Record<string, () => GraphBuilder> = {
  text_encoder: () => buildClipTextEncoder(SD15_CLIP_CONFIG, new RandomWeights(clipWeightShapes(SD15_CLIP_CONFIG))).graph,
  unet_grounded: () => GROUNDED_UNET.build({ config: SD15_UNET_CONFIG, weights: new RandomWeights(unetWeightShapes(SD15_UNET_CONFIG)), dtype: 'float32', size: 64 }).graph,
  vae_decoder: () => buildVaeDecoder(SD15_VAE_CONFIG, new RandomWeights(vaeWeightShapes(SD15_VAE_CONFIG))).graph,
  grounding_module: () => buildGroundingModule(GROUNDING_SD1_CONFIG, new GroundingWeights(new RandomWeights(groundingWeightShapes(GROUNDING_SD1_CONFIG)), GROUNDING_SD1_CONFIG), { batch: 1 }).graph,
};

try {
  const t0 = performance.now();
  const components: Record<string, unknown> = {};
  for (const [k, build] of Object.entries(graphs)) {
    const g = build();
    g.save(join(tmp, `${k}.onnx`));
    const spec = (vs: readonly Value[]) => vs.map((v) => ({ name: v.name, dtype: v.dtype, shape: v.shape ? [...v.shape] : [] }));
    const config = k === 'unet_grounded' ? { block_out_channels: SD15_UNET_CONFIG.block_out_channels } : k === 'text_encoder' ? { hidden_size: SD15_CLIP_CONFIG.hidden_size } : {};
    components[k] = { model: `${k}.onnx`, files: [], inputs: spec(g.inputs), outputs: spec(g.outputs), config };
  }
  // The tokenizer decides no cost (77 ids either way): the fixture's.
  mkdirSync(join(tmp, 'tokenizer'));
  cpSync(join(await ensureFixtureBundle(), 'tokenizer', 'bpe_fixture.txt.gz'), join(tmp, 'tokenizer', 'bpe.txt.gz'));
  const manifest = {
    name: 'sd15-random', createdAt: new Date().toISOString(), components, vaeScalingFactor: 0.18215,
    tokenizer: { format: 'bpe-gz', bpe: 'tokenizer/bpe.txt.gz', files: [], pad: 'eot', contextLength: 77 },
  } as unknown as BundleManifest;
  const buildS = (performance.now() - t0) / 1000;

  const host = new SessionManager({ providers: [ep], sessionOptions: { graphOptimizationLevel: 'all' } });
  /** Per graph, the durations (ms) of its runs since the last reset. */
  const runs: Record<string, number[]> = {};
  const timed: SessionManager['run'] = async (key, feeds, names, o) => {
    const t = performance.now();
    const out = await host.run(key, feeds, names, o);
    (runs[key.split(':').pop()!] ??= []).push(performance.now() - t);
    return out;
  };
  const sum = (xs: number[] = []) => xs.reduce((a, b) => a + b, 0);
  const models = new GroundedModels(tmp, manifest, { register: (k: string, p: string) => host.register(k, p), run: timed, release: (k: string) => host.release(k) } as unknown as SessionManager);
  const t1 = performance.now();
  let provider = '';
  for (const k of Object.keys(graphs)) {
    const key = `grounded:${tmp}:${manifest.createdAt}:${k}`;
    await host.register(key, join(tmp, `${k}.onnx`));
    provider = (await host.load(key)).provider.active;
  }
  const loadS = (performance.now() - t1) / 1000;
  log(`built and saved in ${buildS.toFixed(0)} s, loaded in ${loadS.toFixed(0)} s (${provider})`);

  const settings = { prompt: 'a photo of a dog on a beach', negativePrompt: '', categories: ['dog'], grounding: 'module' as const, width: 512, height: 512, scale: 7.5, seed: 1 };
  // Warm-up: the first runs of a session allocate.
  await generateImage(models, { ...settings, sampler: 'ddim', steps: 1 });

  const unetPass = async () => {
    const sample = new GaussianNoise(2).fill(new Float32Array(2 * 4 * 64 * 64));
    const context = new GaussianNoise(3).fill(new Float32Array(2 * 77 * 768));
    const t = performance.now();
    await host.run(`grounded:${tmp}:${manifest.createdAt}:unet_grounded`, {
      sample: { data: sample, dims: [2, 4, 64, 64] }, timestep: { data: Float32Array.of(981), dims: [1] }, encoder_hidden_states: { data: context, dims: [2, 77, 768] },
    }, ['noise_pred']);
    return (performance.now() - t) / 1000;
  };

  const results: Record<string, unknown> = {};
  const baselines: { s: number; load: number }[] = [];
  for (const name of samplers) {
    const sampler = SAMPLER_NAMES[name]!;
    // The baseline beside each sampler, so load that changes during the run changes both alike.
    for (let i = 0; i < passes; i++) baselines.push({ s: await unetPass(), load: load() });
    const pass = median(baselines.slice(-passes).map((b) => b.s));
    for (const k of Object.keys(runs)) delete runs[k];
    const stepAt: number[] = [];
    const t = performance.now();
    await generateImage(models, { ...settings, sampler, steps }, { onStep: () => stepAt.push(performance.now()) });
    const wall = (performance.now() - t) / 1000;
    const unet = runs['unet_grounded']!;
    // A step: from the end of one step to the end of the next (its UNet call, guidance, the sampler's update, the
    // copies); the first step's start is not seen, so steps 2 … n are measured.
    const n = stepAt.length;
    const perStep = (stepAt[n - 1]! - stepAt[0]!) / 1000 / (n - 1);
    const unetPerStep = sum(unet.slice(1)) / 1000 / (n - 1);
    results[name] = {
      steps, unet_calls: unet.length, per_image_s: round(wall), per_step_s: round(perStep), unet_per_step_s: round(unetPerStep),
      per_step_over_unet_pass: round(perStep / pass, 4), sampler_overhead_per_step_s: round(perStep - unetPerStep, 4), sampler_overhead_share: round((perStep - unetPerStep) / perStep, 5),
      baseline_unet_pass_s: round(pass), shares: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, round(sum(v) / 1000 / wall, 4)])),
      graphs_s: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, round(sum(v) / 1000)])), load_avg_1m: load(),
    };
    log(name, JSON.stringify(results[name]));
  }
  await models.dispose();
  await host.dispose();
  console.log(JSON.stringify({
    benchmark: 'generate',
    description: `one 512² image with one category, SD 1.5-size random weights, ${steps} steps per sampler; baseline: a guided UNet pass (batch 2) run directly, ${passes}× beside each sampler`,
    execution_provider: provider, build_and_save_s: round(buildS, 1), session_load_s: round(loadS, 1),
    samplers: results, baseline_passes: baselines.map((b) => ({ s: round(b.s), load_avg_1m: b.load })),
    machine: { loadavg: os.loadavg().map((v) => round(v, 2)), cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version },
  }));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
