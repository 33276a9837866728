// DiffSeg end to end per image with SD 1.5-size models (random weights: the cost does not depend on the values):
// VAE encoder at 512², the DiffSeg UNet variant (per-resolution self-attention means, no noise head) at a 64²
// latent, then aggregation, merging, label map and masks at the image size, stored as a run + proposals. Then
// click latency on the cached attention (the figure that must stay under 200 ms on CPU).
// (The post-processing alone is benchmarks/diffseg.ts.) CLIP is left out: the empty-prompt embedding is computed
// once per bundle, so a random [1,77,768] tensor stands in for it.
//
// Usage: npm run bench -- diffseg-pipeline [--runs N] [--clicks N] [--ep cpu|cuda]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { countFlops } from '../src/core/ml/graph';
import { SessionManager } from '../src/core/ml/runtime';
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
const runs = Number(opt('runs', '2'));
const clicks = Number(opt('clicks', '12'));
const ep = opt('ep', 'cpu');
const log = (...a: unknown[]) => console.error('[bench diffseg-pipeline]', ...a);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const tmp = mkdtempSync(join(os.tmpdir(), 'bench-diffseg-pipeline-'));
try {
  const t0 = performance.now();
  const vae = buildVaeEncoder(SD15_VAE_CONFIG, new RandomWeights(vaeWeightShapes(SD15_VAE_CONFIG)), { batch: 1, height: 512, width: 512 });
  vae.graph.save(join(tmp, 'vae_encoder.onnx'));
  const unet = buildUNet(SD15_UNET_CONFIG, new RandomWeights(unetWeightShapes(SD15_UNET_CONFIG)), {
    batch: 1, height: 64, width: 64, textLength: 77, timesteps: 1, selfAttention: 'resolution', omitNoisePred: true,
  });
  const unetFlops = countFlops(unet.graph);
  unet.graph.save(join(tmp, 'unet_diffseg.onnx'));
  const buildS = (performance.now() - t0) / 1000;
  log(`built and saved in ${buildS.toFixed(1)} s; UNet ${(unetFlops.matmulConv / 1e9).toFixed(0)} GFLOP`);

  const host = new SessionManager({ providers: [ep], sessionOptions: { graphOptimizationLevel: 'all' } });
  await host.register('vae', join(tmp, 'vae_encoder.onnx'));
  await host.register('unet', join(tmp, 'unet_diffseg.onnx'));
  const tl = performance.now();
  await host.load('vae');
  const unetInfo = await host.load('unet');
  const loadS = (performance.now() - tl) / 1000;
  const ctxEmb = Float32Array.from({ length: 77 * 768 }, (_, i) => Math.sin(i) * 0.5);
  const timing = { encode: [] as number[], unet: [] as number[] };
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
      const names = [64, 32, 16, 8].map((s) => `self_attn_mean.${s}x${s}`);
      const out = await host.run('unet', {
        sample: { data: latent, dims: [1, 4, 64, 64] }, timestep: { data: Float32Array.of(300), dims: [1] },
        encoder_hidden_states: { data: ctxEmb, dims: [1, 77, 768] },
      }, names);
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
    const t = performance.now();
    const r = await segmentAndStore(store, img.id, params, { models, cache });
    perImage.push(performance.now() - t);
    log(`${img.path}: ${perImage.at(-1)!.toFixed(0)} ms, ${r.annotations.length} proposals`);
  }
  await cache.flush();

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

  console.log(JSON.stringify({
    benchmark: 'diffseg-pipeline',
    description: 'DiffSeg per image, SD 1.5-size random-weight VAE encoder (512²) + DiffSeg UNet (64² latent, t=300, self-attention means), 640×480 scenes; then clicks on cached attention',
    execution_provider: unetInfo.provider.active, runs,
    unet_gflop: unetFlops.matmulConv / 1e9, build_and_save_s: buildS, session_load_s: loadS,
    per_image_ms: { median: median(perImage), all: perImage.map(Math.round) },
    encode_ms: median(timing.encode), unet_ms: median(timing.unet),
    postprocess_ms: median(perImage) - median(timing.encode) - median(timing.unet),
    click: {
      first_click_after_segment_ms: Math.round(firstClickMs), cached_click_median_ms: median(clickMs), cached_click_max_ms: Math.max(...clickMs),
      clicks: clickMs.length, from_disk_cache_ms: Math.round(fromDisk.ms), from_disk_cached: fromDisk.cached,
    },
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, total_mem_bytes: os.totalmem(), node: process.version, onnxruntime_node: ort.env.versions?.common },
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
  }));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
