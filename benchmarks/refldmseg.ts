// Segment from one example, per query image on CPU with SD 1.5-size random weights (the cost does not depend on the
// values), each mode through the pipeline's own code on graphs built as the converter builds them:
//   -f         Alpha-CLIP ViT-L/14 (224², alpha) on the example once, then per query: VAE encoder 256², the Ref
//              LDM-Seg UNet (encoder_hid_proj 1024→768, attention mask, 4 channels) once at a 32² latent, VAE decoder;
//   -n         the same with the 8-channel UNet, `--steps` DDPM steps (default 20) of a batch of 3;
//   prototype  any SD 1.x bundle: per query the VAE encoder 512² and DiffSeg's UNet variant (self-attention means +
//              up_block.1) once at a 64² latent, then DiffSeg's aggregation, merging and labels, and the vote; the
//              example's pass is made once. CLIP's empty prompt is a random [1,77,768] (computed once per bundle).
//   -f-fresh, -n-fresh  the same as -f / -n with sessions that return their memory after every run (no CPU arena):
//              the same-run baseline for the sessions' arena (ml/runtime/sessionManager.ts).
// Each mode loads its graphs, runs the example and `--queries` query images (default 2), and frees them. Reported:
// per query image (wall and process CPU time, the first query apart: it includes the example), the UNet's share of
// it, peak RSS so far, the load average.
//
// Usage: npm run bench -- refldmseg [--modes f,n,prototype,f-fresh,n-fresh] [--steps N] [--queries N] [--ep cpu|cuda]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { SessionManager } from '../src/core/ml/runtime';
import { RandomWeights } from '../src/core/ml/weights';
import { buildClipVisionEncoder, buildUNet, buildVaeDecoder, buildVaeEncoder, clipVisionWeightShapes, SD15_UNET_CONFIG, SD15_VAE_CONFIG, unetWeightShapes, vaeWeightShapes, VIT_L14_CONFIG } from '../src/core/ml/models';
import type { UNetConfig } from '../src/core/ml/models/unetConfig';
import type { GraphBuilder } from '../src/core/ml/graph';
import type { ImageRow } from '../src/core/project';
import { segmentQuery, supportTokens } from '../src/core/pipelines/refldmseg/inference';
import type { RefLdmSegModels } from '../src/core/pipelines/refldmseg/models';
import { prototypeSession, PrototypeParamsSchema } from '../src/core/pipelines/prototype/definition';
import type { PrototypeModels } from '../src/core/pipelines/prototype/models';
import { DIFFSEG_UNET, FEATURE_TAP } from '../src/core/pipelines/diffseg/variant';
import type { ImageInput } from '../src/core/pipelines/types';
import { encode } from '../src/shared/masks';
import { query, support } from '../tests/pipelines/refldmseg/scenes';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : d;
};
const modes = opt('modes', 'f,n,prototype').split(',');
const steps = Number(opt('steps', '20'));
const queries = Number(opt('queries', '2'));
const ep = opt('ep', 'cpu');
const log = (...a: unknown[]) => console.error('[bench refldmseg]', ...a);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const cpuS = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const peakRss = () => process.resourceUsage().maxRSS * 1024;

const tmp = mkdtempSync(join(os.tmpdir(), 'bench-refldmseg-'));
const ex = support();
const q = query();
const REF_UNET: UNetConfig = { ...SD15_UNET_CONFIG, encoder_hid_dim: 1024, encoder_hid_dim_type: 'text_proj' };

/** Saves the graphs, loads them on a fresh host whose runs are timed per graph. */
async function host(graphs: Record<string, () => GraphBuilder>, fresh = false) {
  const t0 = performance.now();
  for (const [k, build] of Object.entries(graphs)) build().save(join(tmp, `${k}.onnx`));
  const buildS = (performance.now() - t0) / 1000;
  const h = new SessionManager({ providers: [ep], sessionOptions: { graphOptimizationLevel: 'all', ...(fresh && { enableCpuMemArena: false }) } });
  const t1 = performance.now();
  let provider = '';
  for (const k of Object.keys(graphs)) {
    await h.register(k, join(tmp, `${k}.onnx`));
    provider = (await h.load(k)).provider.active;
  }
  const loadS = (performance.now() - t1) / 1000;
  const ms: Record<string, number> = {};
  const cpu: Record<string, number> = {};
  // Runs are one at a time, so the process's CPU time over a run (ONNX Runtime's threads included) is that graph's.
  const run: SessionManager['run'] = async (key, feeds, names, o) => {
    const t = performance.now(), c = cpuS();
    const out = await h.run(key, feeds, names, o);
    ms[key] = (ms[key] ?? 0) + performance.now() - t;
    cpu[key] = (cpu[key] ?? 0) + cpuS() - c;
    return out;
  };
  log(`built and saved ${Object.keys(graphs).join(', ')} in ${buildS.toFixed(0)} s, loaded in ${loadS.toFixed(0)} s (${provider})`);
  return { run, ms, cpu, provider, buildS, loadS, dispose: () => h.dispose() };
}

