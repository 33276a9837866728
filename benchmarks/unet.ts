// Cost of SD 1.5's full-size architectures with random weights (FLOPs do not depend on the values):
// UNet at a 64x64 latent (batch 1, 77 tokens), VAE encoder at 512x512, CLIP text encoder (77 tokens).
// Each model runs in its own child process so its peak RSS is its own. Baseline in the same run: one
// 2048^3 MatMul graph on the same execution provider, i.e. what this machine's GEMM achieves.
//
// FLOPs are counted from the built graph's static shapes (graph/flops.ts): 2·MACs of every Conv and
// MatMul (including attention's QKᵀ and P·V), which is >99% of the work; `other_gflop` adds one FLOP per
// output element of every remaining op (norms, softmax, elementwise) and is reported separately.
//
// Usage: npm run bench -- unet [--fp16] [--ep cpu|cuda|dml|coreml] [--runs N] [--only unet,vae,clip]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { countFlops, GraphBuilder } from '../src/core/ml/graph';
import { RandomWeights } from '../src/core/ml/weights';
import { buildUNet } from '../src/core/ml/models/unet';
import { SD15_UNET_CONFIG } from '../src/core/ml/models/unetConfig';
import { buildVaeEncoder, SD15_VAE_CONFIG } from '../src/core/ml/models/vae';
import { buildClipTextEncoder, SD15_CLIP_CONFIG } from '../src/core/ml/models/clip';
import { clipWeightShapes, unetWeightShapes, vaeWeightShapes } from '../src/core/ml/models/shapes';

const argv = process.argv.slice(2);
const flag = (n: string) => argv.includes(`--${n}`);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : d;
};
const ep = opt('ep', 'cpu');
const fp16 = flag('fp16');
const runs = Number(opt('runs', '3'));
const log = (...a: unknown[]) => console.error('[bench unet]', ...a);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function randn(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = (x >>> 0) / 2 ** 32 * 2 - 1;
  }
  return out;
}

interface Case {
  graph: GraphBuilder;
  params: number;
  feeds: () => Record<string, ort.Tensor>;
}

function makeCase(model: string): Case {
  const dtype = fp16 ? 'float16' : 'float32';
  const count = (m: Map<string, number[]>) => [...m.values()].reduce((a, s) => a + s.reduce((p, q) => p * q, 1), 0);
  if (model === 'unet') {
    const shapes = unetWeightShapes(SD15_UNET_CONFIG);
    const { graph } = buildUNet(SD15_UNET_CONFIG, new RandomWeights(shapes), { dtype, batch: 1, height: 64, width: 64, textLength: 77, timesteps: 1 });
    return {
      graph, params: count(shapes),
      feeds: () => ({
        sample: new ort.Tensor('float32', randn(4 * 64 * 64, 7), [1, 4, 64, 64]),
        timestep: new ort.Tensor('float32', Float32Array.of(300), [1]),
        encoder_hidden_states: new ort.Tensor('float32', randn(77 * 768, 9), [1, 77, 768]),
      }),
    };
  }
  if (model === 'vae_encoder') {
    const shapes = vaeWeightShapes(SD15_VAE_CONFIG);
    const { graph } = buildVaeEncoder(SD15_VAE_CONFIG, new RandomWeights(shapes), { dtype, batch: 1, height: 512, width: 512 });
    const enc = [...shapes].filter(([k]) => k.startsWith('encoder.') || k.startsWith('quant_conv.'));
    return { graph, params: count(new Map(enc)), feeds: () => ({ image: new ort.Tensor('float32', randn(3 * 512 * 512, 3), [1, 3, 512, 512]) }) };
  }
  if (model === 'clip_text') {
    const shapes = clipWeightShapes(SD15_CLIP_CONFIG);
    const { graph } = buildClipTextEncoder(SD15_CLIP_CONFIG, new RandomWeights(shapes), { dtype, batch: 1 });
    const ids = BigInt64Array.from({ length: 77 }, (_, i) => (i === 0 ? 49406n : i < 10 ? BigInt(1000 + i) : 49407n));
    return { graph, params: count(shapes), feeds: () => ({ input_ids: new ort.Tensor('int64', ids, [1, 77]) }) };
  }
  if (model === 'matmul_baseline') {
    const g = new GraphBuilder('matmul');
    const n = 2048;
    const a = g.input('a', 'float32', [n, n]);
    const b = g.initializer('b', randn(n * n, 5), 'float32', [n, n]);
    g.output(g.matmul(a, b), 'c');
    return { graph: g, params: n * n, feeds: () => ({ a: new ort.Tensor('float32', randn(n * n, 11), [n, n]) }) };
  }
  throw new Error(`unknown model ${model}`);
}

