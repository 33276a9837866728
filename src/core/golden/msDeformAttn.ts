// Mask2Former's MSDeformAttn through its grid_sample path (2-d reference points, the same with a padding mask, 4-d
// reference boxes: every intermediate) and the whole MSDeformAttnPixelDecoder (every output and debug tap), built for
// the case's image size; then the pixel decoder built for any size, on the same inputs.
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { GraphBuilder, type Value } from '../ml/graph';
import { Layers } from '../ml/models/nn';
import { buildPixelDecoder, featuresByStride, levelsOf, msDeformAttn, parsePixelDecoderConfig, transformerLevels, type PixelDecoderConfig } from '../ml/models/mask2former';
import { openWeights, SafetensorsFile, type WeightSource } from '../ml/weights';
import { compareTensor, exactCheck, floatTensor, readJsonAs, ReferenceOutputs, runGraph, type GoldenKind, type OutputCheck } from './compare';

const int = z.number().int().positive();
const Config = z.object({
  msdeform_attn: z.object({ d_model: int, n_levels: int, n_heads: int, n_points: int }),
  image_hw: z.tuple([int, int]),
  pixel_decoder: z.unknown(),
});

const RUNS = [
  { tag: 'ref2d', reference: 'reference_points_2d', padded: false },
  { tag: 'ref2d_padmask', reference: 'reference_points_2d', padded: true },
  { tag: 'ref4d', reference: 'reference_points_4d', padded: false },
] as const;
const INTERMEDIATES: [ours: string, reference: string][] = [
  ['value', 'value'], ['samplingOffsets', 'sampling_offsets'], ['attentionWeights', 'attention_weights'],
  ['samplingLocations', 'sampling_locations'], ['coreOutput', 'core_output'], ['output', 'output'],
];
const PIXEL_OUTPUTS = ['mask_features', 'transformer_encoder_features', 'multi_scale_features.0', 'multi_scale_features.1', 'multi_scale_features.2'];

export const msDeformAttnKind: GoldenKind = {
  title: 'Mask2Former MSDeformAttn (grid_sample path) and MSDeformAttnPixelDecoder',
  async check(dir) {
    const cfg = readJsonAs(join(dir, 'config.json'), Config);
    const checks = await checkAttention(dir, cfg.msdeform_attn);
    return [...checks, ...(await checkPixelDecoder(dir, parsePixelDecoderConfig(cfg.pixel_decoder), cfg.image_hw))];
  },
};

/** MSDeformAttn alone on the case's flattened levels, with every intermediate as an output. */
function attentionGraph(w: WeightSource, o: z.infer<typeof Config>['msdeform_attn'], dims: { batch: number; lenQ: number; lenIn: number; levels: [number, number][] }, refDim: number, padded: boolean) {
  const g = new GraphBuilder('msdeform_attn');
  const L = new Layers(g, w);
  const query = g.input('query', 'float32', [dims.batch, dims.lenQ, o.d_model]);
  const reference = g.input('reference_points', 'float32', [dims.batch, dims.lenQ, o.n_levels, refDim]);
  const input = g.input('input_flatten', 'float32', [dims.batch, dims.lenIn, o.d_model]);
  const paddingMask = padded ? g.input('input_padding_mask', 'bool', [dims.batch, dims.lenIn]) : undefined;
  const levels = levelsOf(L, dims.levels.map(([h, w]) => ({ h, w })));
  const r = msDeformAttn(L, query, reference, input, { heads: o.n_heads, points: o.n_points, levels, paddingMask });
  for (const [ours] of INTERMEDIATES) g.output(r[ours as keyof typeof r] as Value, ours);
  return g;
}

