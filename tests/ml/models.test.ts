// Every golden case reproduced through the graph builder and onnxruntime-node.
// Tolerance: 1e-4 ABSOLUTE on every fp32 output (no relative term anywhere; the largest |x| in these
// outputs is ~3.3, and float32 reordering alone moves them by up to 2.7e-5 per the golden README).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { openSingleFile, openWeights, SafetensorsFile, type WeightSource } from '../../src/core/ml/weights';
import type { GraphBuilder } from '../../src/core/ml/graph';
import { buildUNet, type UNetBuildOptions } from '../../src/core/ml/models/unet';
import { parseUNetConfig } from '../../src/core/ml/models/unetConfig';
import { buildVaeDecoder, buildVaeEncoder, parseVaeConfig } from '../../src/core/ml/models/vae';
import { buildClipTextEncoder, parseClipTextConfig } from '../../src/core/ml/models/clip';
import { checkWeights, clipWeightShapes, unetWeightShapes, vaeWeightShapes } from '../../src/core/ml/models/shapes';
import { SD15_UNET_CONFIG } from '../../src/core/ml/models/unetConfig';
import { SD15_VAE_CONFIG } from '../../src/core/ml/models/vae';
import { SD15_CLIP_CONFIG } from '../../src/core/ml/models/clip';
import { buildLdmCheckpoint, golden } from './weights.helpers';

const ATOL = 1e-4;
const json = (...p: string[]) => JSON.parse(readFileSync(golden(...p), 'utf8')) as unknown;
const f32 = (f: SafetensorsFile, k: string) => new ort.Tensor('float32', f.readFloat32(k), f.info(k).shape);

