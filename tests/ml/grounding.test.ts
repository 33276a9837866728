// Grounded diffusion's grounding module: the golden case through the kind `npm run golden` runs (train mode, as the
// reference's test.py runs it, and eval mode), the golden files kept in parts, the released checkpoint's key layout
// read from a torch.save file, and the reference's quirks the golden case does not show by itself.
import { describe, expect, it } from 'vitest';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { floatTensor, maxAbsDiff, MODEL_ATOL, runGraph, withinTolerance, type CaseManifest } from '../../src/core/golden/compare';
import { groundingModuleKind, readCaseFile } from '../../src/core/golden/groundingModule';
import {
  buildGroundingModule, GROUNDING_SD1_CONFIG, groundingModuleSource, groundingTaps, groundingWeightShapes, GroundingWeights, type GroundingConfig,
} from '../../src/core/ml/models/grounding';
import { openTensorFile, RandomWeights, SafetensorsFile, type WriteTensor } from '../../src/core/ml/weights';
import { tempDir } from '../helpers/folder';
import { torchSave } from './torch.helpers';
import { golden } from './weights.helpers';

const CASE = 'grounding_module_Q';
const manifest = () => JSON.parse(readFileSync(golden(CASE, 'manifest.json'), 'utf8')) as CaseManifest;
const heads = () => (JSON.parse(readFileSync(golden(CASE, 'config.json'), 'utf8')) as { num_heads: number }).num_heads;
const inputs = () => SafetensorsFile.fromBytes(readCaseFile(golden(CASE), 'inputs.safetensors', manifest()));
const outputs = () => SafetensorsFile.fromBytes(readCaseFile(golden(CASE), 'outputs.safetensors', manifest()));
const PREFIX = 'diffusion_features.';

/** The golden weights as a state dict (every tensor, in the file's order). */
function stateDict(change: (t: Record<string, WriteTensor>) => void = () => {}): Record<string, WriteTensor> {
  const f = SafetensorsFile.open(golden(CASE, 'weights.safetensors'));
  const t: Record<string, WriteTensor> = {};
  for (const k of f.keys()) t[k] = f.readRaw(k);
  f.close();
  change(t);
  return t;
}

/** The golden inputs as graph feeds, optionally with the text embedding replaced. */
function feeds(text?: ort.Tensor): Record<string, ort.Tensor> {
  const inp = inputs();
  const r: Record<string, ort.Tensor> = {};
  for (const k of inp.keys()) r[k.startsWith(PREFIX) ? k.slice(PREFIX.length) : k] = floatTensor(inp, k);
  if (text) r['text_embedding'] = text;
  return r;
}

/** Stacks the feeds of two calls along the batch axis (image 0 from `a`, image 1 from `b`). */
function stack(a: Record<string, ort.Tensor>, b: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
  const r: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(a)) {
    const d = new Float32Array(t.data.length * 2);
    d.set(t.data as Float32Array);
    d.set(b[k]!.data as Float32Array, t.data.length);
    r[k] = new ort.Tensor('float32', d, [2, ...t.dims.slice(1)]);
  }
  return r;
}

function goldenModule(mode: GroundingConfig['mode'] = 'train') {
  return groundingModuleSource(openTensorFile(golden(CASE, 'weights.safetensors')), 'weights.safetensors', { heads: heads(), unetChannels: [16, 16, 32, 32], mode });
}

describe('grounding module golden (grounding_module_Q)', () => {
  it('train mode as test.py runs it and eval mode: logits, masks, every debug output, the buffers after the call', async () => {
    const checks = await groundingModuleKind.check(golden(CASE), manifest());
    expect(checks.filter((c) => !withinTolerance(c))).toEqual([]);
    const names = checks.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining([...outputs().keys(), 'config', 'train.mask', 'eval.mask']));
    // Train and eval mode differ by far more than the tolerance: the golden case tells them apart.
    const out = outputs();
    expect(maxAbsDiff(out.readFloat32('train.seg_result'), out.readFloat32('eval.seg_result'))).toBeGreaterThan(1);
  });
});

