// ODISE per 1024-short-side image (1024×1365, padded to 1024×1408: 2×3 windows of 512²) on CPU with full-size random
// weights (the cost does not depend on the values): SD 1.x UNet and VAE, CLIP ViT-L/14-336, ODISE's projections and
// captioner, built as ml/models/odise builds them and run through the pipeline's own window code
// (pipelines/odise/features.ts). Reported per stage: the four window graphs (seconds per window, each), the whole
// feature extraction over the image's windows (or its extrapolation from `--windows` of them), then the Mask2Former
// heads on the averaged features (pixel decoder, transformer decoder), peak RSS after each stage, the load average.
// Classification and panoptic post-processing are measured by `npm run bench -- odise-postprocess`.
//
// `--whole` runs the pipeline itself instead (odise.open → session.run, through the app's shared inference host and
// its memory budget), on a full-size bundle converted from random sources (kept under the temporary folder between
// runs: converting takes minutes): every graph run with its seconds, the RSS after it, the peak so far and the
// sessions loaded then, so the peak is the pipeline's with its sessions living as long as it keeps them; and the same
// by stage (the windows, then each graph after them). docs/odise.md has the figures.
//
// Usage: npm run bench -- odise [--windows N (default: all 6)] [--no-heads] [--ep cpu|cuda]
//        npm run bench -- odise --whole
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { readManifest } from '../src/core/ml/bundle';
import { requireTokenizerFiles } from '../src/core/ml/bundle/tokenizerFiles';
import { buildOdiseBundle, type OdiseSources } from '../src/core/ml/bundle/odise';
import {
  captionerWeightShapes, classificationWeightShapes, ODISE_LABEL_HEADS, projectionWeightShapes, SD1_CONFIGS,
} from '../src/core/ml/bundle/odiseSources';
import { SessionManager, type InferenceHost } from '../src/core/ml/runtime';
import { RandomWeights } from '../src/core/ml/weights';
import {
  clipVisionWeightShapes, clipWeightShapes, SD15_UNET_CONFIG, SD15_VAE_CONFIG, unetWeightShapes, vaeWeightShapes, VIT_L14_336_CONFIG,
} from '../src/core/ml/models';
import {
  buildMaskDecoder, buildPixelDecoder, decoderWeightShapes, featuresByStride, ODISE_DECODER_CONFIG, ODISE_PIXEL_DECODER_CONFIG, pixelDecoderWeightShapes,
} from '../src/core/ml/models/mask2former';
import { ODISE_FEATURE_CONFIG, odiseFeatureWeightShapes } from '../src/core/ml/models/odise/config';
import { buildOdiseCaptioner, buildOdiseProjection, buildOdiseUNet, buildOdiseVae, featureTaps } from '../src/core/ml/models/odise/features';
import { odiseNoise } from '../src/core/ml/models/odise/torchNoise';
import type { GraphBuilder } from '../src/core/ml/graph';
import { disposeSharedInferenceHost, sharedInferenceHost } from '../src/core/pipelines/common/inference';
import type { FloatTensor } from '../src/core/pipelines/odise/classify';
import { odise } from '../src/core/pipelines/odise/definition';
import { cropWindow, ODISE_FEATURE_COMPONENTS, slideFeatures, slidingWindows, windowRunner, type OdiseFeatureComponent } from '../src/core/pipelines/odise/features';
import type { ImageInput } from '../src/core/pipelines/types';
import type { ImageRow } from '../src/core/project';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : d;
};
const ep = opt('ep', 'cpu');
const heads = !argv.includes('--no-heads');
const log = (...a: unknown[]) => console.error('[bench odise]', ...a);
const peakRssGB = () => (process.resourceUsage().maxRSS * 1024) / 2 ** 30;
const load = () => os.loadavg()[0]!;

const H = 1024, W = 1408, IMAGE = '1024×1365 padded to 1024×1408';
const rssGB = () => process.memoryUsage().rss / 2 ** 30;
const c = ODISE_FEATURE_CONFIG;
const S = c.window;
const windows = slidingWindows(H, W, S);
const measured = Math.min(Number(opt('windows', String(windows.length))), windows.length);
const result: Record<string, unknown> = { image: IMAGE, windows: windows.length, ep, cpus: os.availableParallelism(), load_avg_1m_start: load() };