/** Per query image: wall and CPU seconds, the UNet's share, the first query (with the example) apart. */
async function perQuery({ ms, cpu }: { ms: Record<string, number>; cpu: Record<string, number> }, first: () => Promise<unknown>, next: () => Promise<unknown>) {
  const one = async (f: () => Promise<unknown>) => {
    const before = { ms: { ...ms }, cpu: { ...cpu } }, c = cpuS(), t = performance.now();
    await f();
    const wall = (performance.now() - t) / 1000, cpuAll = cpuS() - c;
    const graphs_s = Object.fromEntries(Object.keys(ms).map((k) => [k, (ms[k]! - (before.ms[k] ?? 0)) / 1000]));
    const graphs_cpu_s = Object.fromEntries(Object.keys(cpu).map((k) => [k, cpu[k]! - (before.cpu[k] ?? 0)]));
    return { wall_s: wall, cpu_s: cpuAll, unet_share: graphs_s['unet']! / wall, unet_cpu_share: graphs_cpu_s['unet']! / cpuAll, graphs_s, graphs_cpu_s, load_avg_1m: os.loadavg()[0] };
  };
  const withExample = await one(first);
  const rest = [];
  for (let i = 0; i < queries; i++) rest.push(await one(next));
  log(JSON.stringify({ withExample, rest }));
  return {
    first_query_with_example: withExample,
    per_query_s: median(rest.map((r) => r.wall_s)), per_query_cpu_s: median(rest.map((r) => r.cpu_s)),
    unet_share: median(rest.map((r) => r.unet_share)), unet_cpu_share: median(rest.map((r) => r.unet_cpu_share)), queries: rest,
  };
}

async function refLdmSeg(variant: 'f' | 'n', fresh: boolean) {
  const unet = { ...REF_UNET, in_channels: variant === 'n' ? 8 : 4 };
  const clip = { ...VIT_L14_CONFIG, alpha_channel: true };
  const h = await host({
    image_encoder: () => buildClipVisionEncoder(clip, new RandomWeights(clipVisionWeightShapes(clip))).graph,
    vae_encoder: () => buildVaeEncoder(SD15_VAE_CONFIG, new RandomWeights(vaeWeightShapes(SD15_VAE_CONFIG))).graph,
    vae_decoder: () => buildVaeDecoder(SD15_VAE_CONFIG, new RandomWeights(vaeWeightShapes(SD15_VAE_CONFIG))).graph,
    unet: () => buildUNet(unet, new RandomWeights(unetWeightShapes(unet)), { encoderAttentionMask: true, textLength: 'tokens' }).graph,
  }, fresh);
  const models: RefLdmSegModels = {
    name: `ref-ldm-seg-${variant}-random`, variant, scalingFactor: 0.18215, encoderSize: 224,
    async encodeSupport(pixels, alpha, shots) {
      const t = (await h.run('image_encoder', { pixel_values: { data: pixels.slice(), dims: [shots, 3, 224, 224] }, alpha: { data: alpha.slice(), dims: [shots, 1, 224, 224] } }, ['last_hidden_state']))['last_hidden_state']!;
      return { tokens: t.data as Float32Array, width: t.dims[2]! };
    },
    async encodeImage(image) {
      const out = await h.run('vae_encoder', { image: { data: image.slice(), dims: [1, 3, 256, 256] } }, ['latent_mean', 'latent_std']);
      return { mean: out['latent_mean']!.data as Float32Array, std: out['latent_std']!.data as Float32Array };
    },
    async unet(sample, batch, timestep, context, mask) {
      const T = mask.length / batch;
      const out = await h.run('unet', {
        sample: { data: sample.slice(), dims: [batch, unet.in_channels, 32, 32] }, timestep: { data: Float32Array.of(timestep), dims: [1] },
        encoder_hidden_states: { data: context.slice(), dims: [batch, T, context.length / (batch * T)] }, encoder_attention_mask: { data: mask.slice(), dims: [batch, T] },
      }, ['noise_pred']);
      return out['noise_pred']!.data as Float32Array;
    },
    async decode(latent) {
      return (await h.run('vae_decoder', { latent: { data: latent.slice(), dims: [1, 4, 32, 32] } }, ['sample']))['sample']!.data as Float32Array;
    },
    async dispose() {},
  };
  const s = { variant, steps, imageGuidance: 1.5, instructionGuidance: 7, maskAlpha: variant === 'f' ? 0 : 0.4, seed: 0 };
  let tokens: Awaited<ReturnType<typeof supportTokens>>;
  const r = await perQuery(h,
    async () => segmentQuery(models, q.rgb, (tokens = await supportTokens(models, [{ rgb: ex.rgb, mask: ex.masks[0]! }], {})), s),
    () => segmentQuery(models, q.rgb, tokens, s));
  await h.dispose();
  return { ...(variant === 'n' ? { steps } : {}), ...r, build_and_save_s: h.buildS, session_load_s: h.loadS, execution_provider: h.provider, peak_rss_bytes_so_far: peakRss() };
}