describe('golden files kept in parts', () => {
  it('reassembles inputs.safetensors from its parts, checked against the manifest, and names a damaged or missing part', () => {
    const whole = readCaseFile(golden(CASE), 'inputs.safetensors', manifest());
    expect(whole.length).toBe(5_049_176);
    expect(SafetensorsFile.fromBytes(whole).keys()).toHaveLength(26);
    const dir = tempDir('difflabel-parts-');
    try {
      cpSync(golden(CASE), dir.path, { recursive: true });
      const part2 = join(dir.path, 'inputs.safetensors.part2');
      const bytes = readFileSync(part2);
      bytes[1000] ^= 1;
      writeFileSync(part2, bytes);
      expect(() => readCaseFile(dir.path, 'inputs.safetensors', manifest())).toThrow(
        /inputs\.safetensors\.part1\.\.part2 put together do not match manifest\.json \(sha256 [0-9a-f]{12}…, expected b1ffbcb54dab…\)/);
      expect(() => readCaseFile(dir.path, 'missing.safetensors', manifest())).toThrow(/no missing\.safetensors and no missing\.safetensors\.part1 in /);
    } finally {
      dir.cleanup();
    }
  });
});

describe('grounding_module.pth (the released key layout)', () => {
  it('a torch.save of the state dict loads with the widths read off its shapes and gives the golden logits', async () => {
    const dir = tempDir('difflabel-grounding-');
    try {
      const path = join(dir.path, 'grounding_module.pth');
      writeFileSync(path, torchSave(stateDict()));
      const { config, weights } = groundingModuleSource(openTensorFile(path), path, { heads: heads(), unetChannels: [16, 16, 32, 32] });
      expect(config).toEqual({
        unet_channels: [16, 16, 32, 32], feature_channels: [4, 8, 16, 32], context_dim: 32, embedding_dim: 32, num_heads: 8, num_layers: 3,
        hidden_dim: 64, mode: 'train',
      });
      const r = await runGraph(buildGroundingModule(config, weights).graph, feeds());
      expect(maxAbsDiff(r['logits']!.data as Float32Array, outputs().readFloat32('train.seg_result'))).toBeLessThan(MODEL_ATOL);
      expect(Object.keys(r).sort()).toEqual(['logits', 'mask']);
      expect(r['mask']!.type).toBe('bool');
    } finally {
      dir.cleanup();
    }
  });

  it('is strict like load_state_dict(strict=True): a missing, unexpected or misshapen tensor is named', () => {
    const load = (t: Record<string, WriteTensor>) => () => {
      const dir = tempDir('difflabel-grounding-');
      try {
        const path = join(dir.path, 'grounding_module.pth');
        writeFileSync(path, torchSave(t));
        return groundingModuleSource(openTensorFile(path), 'grounding_module.pth', { heads: heads(), unetChannels: [16, 16, 32, 32] });
      } finally {
        dir.cleanup();
      }
    };
    expect(load(stateDict((t) => delete t['mid_feature_mix_conv.conv2.u0']))).toThrow(
      /^grounding_module\.pth: not a grounding module state dict: missing mid_feature_mix_conv\.conv2\.u0 \[1,12\]$/);
    expect(load(stateDict((t) => (t['module.to_q.weight'] = t['to_q.weight']!)))).toThrow(/: unexpected module\.to_q\.weight$/);
    expect(load(stateDict((t) => (t['mlp.layers.2.bias'] = { dtype: 'F32', shape: [59], data: new Float32Array(59) })))).toThrow(
      /: mlp\.layers\.2\.bias: shape \[59\], config implies \[60\]$/);
    expect(load(stateDict((t) => delete t['to_k.weight']))).toThrow(/: missing to_k\.weight \[32,960\]$/);
    // Another model's weights: the first width it cannot read is named.
    expect(() => groundingModuleSource(openTensorFile(golden('clip_D', 'model.safetensors')), 'model.safetensors')).toThrow(
      /^model\.safetensors: not a grounding module state dict: missing low_feature_conv\.0\.weight$/);
    expect(load(stateDict((t) => (t['to_q.weight'] = { dtype: 'F32', shape: [1024], data: new Float32Array(1024) })))).toThrow(
      /: not a grounding module state dict: to_q\.weight: shape \[1024\], not 2-dimensional$/);
  });

  it('refuses a module whose 1×1 convolutions do not take the UNet\'s features, and heads that do not divide the width', () => {
    const file = () => openTensorFile(golden(CASE, 'weights.safetensors'));
    expect(() => groundingModuleSource(file(), 'w.safetensors', { heads: 8 })).toThrow(
      'w.safetensors: the grounding module takes 384 channels of 8x8 UNet features, a UNet with block_out_channels [320,640,1280,1280] gives 15360: it was trained on another Stable Diffusion');
    expect(() => groundingModuleSource(file(), 'w.safetensors', { heads: 5, unetChannels: [16, 16, 32, 32] })).toThrow(
      /w\.safetensors: .*embedding_dim 32 is not divisible by num_heads 5/);
  });
});