if (argv.includes('--whole')) await wholePipeline();
else await graphsAlone();

/** ODISE's released files as random weights of their full sizes (the readers' shapes). */
function randomSources(): OdiseSources {
  const heads = ODISE_LABEL_HEADS;
  const text = SD1_CONFIGS.textEncoder; // ViT-L-14's text tower: SD 1.x's text encoder is the same architecture
  const textShapes = clipWeightShapes(text).set('text_projection.weight', [heads.clipDim, text.hidden_size]);
  const none = { warnings: [], close: () => undefined };
  const bpe = join(import.meta.dirname, '..', 'tests', 'golden', 'tokenizer_F', 'bpe_simple_vocab_16e6.txt.gz');
  const tokenizer = requireTokenizerFiles(bpe);
  return {
    checkpoint: {
      heads: { pixelDecoder: new RandomWeights(pixelDecoderWeightShapes(heads.pixelDecoder), 1), decoder: new RandomWeights(decoderWeightShapes(heads.decoder), 2) },
      feature: { captioner: new RandomWeights(captionerWeightShapes(heads), 3), projections: new RandomWeights(projectionWeightShapes(heads), 4) },
      classification: new RandomWeights(classificationWeightShapes(heads), 5),
      ...none,
    },
    clip: {
      visual: { config: VIT_L14_336_CONFIG, weights: new RandomWeights(clipVisionWeightShapes(VIT_L14_336_CONFIG), 6) },
      text: { config: text, projectionDim: heads.clipDim, weights: new RandomWeights(textShapes, 7) },
      torchScript: false,
      ...none,
    },
    sd: {
      unet: new RandomWeights(unetWeightShapes(SD1_CONFIGS.unet), 8), vae: new RandomWeights(vaeWeightShapes(SD1_CONFIGS.vae), 9),
      textEncoder: new RandomWeights(clipWeightShapes(text), 10), ...none,
    },
    tokenizer,
    files: [bpe],
  };
}

async function wholePipeline(): Promise<void> {
  const dir = join(os.tmpdir(), 'difflabel-bench-odise-bundle');
  if (!existsSync(join(dir, 'bundle.json'))) {
    const t = performance.now();
    await buildOdiseBundle(randomSources(), dir, { name: 'odise-random', overwrite: true, onProgress: (_d, _n, step) => log(`converting: ${step}`) });
    log(`converted in ${((performance.now() - t) / 1000).toFixed(0)} s; measuring in a fresh process`);
    // Converting held the UNet's weights in this process: its peak RSS would be the conversion's, not the pipeline's.
    const again = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], { stdio: 'inherit' });
    process.exit(again.status ?? 1);
  }
  const host = sharedInferenceHost();
  const graphs: Record<string, unknown>[] = [];
  // The shared host, each run timed and followed by the process's memory and which sessions are loaded.
  const measuring: InferenceHost = {
    register: (k, s) => host.register(k, s),
    load: (k) => host.load(k),
    release: (k) => host.release(k),
    sessions: () => host.sessions(),
    providerStatus: () => host.providerStatus(),
    dispose: () => host.dispose(),
    run: async (key, feeds, outputs, opts) => {
      const t = performance.now();
      const out = await host.run(key, feeds, outputs, opts);
      const loaded = (await host.sessions()).filter((s) => s.loaded).map((s) => s.key.slice(s.key.lastIndexOf(':') + 1));
      const row = { graph: key.slice(key.lastIndexOf(':') + 1), s: (performance.now() - t) / 1000, rss_gb: rssGB(), peak_rss_gb: peakRssGB(), loaded, load_avg_1m: load() };
      graphs.push(row);
      log(JSON.stringify(row));
      return out;
    },
  };
  const session = await odise.open({ bundle: { dir, manifest: readManifest(dir) }, host: measuring, cache: null });
  const w = 1365, h = 1024;
  const rgb = { data: Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 7 + Math.floor(i / (w * 3)) * 3) % 256), width: w, height: h };
  const input: ImageInput = { row: { id: 1, path: 'bench.png', width: w, height: h } as ImageRow, rgb: async () => rgb };
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  const proposals = await session.run(input, {}, { kind: 'vocabulary', names: ['person', 'car, automobile', 'road', 'sky', 'tree'] }, { priority: 'batch' });
  const cpu = process.cpuUsage(cpu0);
  // By stage: the window graphs together, then each graph; the highest RSS after one of its runs, the peak at its end.
  const stages: Record<string, { s: number; rss_gb_max: number; peak_rss_gb: number }> = {};
  for (const r of graphs as { graph: string; s: number; rss_gb: number; peak_rss_gb: number }[]) {
    const st = (stages[(ODISE_FEATURE_COMPONENTS as readonly string[]).includes(r.graph) ? 'windows' : r.graph] ??= { s: 0, rss_gb_max: 0, peak_rss_gb: 0 });
    st.s += r.s;
    st.rss_gb_max = Math.max(st.rss_gb_max, r.rss_gb);
    st.peak_rss_gb = r.peak_rss_gb;
  }
  result['whole'] = {
    image: '1024×1365', seconds: (performance.now() - t) / 1000, cpu_s: (cpu.user + cpu.system) / 1e6, proposals: proposals.length,
    stages, graphs, peak_rss_gb: peakRssGB(), load_avg_1m: load(),
  };
  await session.dispose();
  await disposeSharedInferenceHost();
  result['peak_rss_gb'] = peakRssGB();
  console.log(JSON.stringify(result, null, 2));
}

