// Mask2Former's heads as ODISE runs them: the golden cases through the kind modules `npm run golden` runs
// (MSDeformAttn through GridSample and the whole pixel decoder; the masked-attention decoder, plain and ODISE's),
// then what the cases do not cover by themselves: GridSample against torch's formula at the borders, graphs built
// for any image size at a size the cases do not have, input projections, weight names, and refused configs.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/core/ml/graph';
import {
  buildMaskDecoder, buildPixelDecoder, decoderWeightShapes, ODISE_DECODER_CONFIG, ODISE_PIXEL_DECODER_CONFIG, parseDecoderConfig, parsePixelDecoderConfig,
  pixelDecoderWeightShapes, type DecoderConfig,
} from '../../src/core/ml/models/mask2former';
import { checkWeights } from '../../src/core/ml/models/shapes';
import { encodeSafetensors, fileSource, openWeights, RandomWeights, SafetensorsFile, type WriteTensor } from '../../src/core/ml/weights';
import { floatTensor, maxAbsDiff, runGraph, withinTolerance, type CaseManifest, type GoldenKind } from '../../src/core/golden/compare';
import { msDeformAttnKind } from '../../src/core/golden/msDeformAttn';
import { decoderConfigs, mask2formerDecoderKind } from '../../src/core/golden/mask2formerDecoder';
import { rng } from '../helpers/random';
import { golden } from './weights.helpers';

const json = (...p: string[]) => JSON.parse(readFileSync(golden(...p), 'utf8')) as Record<string, unknown>;
const K = 'msdeform_attn_K';
const Lc = 'mask2former_decoder_L';
const keysOf = (c: string, file: string, prefix: string) => SafetensorsFile.open(golden(c, file)).keys().map((k) => prefix + k);

async function checkGolden(kind: GoldenKind, c: string): Promise<string[]> {
  const checks = await kind.check(golden(c), json(c, 'manifest.json') as CaseManifest);
  expect(checks.filter((x) => !withinTolerance(x)), c).toEqual([]);
  return checks.map((x) => x.name);
}

const MAIN_PIXEL = ['mask_features', 'transformer_encoder_features', 'multi_scale_features.0', 'multi_scale_features.1', 'multi_scale_features.2'];

describe('Mask2Former golden cases', () => {
  it('msdeform_attn_K: MSDeformAttn (2-d and 4-d references, padding mask) and the pixel decoder, every output, static and any-size graphs', async () => {
    const names = await checkGolden(msDeformAttnKind, K);
    expect(names.sort()).toEqual([
      ...keysOf(K, 'msdeform_attn_outputs.safetensors', 'msdeform_attn/'),
      ...keysOf(K, 'pixel_decoder_outputs.safetensors', 'pixel_decoder/'),
      ...MAIN_PIXEL.map((k) => `pixel_decoder (any size)/${k}`),
    ].sort());
  });

  it('mask2former_decoder_L: the decoder and ODISE\'s variant, every output and auxiliary output; the any-size graph\'s final predictions', async () => {
    const names = await checkGolden(mask2formerDecoderKind, Lc);
    const file = (variant: string) => SafetensorsFile.open(golden(Lc, `${variant}_outputs.safetensors`)).keys();
    const main = (variant: string) => file(variant).filter((k) => !/^(debug|attn_mask|memory_mask|aux_outputs)\./.test(k));
    expect(names.sort()).toEqual([
      ...file('mask2former').map((k) => `mask2former/${k}`), ...main('mask2former').map((k) => `mask2former (any size)/${k}`),
      ...file('odise').map((k) => `odise/${k}`), ...main('odise').map((k) => `odise (any size)/${k}`),
    ].sort());
  });
});