async function run(g: GraphBuilder, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(g.toBytes(), { intraOpNumThreads: 2 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function maxAbsDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Compares `got[ours]` with golden `theirs` (dims and values); returns the golden key. */
function check(out: SafetensorsFile, r: Record<string, ort.Tensor>, ours: string, theirs = ours, atol = ATOL): string {
  const t = r[ours];
  expect(t, `output ${ours}`).toBeDefined();
  expect(t!.dims, ours).toEqual(out.info(theirs).shape);
  const d = maxAbsDiff(t!.data as Float32Array, out.readFloat32(theirs));
  expect(d, `${ours} vs golden ${theirs}: max abs diff ${d}`).toBeLessThanOrEqual(atol);
  return theirs;
}

const unetConfig = (c: string) => parseUNetConfig(json(c, 'config.json'));

async function runUNet(c: string, tag: string, w: WeightSource, opts: UNetBuildOptions) {
  const { graph, attentionLayers } = buildUNet(unetConfig(c), w, opts);
  const inp = SafetensorsFile.open(golden(c, `inputs_${tag}.safetensors`));
  const r = await run(graph, { sample: f32(inp, 'sample'), timestep: f32(inp, 'timestep'), encoder_hidden_states: f32(inp, 'encoder_hidden_states') });
  return { r, attentionLayers, out: SafetensorsFile.open(golden(c, `outputs_${tag}.safetensors`)) };
}

const ALL_MAPS: UNetBuildOptions = { selfAttention: 'both', crossAttention: true, features: true, batch: 2, height: 16, width: 16 };

async function checkFullUNet(c: 'unet_A' | 'unet_B') {
  const { r, out, attentionLayers } = await runUNet(c, 't300', openWeights(golden(c, 'diffusion_pytorch_model.safetensors')), ALL_MAPS);
  const covered = new Set<string>();
  for (const k of out.keys()) covered.add(check(out, r, k));
  expect([...covered].sort()).toEqual(out.keys().sort()); // every golden tensor compared: noise, 16+16 maps, 13 taps
  expect(out.keys().filter((k) => k.startsWith('self_attn.')).length).toBe(16);

  // Attention layer table matches the manifest's module paths and sizes.
  const manifest = json('manifest.json') as { cases: Record<string, { runs: { tag: string; attention_maps?: { tensor: string; module: string; heads: number; head_dim: number; feature_hw: number[] }[] }[] }> };
  const run300 = manifest.cases[c === 'unet_A' ? 'A' : 'B']!.runs.find((x) => x.tag === 't300')!;
  const maps = (run300.attention_maps ?? []).filter((m) => m.tensor.startsWith('self_attn.'));
  expect(maps.length).toBe(16);
  expect(attentionLayers.map((l) => `${l.module}.attn1 ${l.height}x${l.width} ${l.heads}/${l.headDim}`)).toEqual(
    maps.map((m) => `${m.module} ${m.feature_hw.join('x')} ${m.heads}/${m.head_dim}`));

  // Per-resolution means computed in the graph equal the mean of the golden per-layer maps.
  const groups: Record<string, number[]> = { '16x16': [0, 1, 13, 14, 15], '8x8': [2, 3, 10, 11, 12], '4x4': [4, 5, 7, 8, 9], '2x2': [6] };
  for (const [res, idx] of Object.entries(groups)) {
    const ms = idx.map((i) => out.readFloat32(`self_attn.${String(i).padStart(2, '0')}`));
    const mean = ms[0]!.map((_, j) => ms.reduce((a, m) => a + m[j]!, 0) / ms.length);
    const d = maxAbsDiff(r[`self_attn_mean.${res}`]!.data as Float32Array, mean);
    expect(d, `self_attn_mean.${res}`).toBeLessThanOrEqual(ATOL);
  }
}

describe('UNet2DConditionModel golden', () => {
  it('unet_A t=300: noise_pred, every self/cross attention map, every block feature', async () => {
    await checkFullUNet('unet_A');
  });

  it('unet_B t=300 (8-channel conv_in): everything', async () => {
    await checkFullUNet('unet_B');
  });

  it('unet_A t=999 with symbolic batch and size', async () => {
    const { r, out } = await runUNet('unet_A', 't999', openWeights(golden('unet_A', 'diffusion_pytorch_model.safetensors')), { features: true });
    for (const k of out.keys()) check(out, r, k);
    expect(out.keys()).toContain('noise_pred');
  });

  it('reading attention_head_dim as the per-head size would be caught', async () => {
    // 4 heads of dim 4 at 16 channels instead of diffusers' 8 heads of dim 2.
    const cfg = { ...(json('unet_A', 'config.json') as object), attention_head_dim: 4 };
    const { graph } = buildUNet(parseUNetConfig(cfg), openWeights(golden('unet_A', 'diffusion_pytorch_model.safetensors')), {});
    const inp = SafetensorsFile.open(golden('unet_A', 'inputs_t300.safetensors'));
    const r = await run(graph, { sample: f32(inp, 'sample'), timestep: f32(inp, 'timestep'), encoder_hidden_states: f32(inp, 'encoder_hidden_states') });
    const out = SafetensorsFile.open(golden('unet_A', 'outputs_t300.safetensors'));
    expect(maxAbsDiff(r['noise_pred']!.data as Float32Array, out.readFloat32('noise_pred'))).toBeGreaterThan(1e-2);
  });

  it('rejects unsupported config features by name', () => {
    expect(() => parseUNetConfig({ ...(json('unet_A', 'config.json') as object), class_embed_type: 'timestep' })).toThrow(/class_embed_type/);
    expect(() => parseUNetConfig({ ...(json('unet_A', 'config.json') as object), block_out_channels: [16, 16] })).toThrow(/2 block_out_channels/);
  });
});

describe('AutoencoderKL golden (vae_C)', () => {
  it('encoder: mean, std, logvar, moments, taps, mid attention; decoder of z and of the mean', async () => {
    const cfg = parseVaeConfig(json('vae_C', 'config.json'));
    const w = openWeights(golden('vae_C', 'diffusion_pytorch_model.safetensors'));
    const inp = SafetensorsFile.open(golden('vae_C', 'inputs.safetensors'));
    const out = SafetensorsFile.open(golden('vae_C', 'outputs.safetensors'));
    const covered = new Set<string>();
    const e = await run(buildVaeEncoder(cfg, w, { features: true, midAttention: true }).graph, { image: f32(inp, 'image') });
    for (const [a, b] of [['latent_mean'], ['latent_std'], ['latent_logvar'], ['moments'], ['encoder_out'], ['mid_block', 'encoder_mid_block'], ['mid_attn', 'encoder_mid_attn']])
      covered.add(check(out, e, a!, b));
    // What pipelines derive from the posterior, from OUR mean/std.
    const mean = e['latent_mean']!.data as Float32Array;
    const std = e['latent_std']!.data as Float32Array;
    const eps = inp.readFloat32('eps');
    covered.add(check(out, { s: new ort.Tensor('float32', mean.map((m) => Math.fround(m * 0.18215)), [1, 4, 8, 8]) }, 's', 'latent_mean_scaled'));
    covered.add(check(out, { s: new ort.Tensor('float32', mean.map((m, i) => m + std[i]! * eps[i]!), [1, 4, 8, 8]) }, 's', 'latent_sample_eps'));
    const dec = buildVaeDecoder(cfg, w, { features: true, midAttention: true }).graph;
    const dz = await run(dec, { latent: f32(inp, 'z') });
    for (const [a, b] of [['sample', 'decoded_z'], ['post_quant_conv', 'post_quant_conv_z'], ['mid_block', 'decoder_mid_block_z'], ['mid_attn', 'decoder_mid_attn_z']])
      covered.add(check(out, dz, a!, b));
    const dm = await run(dec, { latent: new ort.Tensor('float32', mean, [1, 4, 8, 8]) });
    covered.add(check(out, dm, 'sample', 'decoded_mean'));
    covered.add(check(out, dm, 'mid_attn', 'decoder_mid_attn_mean'));
    expect([...covered].sort()).toEqual(out.keys().sort());
  });
});

describe('CLIPTextModel golden (clip_D)', () => {
  const cfg = () => parseClipTextConfig(json('clip_D', 'config.json'));
  const w = () => openWeights(golden('clip_D', 'model.safetensors'));
  const ids = (inp: SafetensorsFile, k = 'input_ids') => new ort.Tensor('int64', inp.readRaw(k).data as BigInt64Array, [2, 77]);

  it('last_hidden_state, pooler_output (argmax rule), hidden states, attention maps, padding mask, first-EOS rule', async () => {
    const inp = SafetensorsFile.open(golden('clip_D', 'inputs.safetensors'));
    const out = SafetensorsFile.open(golden('clip_D', 'outputs.safetensors'));
    const covered = new Set<string>();
    const r = await run(buildClipTextEncoder(cfg(), w(), { hiddenStates: true, attentionProbs: true }).graph, { input_ids: ids(inp) });
    for (const k of ['last_hidden_state', 'pooler_output', 'hidden_states.0', 'hidden_states.1', 'hidden_states.2', 'hidden_states.3']) covered.add(check(out, r, k));
    for (let i = 0; i < 3; i++) covered.add(check(out, r, `attn_probs.${i}`, `attn_probs_headavg.${i}`));
    // pool_index: the pooled vector is the hidden state at [8, 31].
    const pi = out.readRaw('pool_index');
    const idx = Array.from(pi.data as ArrayLike<number | bigint>, Number);
    expect(idx).toEqual([8, 31]);
    const last = r['last_hidden_state']!.data as Float32Array;
    const pooled = r['pooler_output']!.data as Float32Array;
    for (let b = 0; b < 2; b++) expect(Array.from(pooled.slice(b * 32, b * 32 + 32))).toEqual(Array.from(last.slice((b * 77 + idx[b]!) * 32, (b * 77 + idx[b]! + 1) * 32)));
    covered.add('pool_index');
    const m = await run(buildClipTextEncoder(cfg(), w(), { attentionMask: true }).graph, { input_ids: ids(inp), attention_mask: ids(inp, 'attention_mask') });
    covered.add(check(out, m, 'last_hidden_state', 'last_hidden_state_with_attention_mask'));
    covered.add(check(out, m, 'pooler_output', 'pooler_output_with_attention_mask'));
    // eos_token_id != 2: first position equal to EOS (id 999 plays EOT in this tiny vocab).
    const f = await run(buildClipTextEncoder(cfg(), w(), { eosTokenId: 999 }).graph, { input_ids: ids(inp) });
    covered.add(check(out, f, 'pooler_output', 'pooled_output_first_eos_rule'));
    expect([...covered].sort()).toEqual(out.keys().sort());
  });
});

describe('original single-file checkpoint', () => {
  it('UNet, VAE and text encoder converted from LDM names reproduce the golden outputs', async () => {
    const ck = openSingleFile(SafetensorsFile.fromBytes(buildLdmCheckpoint()));
    const u = await runUNet('unet_A', 't300', ck.unet, { features: ['up_block.3'] });
    check(u.out, u.r, 'noise_pred');
    check(u.out, u.r, 'up_block.3');
    const vcfg = parseVaeConfig(json('vae_C', 'config.json'));
    const inp = SafetensorsFile.open(golden('vae_C', 'inputs.safetensors'));
    const out = SafetensorsFile.open(golden('vae_C', 'outputs.safetensors'));
    check(out, await run(buildVaeEncoder(vcfg, ck.vae, { midAttention: true }).graph, { image: f32(inp, 'image') }), 'mid_attn', 'encoder_mid_attn');
    check(out, await run(buildVaeDecoder(vcfg, ck.vae).graph, { latent: f32(inp, 'z') }), 'sample', 'decoded_z');
    const cin = SafetensorsFile.open(golden('clip_D', 'inputs.safetensors'));
    const cout = SafetensorsFile.open(golden('clip_D', 'outputs.safetensors'));
    const c = await run(buildClipTextEncoder(parseClipTextConfig(json('clip_D', 'config.json')), ck.textEncoder).graph, {
      input_ids: new ort.Tensor('int64', cin.readRaw('input_ids').data as BigInt64Array, [2, 77]),
    });
    check(cout, c, 'last_hidden_state');
  });
});

describe('fp16 export', () => {
  // Weights and compute in float16 (norms and softmax in float32), float32 inputs/outputs. Tolerance is loose:
  // fp16 has an 11-bit mantissa (relative step 9.8e-4) and errors accumulate over ~50 layers; we observed
  // max abs diffs of ~7e-3 (noise_pred, |x| <= 1.4) and ~3e-2 (up_block.3, |x| <= 3.3).
  it('UNet runs in ORT and agrees loosely with the fp32 golden', async () => {
    const { r, out } = await runUNet('unet_A', 't300', openWeights(golden('unet_A', 'diffusion_pytorch_model.safetensors')), {
      dtype: 'float16', features: ['up_block.3'], selfAttention: 'resolution', batch: 2, height: 16, width: 16,
    });
    check(out, r, 'noise_pred', 'noise_pred', 0.03);
    check(out, r, 'up_block.3', 'up_block.3', 0.1);
    expect(r['self_attn_mean.16x16']!.type).toBe('float32');
  });

  it('VAE decoder and CLIP run in fp16', async () => {
    const inp = SafetensorsFile.open(golden('vae_C', 'inputs.safetensors'));
    const out = SafetensorsFile.open(golden('vae_C', 'outputs.safetensors'));
    const dec = buildVaeDecoder(parseVaeConfig(json('vae_C', 'config.json')), openWeights(golden('vae_C', 'diffusion_pytorch_model.safetensors')), { dtype: 'float16' });
    check(out, await run(dec.graph, { latent: f32(inp, 'z') }), 'sample', 'decoded_z', 0.03);
    const cin = SafetensorsFile.open(golden('clip_D', 'inputs.safetensors'));
    const cout = SafetensorsFile.open(golden('clip_D', 'outputs.safetensors'));
    const c = buildClipTextEncoder(parseClipTextConfig(json('clip_D', 'config.json')), openWeights(golden('clip_D', 'model.safetensors')), { dtype: 'float16' });
    check(cout, await run(c.graph, { input_ids: new ort.Tensor('int64', cin.readRaw('input_ids').data as BigInt64Array, [2, 77]) }), 'last_hidden_state', 'last_hidden_state', 0.03);
  });
});

describe('weight shapes implied by configs', () => {
  const count = (m: Map<string, number[]>) => [...m.values()].reduce((a, s) => a + s.reduce((p, q) => p * q, 1), 0);
  it('match the golden checkpoints exactly', () => {
    for (const c of ['unet_A', 'unet_B'])
      expect(checkWeights(unetWeightShapes(unetConfig(c)), openWeights(golden(c, 'diffusion_pytorch_model.safetensors')))).toEqual([]);
    expect(checkWeights(vaeWeightShapes(parseVaeConfig(json('vae_C', 'config.json'))), openWeights(golden('vae_C', 'diffusion_pytorch_model.safetensors')))).toEqual([]);
    expect(checkWeights(clipWeightShapes(parseClipTextConfig(json('clip_D', 'config.json'))), openWeights(golden('clip_D', 'model.safetensors')))).toEqual([]);
    const wrong = checkWeights(unetWeightShapes(unetConfig('unet_A')), openWeights(golden('unet_B', 'diffusion_pytorch_model.safetensors')));
    expect(wrong).toEqual(['conv_in.weight: shape [16,8,3,3], config implies [16,4,3,3]']);
  });
  it('give the published SD 1.5 parameter counts', () => {
    expect(count(unetWeightShapes(SD15_UNET_CONFIG))).toBe(859_520_964);
    expect(count(vaeWeightShapes(SD15_VAE_CONFIG))).toBe(83_653_863);
    expect(count(clipWeightShapes(SD15_CLIP_CONFIG))).toBe(123_060_480);
  });
});