async function child(model: string): Promise<void> {
  const t0 = performance.now();
  const c = makeCase(model);
  const flops = countFlops(c.graph);
  const buildS = (performance.now() - t0) / 1000;
  const dir = mkdtempSync(join(os.tmpdir(), `bench-${model}-`));
  try {
    const path = join(dir, `${model}.onnx`);
    const t1 = performance.now();
    const saved = c.graph.save(path); // external data automatically when over 2 GB
    const saveS = (performance.now() - t1) / 1000;
    const bytes = statSync(path).size + (saved.dataPath && existsSync(saved.dataPath) ? statSync(saved.dataPath).size : 0);
    log(model, `built in ${buildS.toFixed(1)} s, saved ${(bytes / 2 ** 20).toFixed(0)} MiB in ${saveS.toFixed(1)} s`);
    const t2 = performance.now();
    const session = await ort.InferenceSession.create(path, { executionProviders: [ep], graphOptimizationLevel: 'all' });
    const sessionS = (performance.now() - t2) / 1000;
    const feeds = c.feeds();
    const tw = performance.now();
    await session.run(feeds);
    const warmupMs = performance.now() - tw;
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t);
      log(model, `run ${i + 1}/${runs}: ${times[i]!.toFixed(0)} ms`);
    }
    const med = median(times);
    await session.release();
    console.log(JSON.stringify({
      model, params: c.params, onnx_bytes: bytes, external_data: saved.external,
      gflop: flops.matmulConv / 1e9, other_gflop: flops.other / 1e9, uncounted_nodes: flops.unknown,
      build_s: buildS, save_s: saveS, session_create_s: sessionS, warmup_ms: warmupMs,
      median_ms: med, runs_ms: times.map((t) => Math.round(t)),
      achieved_gflop_per_s: flops.matmulConv / 1e9 / (med / 1000),
      peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const childIdx = argv.indexOf('--child');
  if (childIdx >= 0) return child(argv[childIdx + 1]!);
  const only = opt('only', 'unet,vae,clip').split(',');
  const models = ['matmul_baseline', ...(['unet', 'vae_encoder', 'clip_text'] as const).filter((m) => only.includes(m.split('_')[0]!))];
  const results: Record<string, unknown> = {};
  const self = fileURLToPath(import.meta.url);
  for (const m of models) {
    log(`running ${m} in a child process`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', self, ...argv, '--child', m], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    try {
      results[m] = JSON.parse(line);
    } catch {
      results[m] = { error: `child exited with ${r.status ?? r.signal}`, stdout: r.stdout.slice(-500) };
    }
  }
  const base = results['matmul_baseline'] as { achieved_gflop_per_s?: number } | undefined;
  for (const m of models.slice(1)) {
    const x = results[m] as { achieved_gflop_per_s?: number };
    if (x.achieved_gflop_per_s && base?.achieved_gflop_per_s) (x as Record<string, unknown>)['fraction_of_baseline_gemm'] = x.achieved_gflop_per_s / base.achieved_gflop_per_s;
  }
  console.log(JSON.stringify({
    benchmark: 'unet',
    description: 'SD 1.5 architectures, random weights, batch 1: UNet 64x64 latent + 77 tokens, VAE encoder 512x512, CLIP text 77 tokens; median of warm runs',
    flop_counting: '2*MACs of Conv and MatMul from static graph shapes (graph/flops.ts); other_gflop = 1 per output element of remaining ops',
    dtype: fp16 ? 'float16' : 'float32', execution_provider: ep, runs,
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, total_mem_bytes: os.totalmem(), node: process.version, onnxruntime_node: ort.env.versions?.common },
    baseline: results['matmul_baseline'],
    models: Object.fromEntries(models.slice(1).map((m) => [m, results[m]])),
  }));
}

await main();