/** torch's grid_sample(bilinear, zeros, align_corners=False) on one [C, H, W] map, written out (aten GridSampler.h). */
function torchGridSample(x: Float32Array, C: number, H: number, W: number, gx: number, gy: number): number[] {
  const ix = Math.fround(Math.fround(Math.fround(gx + 1) * W - 1) / 2);
  const iy = Math.fround(Math.fround(Math.fround(gy + 1) * H - 1) / 2);
  const x0 = Math.floor(ix), y0 = Math.floor(iy);
  const corners: [number, number, number][] = [
    [x0, y0, (x0 + 1 - ix) * (y0 + 1 - iy)], [x0 + 1, y0, (ix - x0) * (y0 + 1 - iy)],
    [x0, y0 + 1, (x0 + 1 - ix) * (iy - y0)], [x0 + 1, y0 + 1, (ix - x0) * (iy - y0)],
  ];
  return Array.from({ length: C }, (_, c) =>
    corners.reduce((s, [px, py, wt]) => (px >= 0 && px < W && py >= 0 && py < H ? s + wt * x[(c * H + py) * W + px]! : s), 0));
}

describe('GridSample', () => {
  it('is torch\'s grid_sample at opsets 18 and 20: corners, borders, half a pixel outside, far outside, exact pixel centres', async () => {
    const [C, H, W] = [3, 4, 5];
    const x = Float32Array.from({ length: C * H * W }, (_, i) => Math.sin(i * 1.7) * 3);
    // (x, y) in [-1, 1]: the map's outer edges, its corner pixels' centres, half a pixel past the edge, beyond it.
    const pts: [number, number][] = [[-1, -1], [1, 1], [-1, 1], [1 - 1 / W, -1 + 1 / H], [-1 - 1 / W, 0], [0, 1 + 1 / H], [1.5, 0.2], [-3, -3], [0.1, -0.35], [0.999, 0.001]];
    const want = pts.flatMap(([gx, gy]) => torchGridSample(x, C, H, W, gx, gy));
    for (const opset of [18, 20]) {
      const g = new GraphBuilder('grid', { opset });
      g.output(g.gridSample(g.input('x', 'float32', [1, C, H, W]), g.input('grid', 'float32', [1, 1, pts.length, 2])), 'y');
      const r = await runGraph(g, { x: new ort.Tensor('float32', x, [1, C, H, W]), grid: new ort.Tensor('float32', Float32Array.from(pts.flat()), [1, 1, pts.length, 2]) });
      const y = r['y']!.data as Float32Array;
      // [1, C, 1, points] → point-major, as `want`.
      const got = pts.flatMap((_, p) => Array.from({ length: C }, (_, c) => y[c * pts.length + p]!));
      expect(maxAbsDiff(got, want), `opset ${opset}`).toBeLessThan(1e-5);
    }
    // Points half a pixel or more outside fade to exactly 0 (every neighbour is padding).
    expect(torchGridSample(x, C, H, W, -3, -3)).toEqual([0, 0, 0]);
  });
});

describe('shapes known only at run time', () => {
  it('Expand and Resize to a run-time shape keep the rank, and Expand every dim that is not 1', () => {
    const g = new GraphBuilder('s');
    const x = g.input('x', 'float32', ['b', 8, 'h', 'w']);
    const target = g.concat([g.slice(g.shape(x), [0], [1]), g.int64s([5, 8])], 0); // [b, 5, 8]
    expect(g.expand(g.input('q', 'float32', [1, 5, 8]), target).shape).toEqual([null, 5, 8]);
    expect(g.expand(g.input('r', 'float32', [8]), target).shape).toEqual([null, null, 8]);
    // A symbolic dim may be 1 at run time, so the target decides it.
    expect(g.expand(g.input('t', 'float32', ['n', 5, 8]), target).shape).toEqual([null, 5, 8]);
    expect(g.resize(x, { sizes: g.shape(x), mode: 'linear' }).shape).toEqual([null, null, null, null]);
  });
});

const kPixel = () => parsePixelDecoderConfig(json(K, 'config.json')['pixel_decoder']);
const kPixelWeights = () => openWeights(golden(K, 'pixel_decoder_weights.safetensors'));

/** Deterministic features for an image of H×W. */
function featureFeeds(H: number, W: number, seed: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  const next = rng(seed);
  for (const [name, { channels, stride }] of Object.entries(kPixel().input_shape)) {
    const dims = [1, channels, H / stride, W / stride];
    feeds[name] = new ort.Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b) }, () => next() * 2 - 1), dims);
  }
  return feeds;
}