async function prototypeMode() {
  const h = await host({
    vae_encoder: () => buildVaeEncoder(SD15_VAE_CONFIG, new RandomWeights(vaeWeightShapes(SD15_VAE_CONFIG))).graph,
    unet: () => DIFFSEG_UNET.build({ config: SD15_UNET_CONFIG, weights: new RandomWeights(unetWeightShapes(SD15_UNET_CONFIG)), dtype: 'float32', size: 64 }).graph,
  });
  const ctx = Float32Array.from({ length: 77 * 768 }, (_, i) => Math.sin(i) * 0.5);
  const models: PrototypeModels = {
    name: 'sd15-random', id: 'sd15-random@bench', scalingFactor: 0.18215,
    async encode(rgb512) {
      return (await h.run('vae_encoder', { image: { data: rgb512, dims: [1, 3, 512, 512] } }, ['latent_mean']))['latent_mean']!.data as Float32Array;
    },
    async pass(latent) {
      const sides = [64, 32, 16, 8];
      const out = await h.run('unet', {
        sample: { data: latent, dims: [1, 4, 64, 64] }, timestep: { data: Float32Array.of(300), dims: [1] }, encoder_hidden_states: { data: ctx.slice(), dims: [1, 77, 768] },
      }, [...sides.map((s) => `self_attn_mean.${s}x${s}`), FEATURE_TAP]);
      const f = out[FEATURE_TAP]!;
      return { maps: new Map(sides.map((s) => [s, out[`self_attn_mean.${s}x${s}`]!.data as Float32Array])), features: { data: f.data as Float32Array, channels: f.dims[1]!, side: f.dims[2]! } };
    },
    async dispose() {},
  };
  const session = prototypeSession(models);
  const input = (id: number, rgb = q.rgb): ImageInput => ({ row: { id, path: `${id}.png`, width: rgb.width, height: rgb.height, bytes: 0, mtimeMs: 0, sha1: null } as ImageRow, rgb: async () => rgb });
  const example = { annotationId: 1, categoryId: null, mask: encode(ex.masks[0]!, ex.rgb.height, ex.rgb.width), image: input(1, ex.rgb) };
  const params = PrototypeParamsSchema.parse({});
  let id = 2;
  const one = () => session.run(input(id++), params, { kind: 'example', annotationId: 1 }, { priority: 'batch', example });
  const r = await perQuery(h, one, one);
  await h.dispose();
  return { ...r, build_and_save_s: h.buildS, session_load_s: h.loadS, execution_provider: h.provider, peak_rss_bytes_so_far: peakRss() };
}

try {
  const results: Record<string, unknown> = {};
  for (const m of modes) {
    log(`mode ${m}`);
    results[m === 'prototype' ? 'prototype' : `-${m}`] = m === 'prototype' ? await prototypeMode() : await refLdmSeg(m[0] as 'f' | 'n', m.endsWith('-fresh'));
    // The next mode's graphs replace these on disk.
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
  }
  console.log(JSON.stringify({
    benchmark: 'refldmseg',
    description: 'segment from one example per 512×384 query image, SD 1.5-size random weights: Ref LDM-Seg -f / -n (Alpha-CLIP ViT-L/14, VAE 256², UNet at 32²) and the prototype mode (VAE 512², DiffSeg UNet variant at 64², DiffSeg segments)',
    results,
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, total_mem_bytes: os.totalmem(), load_avg: os.loadavg(), node: process.version, onnxruntime_node: ort.env.versions?.common },
    peak_rss_bytes: peakRss(),
  }));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
