// Every golden case reproduced through the graph builder and onnxruntime-node.
// Tolerance: 1e-4 ABSOLUTE on every fp32 output (no relative term anywhere; the largest |x| in these
// outputs is ~3.3, and float32 reordering alone moves them by up to 2.7e-5 per the golden README).
// Every golden case reproduced through the graph builder and onnxruntime-node, by the kind modules that
// `npm run golden` runs (src/core/golden): 1e-4 ABSOLUTE on every fp32 output (no relative term anywhere; the
// largest |x| in these outputs is ~3.3, and float32 reordering alone moves them by up to 2.7e-5 per the golden README).
// Below them, what the golden cases do not cover by themselves: LDM single files, fp16 exports, config checks.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type * as ort from 'onnxruntime-node';
import { openSingleFile, openWeights, SafetensorsFile, type WeightSource } from '../../src/core/ml/weights';
import { buildUNet, type UNetBuildOptions } from '../../src/core/ml/models/unet';
import { parseUNetConfig } from '../../src/core/ml/models/unetConfig';
import { buildVaeDecoder, buildVaeEncoder, parseVaeConfig } from '../../src/core/ml/models/vae';
import { buildClipTextEncoder, parseClipTextConfig } from '../../src/core/ml/models/clip';
import { checkWeights, clipWeightShapes, unetWeightShapes, vaeWeightShapes } from '../../src/core/ml/models/shapes';
import { SD15_UNET_CONFIG } from '../../src/core/ml/models/unetConfig';
import { SD15_VAE_CONFIG } from '../../src/core/ml/models/vae';
import { SD15_CLIP_CONFIG } from '../../src/core/ml/models/clip';
import {
  compareTensor, floatTensor, int64Tensor, maxAbsDiff, MODEL_ATOL, runGraph, withinTolerance, type CaseManifest, type GoldenKind,
} from '../../src/core/golden/compare';
import { unetKind } from '../../src/core/golden/unet';
import { vaeKind } from '../../src/core/golden/vae';
import { clipTextKind } from '../../src/core/golden/clipText';
import { buildLdmCheckpoint, golden } from './weights.helpers';

const json = (...p: string[]) => JSON.parse(readFileSync(golden(...p), 'utf8')) as unknown;

/** Runs `kind` on tests/golden/<c>: every check within its tolerance; returns the names of the outputs compared. */
async function checkGolden(kind: GoldenKind, c: string): Promise<string[]> {
  const checks = await kind.check(golden(c), json(c, 'manifest.json') as CaseManifest);
  expect(checks.filter((x) => !withinTolerance(x)), c).toEqual([]);
  return checks.map((x) => x.name);
}

/** Our `ours` output against golden `theirs` (dims and values) within `atol`. */
function expectClose(out: SafetensorsFile, r: Record<string, ort.Tensor>, ours: string, theirs = ours, atol = MODEL_ATOL): void {
  const c = compareTensor(ours, r[ours], out, theirs, atol);
  expect(c.error, `${ours} vs golden ${theirs}: ${c.detail ?? `max abs diff ${c.error}`}`).toBeLessThanOrEqual(atol);
}

const unetConfig = (c: string) => parseUNetConfig(json(c, 'config.json'));

async function runUNet(c: string, tag: string, w: WeightSource, opts: UNetBuildOptions) {
  const { graph } = buildUNet(unetConfig(c), w, opts);
  const inp = SafetensorsFile.open(golden(c, `inputs_${tag}.safetensors`));
  const r = await runGraph(graph, { sample: floatTensor(inp, 'sample'), timestep: floatTensor(inp, 'timestep'), encoder_hidden_states: floatTensor(inp, 'encoder_hidden_states') });
  return { r, out: SafetensorsFile.open(golden(c, `outputs_${tag}.safetensors`)) };
}

const TAPS = ['time_proj', 'time_emb', 'conv_in', 'down_block.0', 'down_block.1', 'down_block.2', 'down_block.3', 'mid_block', 'up_block.0', 'up_block.1', 'up_block.2', 'up_block.3'];
const nn = (n: number) => Array.from({ length: n }, (_, i) => String(i).padStart(2, '0'));
/** A t300 run: noise, 16+16 maps, 12 taps, then the layer table and the 4 per-resolution means. */
const FULL_RUN = [
  'noise_pred', ...TAPS, ...nn(16).flatMap((i) => [`self_attn.${i}`, `cross_attn.${i}`]),
  'attention layers', ...['16x16', '8x8', '4x4', '2x2'].map((r) => `self_attn_mean.${r}`),
].map((k) => `t300/${k}`).sort();