describe('graphs for any image size', () => {
  it('the pixel decoder built for any size gives, at 128×160 (sizes the case does not have), what a graph built for 128×160 gives', async () => {
    const feeds = featureFeeds(128, 160, 7);
    const any = await runGraph(buildPixelDecoder(kPixel(), kPixelWeights()).graph, feeds);
    const fixed = await runGraph(buildPixelDecoder(kPixel(), kPixelWeights(), { imageSize: [128, 160], batch: 1 }).graph, feeds);
    expect(any['mask_features']!.dims).toEqual([1, 16, 32, 40]);
    for (const k of MAIN_PIXEL) expect(maxAbsDiff(any[k]!.data as Float32Array, fixed[k]!.data as Float32Array), k).toBeLessThan(1e-5);

    // And the decoder on those features, any size against fixed sizes.
    const { plain } = decoderConfigs(json(Lc, 'config.json'));
    const w = openWeights(golden(Lc, 'mask2former_weights.safetensors'));
    const inputs = { 'x.0': fixed['multi_scale_features.0']!, 'x.1': fixed['multi_scale_features.1']!, 'x.2': fixed['multi_scale_features.2']!, mask_features: fixed['mask_features']! };
    const sizes = { levels: [[4, 5], [8, 10], [16, 20]] as [number, number][], maskFeatures: [32, 40] as [number, number] };
    const a = await runGraph(buildMaskDecoder(plain, w).graph, inputs);
    const b = await runGraph(buildMaskDecoder(plain, w, { sizes, batch: 1 }).graph, inputs);
    expect(a['pred_masks']!.dims).toEqual([1, 10, 32, 40]);
    for (const k of ['pred_logits', 'pred_masks']) expect(maxAbsDiff(a[k]!.data as Float32Array, b[k]!.data as Float32Array), k).toBeLessThan(1e-5);
  });

  it('a graph built for one size refuses an image whose size is not a multiple of every stride', () => {
    expect(() => buildPixelDecoder(kPixel(), kPixelWeights(), { imageSize: [64, 100] })).toThrow('image size 64×100 is not a multiple of res3\'s stride 8');
  });
});

describe('decoder input projections', () => {
  it('enforce_input_project reads input_proj.i (1×1 conv with bias): identity convolutions give the plain decoder\'s outputs', async () => {
    const { plain } = decoderConfigs(json(Lc, 'config.json'));
    const src = SafetensorsFile.open(golden(Lc, 'mask2former_weights.safetensors'));
    const C = plain.hidden_dim;
    const tensors: Record<string, WriteTensor> = {};
    for (const k of src.keys()) tensors[k] = src.readRaw(k);
    for (let i = 0; i < 3; i++) {
      tensors[`input_proj.${i}.weight`] = { dtype: 'F32', shape: [C, C, 1, 1], data: Float32Array.from({ length: C * C }, (_, j) => (j % (C + 1) === 0 ? 1 : 0)) };
      tensors[`input_proj.${i}.bias`] = { dtype: 'F32', shape: [C], data: new Float32Array(C) };
    }
    const cfg: DecoderConfig = { ...plain, enforce_input_project: true };
    const w = fileSource(SafetensorsFile.fromBytes(encodeSafetensors(tensors)));
    expect(checkWeights(decoderWeightShapes(cfg), w)).toEqual([]);
    const inp = SafetensorsFile.open(golden(Lc, 'inputs.safetensors'));
    const feeds = Object.fromEntries(['x.0', 'x.1', 'x.2', 'mask_features'].map((k) => [k, floatTensor(inp, k)]));
    const r = await runGraph(buildMaskDecoder(cfg, w).graph, feeds);
    const out = SafetensorsFile.open(golden(Lc, 'mask2former_outputs.safetensors'));
    expect(maxAbsDiff(r['pred_masks']!.data as Float32Array, out.readFloat32('pred_masks'))).toBeLessThan(1e-4);
    // Without the weights the build names the first one missing.
    expect(() => buildMaskDecoder(cfg, openWeights(golden(Lc, 'mask2former_weights.safetensors')))).toThrow("missing weight 'input_proj.0.weight'");
  });
});