async function checkAttention(dir: string, o: z.infer<typeof Config>['msdeform_attn']): Promise<OutputCheck[]> {
  const w = openWeights(join(dir, 'msdeform_attn_weights.safetensors'));
  const inp = SafetensorsFile.open(join(dir, 'msdeform_attn_inputs.safetensors'));
  const ref = new ReferenceOutputs(SafetensorsFile.open(join(dir, 'msdeform_attn_outputs.safetensors')), 'msdeform_attn/');
  const shapes = Array.from(inp.readFloat32('spatial_shapes'));
  const levels = Array.from({ length: shapes.length / 2 }, (_, l) => [shapes[2 * l]!, shapes[2 * l + 1]!] as [number, number]);
  // The case's level_start_index must be the layout levelsOf assumes (levels one after another).
  const starts = levels.map((_, l) => levels.slice(0, l).reduce((s, [h, w]) => s + h * w, 0));
  if (starts.join() !== Array.from(inp.readFloat32('level_start_index')).join()) throw new Error(`level_start_index is not the levels laid out in order (${starts.join(', ')})`);
  const [batch, lenQ] = inp.info('query').shape as [number, number];
  const lenIn = inp.info('input_flatten').shape[1]!;
  for (const run of RUNS) {
    const refDim = inp.info(run.reference).shape[3]!;
    const feeds: Record<string, ort.Tensor> = { query: floatTensor(inp, 'query'), reference_points: floatTensor(inp, run.reference), input_flatten: floatTensor(inp, 'input_flatten') };
    if (run.padded) feeds['input_padding_mask'] = new ort.Tensor('bool', Uint8Array.from(inp.readFloat32('input_padding_mask'), (v) => (v === 1 ? 1 : 0)), [batch, lenIn]);
    const r = await runGraph(attentionGraph(w, o, { batch, lenQ, lenIn, levels }, refDim, run.padded), feeds);
    for (const [ours, theirs] of INTERMEDIATES) ref.tensor(r[ours], `${run.tag}.${theirs}`);
  }
  return ref.checks();
}

async function checkPixelDecoder(dir: string, c: PixelDecoderConfig, [H, W]: [number, number]): Promise<OutputCheck[]> {
  const w = openWeights(join(dir, 'pixel_decoder_weights.safetensors'));
  const inp = SafetensorsFile.open(join(dir, 'pixel_decoder_inputs.safetensors'));
  const ref = new ReferenceOutputs(SafetensorsFile.open(join(dir, 'pixel_decoder_outputs.safetensors')), 'pixel_decoder/');
  const feeds = Object.fromEntries(featuresByStride(c).map((f) => [f.name, floatTensor(inp, `features.${f.name}`)]));
  const batch = inp.info(`features.${featuresByStride(c)[0]!.name}`).shape[0]!;
  const { graph, outputs } = buildPixelDecoder(c, w, { imageSize: [H, W], batch, debug: true });
  const r = await runGraph(graph, feeds);
  for (const k of outputs) ref.tensor(r[k], k);
  // What the graph takes as given: the levels' sizes and token offsets, and no padding (every valid ratio 1).
  const sizes = transformerLevels(c).map((f) => [H / f.stride, W / f.stride]);
  const starts = sizes.map((_, l) => sizes.slice(0, l).reduce((s, [h, w]) => s + h! * w!, 0));
  const exact = (name: string, ours: number[]) => {
    const theirs = Array.from(ref.file.readFloat32(name));
    const rows = Array.from({ length: Math.max(ours.length, theirs.length) }, (_, i) => i);
    ref.add(exactCheck(`pixel_decoder/${name}`, rows, (i) => (ours[i] === theirs[i] ? undefined : `entry ${i}: ${ours[i]}, reference ${theirs[i]}`)), name);
  };
  exact('debug.spatial_shapes', sizes.flat() as number[]);
  exact('debug.level_start_index', starts);
  exact('debug.encoder.valid_ratios', Array.from(ref.file.readFloat32('debug.encoder.valid_ratios'), () => 1));
  const any = await runGraph(buildPixelDecoder(c, w).graph, feeds);
  return [...ref.checks(), ...PIXEL_OUTPUTS.map((k) => compareTensor(`pixel_decoder (any size)/${k}`, any[k], ref.file, k))];
}
