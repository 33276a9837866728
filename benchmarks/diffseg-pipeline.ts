// DiffSeg end to end per image with SD 1.5-size models (random weights: the cost does not depend on the values):
// VAE encoder at 512², the DiffSeg UNet variant (per-resolution self-attention means, no noise head) at a 64²
// latent, then aggregation, merging, label map and masks at the image size, stored as a run + proposals. Then
// click latency on the cached attention (the figure that must stay under 200 ms on CPU).
// (The post-processing alone is benchmarks/diffseg.ts.) CLIP is left out: the empty-prompt embedding is computed
// once per bundle, so a random [1,77,768] tensor stands in for it.
//
// Baseline in the same run: the plain UNet (noise_pred only) against the DiffSeg variant, both loaded in one child
// process with the pipeline's session options, one warm-up run each, then --unet-runs rounds alternating the two
// (so a load from other processes hits both alike); the ratio is the median of the per-round ratios. The pipeline
// itself runs in this process, after the child has exited, so its peak RSS is its own.
//
// Usage: npm run bench -- diffseg-pipeline [--runs N] [--unet-runs N] [--clicks N] [--ep cpu|cuda]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { countFlops } from '../src/core/ml/graph';
import { SessionManager, type Feeds } from '../src/core/ml/runtime';
import { RandomWeights } from '../src/core/ml/weights';
import { buildUNet } from '../src/core/ml/models/unet';
import { SD15_UNET_CONFIG } from '../src/core/ml/models/unetConfig';
import { buildVaeEncoder, SD15_VAE_CONFIG } from '../src/core/ml/models/vae';
import { unetWeightShapes, vaeWeightShapes } from '../src/core/ml/models/shapes';
import { ProjectStore, indexFolder } from '../src/core/project';
import { DiffSegCache } from '../src/core/pipelines/diffseg/cache';
import { clickSegment } from '../src/core/pipelines/diffseg/interactive';
import type { AttentionMaps, DiffSegModels } from '../src/core/pipelines/diffseg/models';
import { segmentAndStore, stableParams } from '../src/core/pipelines/diffseg/pipeline';
import { makeScene, shapeCentre, writeScene } from '../tests/pipelines/diffseg/fixture-scenes';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : d;
};
const runs = Number(opt('runs', '3'));
const unetRuns = Number(opt('unet-runs', '5'));
const clicks = Number(opt('clicks', '12'));
const ep = opt('ep', 'cpu');
const log = (...a: unknown[]) => console.error('[bench diffseg-pipeline]', ...a);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const GB = 2 ** 30;
const rssGiB = () => +(process.memoryUsage().rss / GB).toFixed(2);
const peakGiB = () => +((process.resourceUsage().maxRSS * 1024) / GB).toFixed(2);
const cpuMs = (since: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
};
const ctxEmb = Float32Array.from({ length: 77 * 768 }, (_, i) => Math.sin(i) * 0.5);
const unetFeeds = (latent: Float32Array): Feeds => ({
  sample: { data: latent, dims: [1, 4, 64, 64] }, timestep: { data: Float32Array.of(300), dims: [1] },
  encoder_hidden_states: { data: ctxEmb, dims: [1, 77, 768] },
});
const MAP_OUTPUTS = [64, 32, 16, 8].map((s) => `self_attn_mean.${s}x${s}`);

/** Child: plain UNet and DiffSeg variant from `dir`, alternated; prints one JSON line. */
async function compareUNets(dir: string): Promise<void> {
  const host = new SessionManager({ providers: [ep], sessionOptions: { graphOptimizationLevel: 'all' } });
  const latent = Float32Array.from({ length: 4 * 64 * 64 }, (_, i) => Math.sin(i * 0.37));
  const models = [
    { key: 'plain', file: 'unet.onnx', outputs: ['noise_pred'] },
    { key: 'diffseg', file: 'unet_diffseg.onnx', outputs: MAP_OUTPUTS },
  ];
  // The first run of a session touches its activation memory for the first time: reported apart, not in the medians.
  const first: Record<string, number> = {};
  for (const m of models) {
    await host.register(m.key, join(dir, m.file));
    await host.load(m.key);
    const t = performance.now();
    await host.run(m.key, unetFeeds(latent), m.outputs);
    first[m.key] = performance.now() - t;
  }
  const wall: Record<string, number[]> = { plain: [], diffseg: [] };
  const cpu: Record<string, number[]> = { plain: [], diffseg: [] };
  for (let r = 0; r < unetRuns; r++) {
    for (const m of models) {
      const c = process.cpuUsage();
      const t = performance.now();
      await host.run(m.key, unetFeeds(latent), m.outputs);
      wall[m.key]!.push(performance.now() - t);
      cpu[m.key]!.push(cpuMs(c));
    }
    log(`round ${r + 1}/${unetRuns}: plain ${wall['plain']!.at(-1)!.toFixed(0)} ms, diffseg ${wall['diffseg']!.at(-1)!.toFixed(0)} ms`);
  }
  await host.dispose();
  const ratio = (x: Record<string, number[]>) => median(x['diffseg']!.map((v, i) => v / x['plain']![i]!));
  console.log(JSON.stringify({
    plain_ms: median(wall['plain']!), diffseg_ms: median(wall['diffseg']!), ratio: ratio(wall),
    plain_cpu_ms: median(cpu['plain']!), diffseg_cpu_ms: median(cpu['diffseg']!), cpu_ratio: ratio(cpu),
    first_run_ms: first, runs_ms: Object.fromEntries(Object.entries(wall).map(([k, v]) => [k, v.map(Math.round)])),
  }));
}