async function graphsAlone(): Promise<void> {
  const tmp = mkdtempSync(join(os.tmpdir(), 'bench-odise-'));
  try {
    const t0 = performance.now();
    const vae = buildOdiseVae(c, SD15_VAE_CONFIG, new RandomWeights(vaeWeightShapes(SD15_VAE_CONFIG)));
    const unet = buildOdiseUNet(c, SD15_UNET_CONFIG, new RandomWeights(unetWeightShapes(SD15_UNET_CONFIG)), S / 8);
    const taps = featureTaps(c, vae, unet);
    const featureWeights = new RandomWeights(odiseFeatureWeightShapes(c, taps), 3);
    const graphs: Record<OdiseFeatureComponent, GraphBuilder> = {
      odise_captioner: buildOdiseCaptioner(c, VIT_L14_336_CONFIG, new RandomWeights(clipVisionWeightShapes(VIT_L14_336_CONFIG), 2), featureWeights).graph,
      odise_vae: vae.graph,
      unet_odise: unet.graph,
      odise_projection: buildOdiseProjection(c, taps, featureWeights).graph,
    };
    for (const [k, g] of Object.entries(graphs)) g.save(join(tmp, `${k}.onnx`), { externalData: k === 'unet_odise' ? true : 'auto' });
    result['build_and_save_s'] = (performance.now() - t0) / 1000;
    log(`graphs built and saved in ${(result['build_and_save_s'] as number).toFixed(0)} s`);

    const host = new SessionManager({ providers: [ep], sessionOptions: { graphOptimizationLevel: 'all' } });
    const seconds: Record<string, number[]> = {};
    const run = async (k: OdiseFeatureComponent, feeds: Record<string, FloatTensor>, outputs?: readonly string[]) => {
      const t = performance.now();
      const out = await host.run(k, Object.fromEntries(Object.entries(feeds).map(([n, v]) => [n, { data: v.data, dims: [...v.dims] }])), outputs);
      (seconds[k] ??= []).push((performance.now() - t) / 1000);
      return Object.fromEntries(Object.entries(out).map(([n, v]) => [n, { data: v.data as Float32Array, dims: v.dims }]));
    };
    const t1 = performance.now();
    for (const k of Object.keys(graphs)) {
      await host.register(k, join(tmp, `${k}.onnx`));
      await host.load(k);
    }
    result['load_s'] = (performance.now() - t1) / 1000;
    result['peak_rss_gb_after_load'] = peakRssGB();
    log(`sessions loaded in ${(result['load_s'] as number).toFixed(0)} s, peak RSS ${peakRssGB().toFixed(2)} GB`);

    const empty: FloatTensor = { data: new Float32Array(77 * 768), dims: [1, 77, 768] };
    const runner = windowRunner(run, S, empty, { data: odiseNoise(), dims: [1, 4, 64, 64] });
    const image: FloatTensor = { data: Float32Array.from({ length: 3 * H * W }, (_, i) => (i % 251) / 250), dims: [1, 3, H, W] };
    const t2 = performance.now();
    let features: Record<string, FloatTensor> | null = null;
    if (measured === windows.length) {
      features = await slideFeatures(image, S, runner, (done, total) => log(`window ${done}/${total}: ${((performance.now() - t2) / 1000).toFixed(0)} s, load ${load().toFixed(1)}`));
    } else {
      for (let k = 0; k < measured; k++) {
        await runner(cropWindow(image, windows[k]!, S), k);
        log(`window ${k + 1}/${measured}: ${((performance.now() - t2) / 1000).toFixed(0)} s, load ${load().toFixed(1)}`);
      }
    }
    const featureS = (performance.now() - t2) / 1000;
    // Without every window, the heads get stand-ins of the features' shapes (made after the timing above).
    features ??= Object.fromEntries(featuresByStride(ODISE_PIXEL_DECODER_CONFIG).map((f) => [f.name, {
      data: Float32Array.from({ length: 512 * (H / f.stride) * (W / f.stride) }, (_, i) => Math.sin(i) * 0.5 + 0.5), dims: [1, 512, H / f.stride, W / f.stride],
    }]));
    const perWindow = Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, v.reduce((a, b) => a + b, 0) / v.length]));
    result['features'] = {
      windows_run: measured, seconds: featureS, per_window_s: featureS / measured, per_window_by_graph_s: perWindow,
      whole_image_s: measured === windows.length ? featureS : (featureS / measured) * windows.length, extrapolated: measured !== windows.length,
      peak_rss_gb: peakRssGB(), load_avg_1m: load(),
    };
    log(JSON.stringify(result['features']));
    await host.dispose();

    if (heads) {
      const pdShapes = pixelDecoderWeightShapes(ODISE_PIXEL_DECODER_CONFIG);
      const decShapes = decoderWeightShapes(ODISE_DECODER_CONFIG);
      const pd = buildPixelDecoder(ODISE_PIXEL_DECODER_CONFIG, new RandomWeights(pdShapes), { imageSize: [H, W], batch: 1 });
      pd.graph.save(join(tmp, 'pixel_decoder.onnx'));
      const levels = [32, 16, 8].map((s) => [H / s, W / s] as [number, number]);
      const dec = buildMaskDecoder(ODISE_DECODER_CONFIG, new RandomWeights(decShapes), { sizes: { levels, maskFeatures: [H / 4, W / 4] }, batch: 1 });
      dec.graph.save(join(tmp, 'decoder.onnx'));
      const h2 = new SessionManager({ providers: [ep], sessionOptions: { graphOptimizationLevel: 'all' } });
      await h2.register('pixel_decoder', join(tmp, 'pixel_decoder.onnx'));
      await h2.register('decoder', join(tmp, 'decoder.onnx'));
      const t3 = performance.now();
      const pdOut = await h2.run('pixel_decoder', Object.fromEntries(Object.entries(features).map(([n, v]) => [n, { data: v.data, dims: [...v.dims] }])));
      const pdS = (performance.now() - t3) / 1000;
      const t4 = performance.now();
      const decInputs = { ...Object.fromEntries([0, 1, 2].map((i) => [`x.${i}`, pdOut[`multi_scale_features.${i}`]!])), mask_features: pdOut['mask_features']! };
      await h2.run('decoder', decInputs);
      const decS = (performance.now() - t4) / 1000;
      result['heads'] = { pixel_decoder_s: pdS, decoder_s: decS, peak_rss_gb: peakRssGB(), load_avg_1m: load() };
      log(JSON.stringify(result['heads']));
      await h2.dispose();
    }
    result['peak_rss_gb'] = peakRssGB();
    console.log(JSON.stringify(result, null, 2));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