describe('UNet2DConditionModel golden', () => {
  it('unet_A t=300: noise_pred, every self/cross attention map, every block feature; t=999 with symbolic batch and size', async () => {
    const names = await checkGolden(unetKind, 'unet_A');
    expect(names.filter((n) => n.startsWith('t300/')).sort()).toEqual(FULL_RUN);
    expect(names.filter((n) => n.startsWith('t999/')).sort()).toEqual(['noise_pred', ...TAPS].map((k) => `t999/${k}`).sort());
  });

  it('unet_B t=300 (8-channel conv_in): everything', async () => {
    expect((await checkGolden(unetKind, 'unet_B')).sort()).toEqual(FULL_RUN);
  });

  it('reading attention_head_dim as the per-head size would be caught', async () => {
    // 4 heads of dim 4 at 16 channels instead of diffusers' 8 heads of dim 2.
    const cfg = { ...(json('unet_A', 'config.json') as object), attention_head_dim: 4 };
    const { graph } = buildUNet(parseUNetConfig(cfg), openWeights(golden('unet_A', 'diffusion_pytorch_model.safetensors')), {});
    const inp = SafetensorsFile.open(golden('unet_A', 'inputs_t300.safetensors'));
    const r = await runGraph(graph, { sample: floatTensor(inp, 'sample'), timestep: floatTensor(inp, 'timestep'), encoder_hidden_states: floatTensor(inp, 'encoder_hidden_states') });
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
    expect((await checkGolden(vaeKind, 'vae_C')).sort()).toEqual(SafetensorsFile.open(golden('vae_C', 'outputs.safetensors')).keys().sort());
  });
});

describe('CLIPTextModel golden (clip_D)', () => {
  it('last_hidden_state, pooler_output (argmax rule), hidden states, attention maps, padding mask, first-EOS rule', async () => {
    const out = SafetensorsFile.open(golden('clip_D', 'outputs.safetensors'));
    expect(Array.from(out.readFloat32('pool_index'))).toEqual([8, 31]); // pooled = hidden state at the first EOT
    expect((await checkGolden(clipTextKind, 'clip_D')).sort()).toEqual(out.keys().sort());
  });
});

describe('original single-file checkpoint', () => {
  it('UNet, VAE and text encoder converted from LDM names reproduce the golden outputs', async () => {
    const ck = openSingleFile(SafetensorsFile.fromBytes(buildLdmCheckpoint()));
    const u = await runUNet('unet_A', 't300', ck.unet, { features: ['up_block.3'] });
    expectClose(u.out, u.r, 'noise_pred');
    expectClose(u.out, u.r, 'up_block.3');
    const vcfg = parseVaeConfig(json('vae_C', 'config.json'));
    const inp = SafetensorsFile.open(golden('vae_C', 'inputs.safetensors'));
    const out = SafetensorsFile.open(golden('vae_C', 'outputs.safetensors'));
    expectClose(out, await runGraph(buildVaeEncoder(vcfg, ck.vae, { midAttention: true }).graph, { image: floatTensor(inp, 'image') }), 'mid_attn', 'encoder_mid_attn');
    expectClose(out, await runGraph(buildVaeDecoder(vcfg, ck.vae).graph, { latent: floatTensor(inp, 'z') }), 'sample', 'decoded_z');
    const cin = SafetensorsFile.open(golden('clip_D', 'inputs.safetensors'));
    const cout = SafetensorsFile.open(golden('clip_D', 'outputs.safetensors'));
    const c = await runGraph(buildClipTextEncoder(parseClipTextConfig(json('clip_D', 'config.json')), ck.textEncoder).graph, { input_ids: int64Tensor(cin, 'input_ids') });
    expectClose(cout, c, 'last_hidden_state');
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
    expectClose(out, r, 'noise_pred', 'noise_pred', 0.03);
    expectClose(out, r, 'up_block.3', 'up_block.3', 0.1);
    expect(r['self_attn_mean.16x16']!.type).toBe('float32');
  });

  it('VAE decoder and CLIP run in fp16', async () => {
    const inp = SafetensorsFile.open(golden('vae_C', 'inputs.safetensors'));
    const out = SafetensorsFile.open(golden('vae_C', 'outputs.safetensors'));
    const dec = buildVaeDecoder(parseVaeConfig(json('vae_C', 'config.json')), openWeights(golden('vae_C', 'diffusion_pytorch_model.safetensors')), { dtype: 'float16' });
    expectClose(out, await runGraph(dec.graph, { latent: floatTensor(inp, 'z') }), 'sample', 'decoded_z', 0.03);
    const cin = SafetensorsFile.open(golden('clip_D', 'inputs.safetensors'));
    const cout = SafetensorsFile.open(golden('clip_D', 'outputs.safetensors'));
    const c = buildClipTextEncoder(parseClipTextConfig(json('clip_D', 'config.json')), openWeights(golden('clip_D', 'model.safetensors')), { dtype: 'float16' });
    expectClose(cout, await runGraph(c.graph, { input_ids: int64Tensor(cin, 'input_ids') }), 'last_hidden_state', 'last_hidden_state', 0.03);
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
