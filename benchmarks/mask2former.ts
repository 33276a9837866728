// Cost of ODISE's Mask2Former heads (label model: 6 deformable encoder layers, 100 queries, 9 decoder layers, 256
// wide) with random weights: FLOPs do not depend on the values. The pixel decoder takes the backbone's four 512-channel
// features of one padded image; the decoder takes the pixel decoder's outputs (random stand-ins of their shapes).
// FLOPs are counted from the graphs' static shapes (graph/flops.ts): 2·MACs of Conv and MatMul; `other_gflop` is one
// per output element of every other op, GridSample included (its real cost is ~4 multiply-adds per output element,
// given as `grid_sample_gflop`).
//
// Usage: npm run bench -- mask2former [--size 512x512] [--runs N] [--ep cpu|cuda] [--count-only]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { countFlops, type GraphBuilder } from '../src/core/ml/graph';
import { isStatic, numel } from '../src/core/ml/graph/shape';
import {
  buildMaskDecoder, buildPixelDecoder, decoderWeightShapes, featuresByStride, ODISE_DECODER_CONFIG, ODISE_PIXEL_DECODER_CONFIG, pixelDecoderWeightShapes,
} from '../src/core/ml/models/mask2former';
import { RandomWeights } from '../src/core/ml/weights';
import { rng } from '../tests/helpers/random';

const argv = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : d;
};
const [H, W] = opt('size', '512x512').split('x').map(Number) as [number, number];
const runs = Number(opt('runs', '3'));
const ep = opt('ep', 'cpu');
const countOnly = argv.includes('--count-only');
const log = (...a: unknown[]) => console.error('[bench mask2former]', ...a);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const count = (m: Map<string, number[]>) => [...m.values()].reduce((a, s) => a + numel(s), 0);

function randomInputs(g: GraphBuilder, seed: number): Record<string, ort.Tensor> {
  const next = rng(seed);
  return Object.fromEntries(g.inputs.map((v) => {
    const dims = v.dims();
    return [v.name, new ort.Tensor('float32', Float32Array.from({ length: numel(dims) }, () => next() * 2 - 1), dims)];
  }));
}

function gridSampleOutputs(g: GraphBuilder): number {
  return g.nodes.filter((n) => n.opType === 'GridSample').reduce((a, n) => {
    const s = g.value(n.outputs[0]!).shape;
    return a + (isStatic(s) ? numel(s) : 0);
  }, 0);
}

const s4 = featuresByStride(ODISE_PIXEL_DECODER_CONFIG)[0]!.stride;
const levels = [32, 16, 8].map((s) => [H / s, W / s] as [number, number]);
const pdShapes = pixelDecoderWeightShapes(ODISE_PIXEL_DECODER_CONFIG);
const decShapes = decoderWeightShapes(ODISE_DECODER_CONFIG);
const models = {
  pixel_decoder: { params: count(pdShapes), build: () => buildPixelDecoder(ODISE_PIXEL_DECODER_CONFIG, new RandomWeights(pdShapes), { imageSize: [H, W], batch: 1 }).graph },
  decoder: {
    params: count(decShapes),
    build: () => buildMaskDecoder(ODISE_DECODER_CONFIG, new RandomWeights(decShapes), { sizes: { levels, maskFeatures: [H / s4, W / s4] }, batch: 1 }).graph,
  },
};

const results: Record<string, unknown> = {};
const dir = mkdtempSync(join(os.tmpdir(), 'bench-mask2former-'));
try {
  for (const [name, m] of Object.entries(models)) {
    const t0 = performance.now();
    const graph = m.build();
    const flops = countFlops(graph);
    const gs = gridSampleOutputs(graph);
    const r: Record<string, unknown> = {
      params: m.params, gflop: flops.matmulConv / 1e9, other_gflop: flops.other / 1e9, uncounted_nodes: flops.unknown,
      grid_sample_outputs: gs, grid_sample_gflop: (8 * gs) / 1e9, build_s: (performance.now() - t0) / 1000,
    };
    if (!countOnly) {
      const path = join(dir, `${name}.onnx`);
      graph.save(path);
      r['onnx_bytes'] = statSync(path).size;
      const t1 = performance.now();
      const session = await ort.InferenceSession.create(path, { executionProviders: [ep], graphOptimizationLevel: 'all' });
      r['session_create_s'] = (performance.now() - t1) / 1000;
      const feeds = randomInputs(graph, 5);
      const tw = performance.now();
      await session.run(feeds);
      r['warmup_ms'] = performance.now() - tw;
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        await session.run(feeds);
        times.push(performance.now() - t);
        log(name, `run ${i + 1}/${runs}: ${times[i]!.toFixed(0)} ms`);
      }
      await session.release();
      r['median_ms'] = median(times);
      r['runs_ms'] = times.map(Math.round);
      r['achieved_gflop_per_s'] = flops.matmulConv / 1e9 / (median(times) / 1000);
    }
    results[name] = r;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(JSON.stringify({
  benchmark: 'mask2former',
  description: `ODISE label model heads, random weights, batch 1, padded image ${H}x${W}: pixel decoder (features s2..s5), decoder (its outputs); median of warm runs`,
  execution_provider: ep, runs,
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadavg: os.loadavg(), node: process.version, onnxruntime_node: ort.env.versions?.common },
  peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
  models: results,
}));