describe('weight names and shapes', () => {
  it('the configs imply exactly the golden modules\' state dicts (logit_scale is 0-d in torch, [1] in the case files)', () => {
    expect(checkWeights(pixelDecoderWeightShapes(kPixel()), kPixelWeights())).toEqual([]);
    const { plain, odise } = decoderConfigs(json(Lc, 'config.json'));
    expect(checkWeights(decoderWeightShapes(plain), openWeights(golden(Lc, 'mask2former_weights.safetensors')))).toEqual([]);
    expect(checkWeights(decoderWeightShapes(odise), openWeights(golden(Lc, 'odise_weights.safetensors')))).toEqual(['post_mask_embed.logit_scale: shape [1], config implies []']);
  });

  it('ODISE\'s label model: 100 queries, 9 layers, 256 wide; its heads build from the implied weights at a 512² window', () => {
    const pd = pixelDecoderWeightShapes(ODISE_PIXEL_DECODER_CONFIG);
    const dec = decoderWeightShapes(ODISE_DECODER_CONFIG);
    const count = (m: Map<string, number[]>) => [...m.values()].reduce((a, s) => a + s.reduce((p, q) => p * q, 1), 0);
    expect(dec.get('query_feat.weight')).toEqual([100, 256]);
    expect([...dec.keys()].filter((k) => k.endsWith('.linear1.weight'))).toHaveLength(9);
    expect([...pd.keys()].filter((k) => k.endsWith('.sampling_offsets.weight'))).toHaveLength(6);
    expect(pd.get('transformer.encoder.layers.0.self_attn.sampling_offsets.weight')).toEqual([8 * 3 * 4 * 2, 256]);
    expect(dec.has('class_embed.weight')).toBe(false);
    expect({ pixelDecoder: count(pd), decoder: count(dec) }).toEqual({ pixelDecoder: 5_577_152, decoder: 14_722_817 });
    const p = buildPixelDecoder(ODISE_PIXEL_DECODER_CONFIG, new RandomWeights(pd), { imageSize: [512, 512], batch: 1 });
    expect(p.graph.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['mask_features', [1, 256, 128, 128]], ['transformer_encoder_features', [1, 256, 16, 16]],
      ['multi_scale_features.0', [1, 256, 16, 16]], ['multi_scale_features.1', [1, 256, 32, 32]], ['multi_scale_features.2', [1, 256, 64, 64]],
    ]);
    const d = buildMaskDecoder(ODISE_DECODER_CONFIG, new RandomWeights(dec), { sizes: { levels: [[16, 16], [32, 32], [64, 64]], maskFeatures: [128, 128] }, batch: 1 });
    expect(d.graph.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['pred_logits', [1, 100, 134]], ['pred_masks', [1, 100, 128, 128]], ['mask_embed', [1, 100, 256]], ['mask_pooled_features', [1, 100, 256]], ['logit_scale', [1]],
    ]);
  });
});

describe('refused configs', () => {
  const plain = () => ({ ...(json(Lc, 'config.json')['mask2former_constructor'] as object) });
  it.each([
    ['pre-norm layers', { pre_norm: true }, 'pre_norm: only post-norm layers (false) are supported'],
    ['pooled mask embeddings narrower than the decoder', { post_mask_embed: { projection_dim: 16 } }, 'mask_dim: pooled mask embeddings need mask_dim = hidden_dim (32)'],
    ['heads that do not divide the width', { nheads: 5 }, 'nheads: must divide hidden_dim'],
  ])('decoder: %s', (_, change, message) => {
    expect(() => parseDecoderConfig({ ...plain(), ...change })).toThrow(`unsupported or invalid Mask2Former transformer decoder config: ${message}`);
  });
  it.each([
    ['BatchNorm', { norm: 'BN' }, 'norm: only GroupNorm ("GN") is supported'],
    ['a transformer feature the backbone lacks', { transformer_in_features: ['res3', 'res6'] }, 'transformer_in_features: res6 is not one of input_shape\'s features'],
    ['a width GroupNorm(32) cannot split', { conv_dim: 48, transformer_nheads: 4 }, 'conv_dim: must be a multiple of GroupNorm\'s 32 groups'],
  ])('pixel decoder: %s', (_, change, message) => {
    expect(() => parsePixelDecoderConfig({ ...(json(K, 'config.json')['pixel_decoder'] as object), ...change })).toThrow(`unsupported or invalid Mask2Former pixel decoder config: ${message}`);
  });
});