async function main(): Promise<void> {
  const loadAtStart = os.loadavg();
  const tmp = mkdtempSync(join(os.tmpdir(), 'bench-diffseg-pipeline-'));
  try {
    const t0 = performance.now();
    const vae = buildVaeEncoder(SD15_VAE_CONFIG, new RandomWeights(vaeWeightShapes(SD15_VAE_CONFIG)), { batch: 1, height: 512, width: 512 });
    vae.graph.save(join(tmp, 'vae_encoder.onnx'));
    const fixed = { batch: 1, height: 64, width: 64, textLength: 77, timesteps: 1 } as const;
    const unetWeights = new RandomWeights(unetWeightShapes(SD15_UNET_CONFIG));
    const unet = buildUNet(SD15_UNET_CONFIG, unetWeights, { ...fixed, selfAttention: 'resolution', omitNoisePred: true });
    const unetFlops = countFlops(unet.graph);
    unet.graph.save(join(tmp, 'unet_diffseg.onnx'));
    const plain = buildUNet(SD15_UNET_CONFIG, unetWeights, fixed);
    const plainFlops = countFlops(plain.graph);
    plain.graph.save(join(tmp, 'unet.onnx'));
    const buildS = (performance.now() - t0) / 1000;
    log(`built and saved in ${buildS.toFixed(1)} s; UNet ${(plainFlops.matmulConv / 1e9).toFixed(0)} GFLOP, DiffSeg variant ${(unetFlops.matmulConv / 1e9).toFixed(0)} GFLOP`);

    log(`plain UNet against the DiffSeg variant, ${unetRuns} alternating rounds, in a child process`);
    const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...argv, '--compare-unets', tmp], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20,
    });
    const line = child.stdout.trim().split('\n').pop() ?? '';
    let unetBaseline: unknown;
    try {
      unetBaseline = JSON.parse(line);
    } catch {
      unetBaseline = { error: `child exited with ${child.status ?? child.signal}`, stdout: child.stdout.slice(-500) };
    }

    const rss: Record<string, number> = { after_build_gib: rssGiB() };
    const host = new SessionManager({ providers: [ep], sessionOptions: { graphOptimizationLevel: 'all' } });
    await host.register('vae', join(tmp, 'vae_encoder.onnx'));
    await host.register('unet', join(tmp, 'unet_diffseg.onnx'));
    const tl = performance.now();
    await host.load('vae');
    const unetInfo = await host.load('unet');
    const loadS = (performance.now() - tl) / 1000;
    rss['after_load_gib'] = rssGiB();
    const timing = { encode: [] as number[], unet: [] as number[], cpu: [] as number[] };
    const models: DiffSegModels = {
      name: 'sd15-random-weights', id: 'sd15-random-weights@bench', scalingFactor: 0.18215, stats: { encode: 0, attention: 0 },
      async encode(rgb) {
        const t = performance.now();
        const out = await host.run('vae', { image: { data: rgb, dims: [1, 3, 512, 512] } }, ['latent_mean']);
        timing.encode.push(performance.now() - t);
        this.stats.encode++;
        return out['latent_mean']!.data as Float32Array;
      },
      async attention(latent) {
        const t = performance.now();
        const out = await host.run('unet', unetFeeds(latent), MAP_OUTPUTS);
        timing.unet.push(performance.now() - t);
        this.stats.attention++;
        const maps: AttentionMaps = new Map();
        for (const s of [64, 32, 16, 8]) maps.set(s, out[`self_attn_mean.${s}x${s}`]!.data as Float32Array);
        return maps;
      },
      async dispose() {},
    };

    // A project of generated scenes (one per run, so every run computes its attention).
    const folder = join(tmp, 'project');
    const scenes = Array.from({ length: runs }, (_, i) => makeScene(640, 480, 5, 100 + i));
    for (let i = 0; i < runs; i++) await writeScene(join(folder, `img${i}.png`), scenes[i]!);
    const store = ProjectStore.open(folder);
    await indexFolder(store);
    const images = store.listImages();
    const cache = new DiffSegCache({ diskDir: join(folder, '.difflabel', 'cache', 'diffseg') });
    const params = stableParams();
    const perImage: number[] = [];
    for (const img of images) {
      const c = process.cpuUsage();
      const t = performance.now();
      const r = await segmentAndStore(store, img.id, params, { models, cache });
      perImage.push(performance.now() - t);
      timing.cpu.push(cpuMs(c));
      rss[`after_image_${perImage.length}_gib`] = rssGiB();
      log(`${img.path}: ${perImage.at(-1)!.toFixed(0)} ms (VAE ${timing.encode.at(-1)!.toFixed(0)}, UNet ${timing.unet.at(-1)!.toFixed(0)}), ${r.annotations.length} proposals, RSS ${rssGiB()} GiB, peak ${peakGiB()} GiB`);
    }
    await cache.flush();
    const peakImagesBytes = process.resourceUsage().maxRSS * 1024;

    // Clicks on the first image: the first builds the click context (log of the attention); later ones are cached.
    const img = images[0]!;
    const scene = scenes[Number(img.path.match(/\d+/)![0])]!;
    const centres = scene.shapes.map(shapeCentre);
    const clickMs: number[] = [];
    let firstClickMs = 0;
    for (let i = 0; i < clicks + 1; i++) {
      // a different cell each time, so no click region is reused
      const c = centres[i % centres.length]!;
      const pt = { x: c.x + ((i * 9) % 17) - 8, y: c.y + ((i * 5) % 13) - 6, positive: true };
      const r = await clickSegment(store, img, [pt], params, { models, cache });
      if (i === 0) firstClickMs = r.ms;
      else clickMs.push(r.ms);
    }
    // After a restart: memory empty, attention read back from the fp16 disk cache.
    const fresh = new DiffSegCache({ diskDir: join(folder, '.difflabel', 'cache', 'diffseg') });
    const fromDisk = await clickSegment(store, img, [{ ...centres[0]!, positive: true }], params, { models, cache: fresh });
    store.close();
    await host.dispose();

    // The first image also pays for the sessions' first touch of their activation memory: the later ones are the
    // steady cost per image.
    const later = (xs: number[]) => (xs.length > 1 ? median(xs.slice(1)) : xs[0]!);
    console.log(JSON.stringify({
      benchmark: 'diffseg-pipeline',
      description: 'DiffSeg per image, SD 1.5-size random-weight VAE encoder (512²) + DiffSeg UNet (64² latent, t=300, self-attention means), 640×480 scenes; then clicks on cached attention',
      execution_provider: unetInfo.provider.active, runs,
      unet_gflop: unetFlops.matmulConv / 1e9, plain_unet_gflop: plainFlops.matmulConv / 1e9, build_and_save_s: buildS, session_load_s: loadS,
      per_image_ms: { first: perImage[0], later_median: later(perImage), all: perImage.map(Math.round) },
      per_image_cpu_ms: { first: timing.cpu[0], later_median: later(timing.cpu) },
      encode_ms: { first: timing.encode[0], later_median: later(timing.encode), all: timing.encode.map(Math.round) },
      unet_ms: { first: timing.unet[0], later_median: later(timing.unet), all: timing.unet.map(Math.round) },
      postprocess_ms: later(perImage.map((t, i) => t - timing.encode[i]! - timing.unet[i]!)),
      unet_baseline: unetBaseline,
      click: {
        first_click_after_segment_ms: Math.round(firstClickMs), cached_click_median_ms: median(clickMs), cached_click_max_ms: Math.max(...clickMs),
        clicks: clickMs.length, from_disk_cache_ms: Math.round(fromDisk.ms), from_disk_cached: fromDisk.cached,
      },
      machine: {
        cpu: os.cpus()[0]?.model, cores: os.cpus().length, total_mem_bytes: os.totalmem(), node: process.version, onnxruntime_node: ort.env.versions?.common,
        load_average_start: loadAtStart, load_average_end: os.loadavg(),
      },
      rss,
      // Segment everything alone, then with the clicks (the first after a restart reads the disk cache).
      peak_rss_images_bytes: peakImagesBytes,
      peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    }));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const childDir = argv.indexOf('--compare-unets');
if (childDir >= 0) await compareUNets(argv[childDir + 1]!);
else await main();