describe('reference behaviour the golden case does not show', () => {
  it('the classes of one call are decoded jointly: another second class moves the first class\'s logits', async () => {
    const { config, weights } = goldenModule();
    const graph = buildGroundingModule(config, weights).graph;
    const base = feeds();
    const text = base['text_embedding']!;
    const changed = Float32Array.from(text.data as Float32Array);
    for (let i = 32; i < 64; i++) changed[i] = -changed[i]!;
    const a = await runGraph(graph, base);
    const b = await runGraph(graph, feeds(new ort.Tensor('float32', changed, text.dims)));
    const first = (r: Record<string, ort.Tensor>) => (r['logits']!.data as Float32Array).subarray(0, 512 * 512);
    expect(maxAbsDiff(first(a), first(b))).toBeGreaterThan(1e-2);
  });

  it('two images in one call are not segmented as two calls: batch statistics (train mode) and one attention sequence', async () => {
    for (const mode of ['train', 'eval'] as const) {
      const { config, weights } = goldenModule(mode);
      const graph = buildGroundingModule(config, weights).graph;
      const one = feeds();
      const other: Record<string, ort.Tensor> = {};
      for (const [k, t] of Object.entries(one)) other[k] = new ort.Tensor('float32', (t.data as Float32Array).map((x) => 0.5 * x + 0.1), t.dims);
      const alone = await runGraph(graph, one);
      const pair = await runGraph(graph, stack(one, other));
      expect(pair['logits']!.dims).toEqual([2, 2, 512, 512]);
      const first = (pair['logits']!.data as Float32Array).subarray(0, 2 * 512 * 512);
      expect(maxAbsDiff(first, alone['logits']!.data as Float32Array), mode).toBeGreaterThan(1e-3);
    }
  });

  it('the released width: 18,796,560 parameters and 2,406 buffer values; 25 taps of 15,360/14,080/8,320/5,120 channels', () => {
    const shapes = groundingWeightShapes(GROUNDING_SD1_CONFIG);
    const count = (keep: (k: string) => boolean) =>
      [...shapes].filter(([k]) => keep(k)).reduce((a, [, s]) => a + s.reduce((p, q) => p * q, 1), 0);
    const buffer = (k: string) => /\.(u0|sv0|stored_(mean|var)[12])$/.test(k);
    expect(count((k) => !buffer(k))).toBe(18_796_560);
    expect(count(buffer)).toBe(2_406);
    expect(shapes.get('transfromer_decoder.layers.2.multihead_attn.in_proj_weight')).toEqual([1536, 512]);
    const taps = groundingTaps(GROUNDING_SD1_CONFIG);
    expect(taps).toHaveLength(25);
    const sum = (g: string) => taps.filter((t) => t.group === g).reduce((a, t) => a + t.channels, 0);
    expect(['low', 'mid', 'high', 'highest'].map(sum)).toEqual([15_360, 14_080, 8_320, 5_120]);
    expect(taps.find((t) => t.name === 'mid.3')).toEqual({ name: 'mid.3', group: 'mid', ldm: 'output_blocks.2', diffusers: 'up_blocks.0.upsamplers.0', channels: 2560, size: 16 });
  });

  it('builds at the released width with static 512x512 outputs, symbolic images and classes', () => {
    const weights = new GroundingWeights(new RandomWeights(groundingWeightShapes(GROUNDING_SD1_CONFIG)), GROUNDING_SD1_CONFIG);
    const { graph } = buildGroundingModule(GROUNDING_SD1_CONFIG, weights);
    expect(graph.inputs.map((v) => `${v.name} [${v.shape!.join(',')}]`)).toContain('highest.3 [batch,1280,64,64]');
    expect(graph.inputs.find((v) => v.name === 'text_embedding')!.shape).toEqual(['batch', 'classes', 768]);
    expect(graph.outputs.map((v) => `${v.name} [${v.shape!.join(',')}]`)).toEqual(['logits [batch,classes,512,512]', 'mask [batch,classes,512,512]']);
  });
});
