// The DiffSeg UNet variant's self-attention maps (golden unet_A: 8 heads, 16² and 8² feature maps) as ONNX
// Runtime computes them: in query blocks, and each layer's maps before the next layer's attention, so a 64² SD
// layer's probabilities (8 × 4096² floats) are never all held at once, nor kept for the end of the network.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { floatTensor, maxAbsDiff, runGraph } from '../../src/core/golden/compare';
import { buildUNet, type UNetBuildOptions } from '../../src/core/ml/models/unet';
import { parseUNetConfig } from '../../src/core/ml/models/unetConfig';
import { openWeights, SafetensorsFile } from '../../src/core/ml/weights';
import { golden } from './weights.helpers';

const config = parseUNetConfig(JSON.parse(readFileSync(golden('unet_A', 'config.json'), 'utf8')));
const weights = openWeights(golden('unet_A', 'diffusion_pytorch_model.safetensors'));
const inputs = SafetensorsFile.open(golden('unet_A', 'inputs_t300.safetensors'));
const [batch, , height, width] = inputs.info('sample').shape;
const feeds = () => ({
  sample: floatTensor(inputs, 'sample'), timestep: floatTensor(inputs, 'timestep'), encoder_hidden_states: floatTensor(inputs, 'encoder_hidden_states'),
});
const build = (o: UNetBuildOptions) => buildUNet(config, weights, { batch, height, width, ...o });
/** 64 KiB: a 16² layer (8 heads × 256² float32 scores = 2 MiB) in 32 blocks, an 8² one (128 KiB) in 2, 4² and 2² whole. */
const SMALL_BLOCKS = 64 * 1024;

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Names of the nodes ONNX Runtime ran, in the order it ran them (its profile of one run). */
async function executionOrder(bytes: Uint8Array): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'difflabel-unet-maps-'));
  dirs.push(dir);
  const s = await ort.InferenceSession.create(bytes, { enableProfiling: true, profileFilePrefix: join(dir, 'run') });
  await s.run(feeds());
  s.endProfiling();
  await s.release();
  const [file] = readdirSync(dir);
  const events = JSON.parse(readFileSync(join(dir, file!), 'utf8')) as { cat?: string; name: string; ts: number }[];
  return events
    .filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'))
    .sort((a, b) => a.ts - b.ts)
    .map((e) => e.name.slice(0, -'_kernel_time'.length));
}

describe('DiffSeg UNet variant: self-attention maps', () => {
  it('ONNX Runtime finishes each layer\'s self-attention, maps included, before the next layer\'s begins', async () => {
    const built = build({ selfAttention: 'resolution', omitNoisePred: true, attentionBlockBytes: SMALL_BLOCKS });
    const order = await executionOrder(built.graph.toBytes());
    // Node names are module paths (fused nodes keep their first node's name as a prefix).
    const spans = built.attentionLayers.map((l) => {
      const at = order.flatMap((name, i) => (name.startsWith(`${l.module}.attn1/`) || name.startsWith(`${l.module}.attn1.`) ? [i] : []));
      return { layer: l.module, first: Math.min(...at), last: Math.max(...at), nodes: at.length };
    });
    expect(spans.length).toBe(16);
    for (const s of spans) expect(s.nodes, s.layer).toBeGreaterThan(5);
    const late = spans.slice(0, -1).filter((s, i) => s.last > spans[i + 1]!.first);
    expect(late.map((s) => s.layer)).toEqual([]);
  });

  it('sums the maps of the layers at one size block by block: a full-size map is assembled once per size, at the end', () => {
    const built = build({ selfAttention: 'resolution', omitNoisePred: true, attentionBlockBytes: SMALL_BLOCKS });
    const concats = built.graph.nodes.filter((n) => n.opType === 'Concat');
    // In each layer only its attention output is assembled from the blocks (16² and 8² are in blocks: 10 layers).
    expect(concats.filter((n) => n.name.includes('.attn1/')).length).toBe(10);
    // Outside every module: the 16² and 8² means, each from its blocks.
    expect(concats.filter((n) => !n.name.includes('/')).length).toBe(2);
  });

  it('query blocks give the same maps, layer means and outputs as whole layers', async () => {
    const opts: UNetBuildOptions = { selfAttention: 'both', crossAttention: true, features: ['up_block.3'] };
    const blocked = build({ ...opts, attentionBlockBytes: SMALL_BLOCKS });
    const softmaxes = blocked.graph.nodes.filter((n) => n.opType === 'Softmax').length;
    expect(softmaxes).toBe(5 * 32 + 5 * 2 + 6 + 16); // self-attention at 16² and 8² in blocks, cross-attention whole
    const [a, b] = [await runGraph(build(opts).graph, feeds()), await runGraph(blocked.graph, feeds())];
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const k of Object.keys(a)) expect(maxAbsDiff(b[k]!.data as Float32Array, a[k]!.data as Float32Array), k).toBe(0);
  });
});
