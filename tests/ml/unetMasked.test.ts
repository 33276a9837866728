// Ref LDM-Seg's UNet conditioning: encoder_hid_proj and the encoder_attention_mask key bias, matched on the golden
// case unet_masked_M (diffusers 0.27.2), and what the case does not show by itself: the config rules, other latent
// sizes (Ref LDM-Seg's latents are 32²), and that masking a key equals deleting it.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { buildUNet } from '../../src/core/ml/models/unet';
import { parseUNetConfig, SD15_UNET_CONFIG } from '../../src/core/ml/models/unetConfig';
import { checkWeights, unetWeightShapes } from '../../src/core/ml/models/shapes';
import { openWeights, RandomWeights } from '../../src/core/ml/weights';
import { maxAbsDiff, runGraph, withinTolerance, type CaseManifest } from '../../src/core/golden/compare';
import { unetMaskedKind } from '../../src/core/golden/unetMasked';
import { golden } from './weights.helpers';

const CASE = 'unet_masked_M';
const HIDPROJ = golden(CASE, 'unet_A_hidproj');
const hidprojConfig = () => JSON.parse(readFileSync(`${HIDPROJ}/config.json`, 'utf8')) as Record<string, unknown>;

const TAPS = ['time_proj', 'time_emb', 'conv_in', 'mid_block', ...[0, 1, 2, 3].flatMap((i) => [`down_block.${i}`, `up_block.${i}`])];
const MAPS = Array.from({ length: 16 }, (_, i) => `cross_attn.${String(i).padStart(2, '0')}`);

describe('unet_masked golden', () => {
  it('every run: noise_pred with and without the mask, every block, encoder_hid_proj, the cross-attention maps and layers', async () => {
    const manifest = JSON.parse(readFileSync(golden(CASE, 'manifest.json'), 'utf8')) as CaseManifest;
    const checks = await unetMaskedKind.check(golden(CASE), manifest);
    expect(checks.filter((c) => !withinTolerance(c))).toEqual([]);
    const names = (tag: string) => checks.filter((c) => c.name.startsWith(`${tag}/`)).map((c) => c.name.slice(tag.length + 1)).sort();
    const withMaps = ['noise_pred', 'noise_pred_nomask', ...TAPS, ...MAPS, 'cross-attention layers'];
    expect(names('A_t0_mask64')).toEqual(withMaps.sort());
    expect(names('B_t0_mask64')).toEqual(withMaps.sort());
    expect(names('H_t0_refldmseg')).toEqual([...withMaps, 'encoder_hid_proj_out'].sort());
    expect(names('A_t0_allmasked')).toEqual(['noise_pred', 'noise_pred_nomask', ...TAPS].sort());
    expect(names('B_t951_mask64')).toEqual(['noise_pred', ...TAPS].sort());
    // The all-masked run gets the looser tolerance, the others stay at 1e-4.
    expect(new Set(checks.filter((c) => c.name.startsWith('A_t0_allmasked/') && c.name !== 'A_t0_allmasked/noise_pred_nomask').map((c) => c.tolerance))).toEqual(new Set([2e-3]));
    expect(new Set(checks.filter((c) => c.name.startsWith('H_t0_refldmseg/') && c.measure === 'max_abs').map((c) => c.tolerance))).toEqual(new Set([1e-4]));
  });
});

describe('UNet config: encoder_hid_proj', () => {
  it('encoder_hid_dim alone means text_proj, as diffusers reads it; a type without a width or another type is refused', () => {
    const { encoder_hid_dim_type: _, ...withoutType } = hidprojConfig();
    expect(parseUNetConfig(withoutType).encoder_hid_dim_type).toBe('text_proj');
    expect(() => parseUNetConfig({ ...hidprojConfig(), encoder_hid_dim: null })).toThrow('encoder_hid_dim_type is set but encoder_hid_dim is not');
    expect(() => parseUNetConfig({ ...hidprojConfig(), encoder_hid_dim_type: 'image_proj' })).toThrow(/encoder_hid_dim_type/);
  });

  it('the weights a config implies include encoder_hid_proj, so a checkpoint without it is caught before building', () => {
    const shapes = unetWeightShapes(parseUNetConfig(hidprojConfig()));
    expect(shapes.get('encoder_hid_proj.weight')).toEqual([32, 48]);
    expect(shapes.get('encoder_hid_proj.bias')).toEqual([32]);
    expect(checkWeights(shapes, openWeights(`${HIDPROJ}/diffusion_pytorch_model.safetensors`))).toEqual([]);
    expect(checkWeights(shapes, openWeights(golden('unet_A', 'diffusion_pytorch_model.safetensors')))).toEqual([
      'missing encoder_hid_proj.weight [32,48]', 'missing encoder_hid_proj.bias [32]',
    ]);
  });
});

describe('UNet with encoder_attention_mask at Ref LDM-Seg sizes', () => {
  it("builds SD 1.5 with encoder_hid_proj and an 8-channel conv_in at a 32² latent: 32², 16², 8², 4² attention, 256 keys", () => {
    const config = { ...SD15_UNET_CONFIG, in_channels: 8, encoder_hid_dim: 1024, encoder_hid_dim_type: 'text_proj' as const };
    const { graph, attentionLayers, outputs } = buildUNet(config, new RandomWeights(unetWeightShapes(config)), {
      batch: 3, height: 32, width: 32, textLength: 256, encoderAttentionMask: true,
    });
    expect(outputs).toEqual(['noise_pred']);
    expect(graph.value('sample').shape).toEqual([3, 8, 32, 32]);
    expect(graph.value('encoder_hidden_states').shape).toEqual([3, 256, 1024]);
    expect(graph.value('encoder_attention_mask').shape).toEqual([3, 256]);
    expect(graph.value('noise_pred').shape).toEqual([3, 4, 32, 32]);
    expect([...new Set(attentionLayers.map((l) => `${l.height}x${l.width}`))]).toEqual(['32x32', '16x16', '8x8', '4x4']);
  });

  it('masking context tokens equals deleting them, at a 32² latent', async () => {
    const config = parseUNetConfig(hidprojConfig());
    const weights = openWeights(`${HIDPROJ}/diffusion_pytorch_model.safetensors`);
    const M = 20;
    const keep = Array.from({ length: M }, (_, i) => (i % 3 === 1 ? 0 : 1));
    const rnd = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 1.5);
    const sample = new ort.Tensor('float32', rnd(4 * 32 * 32, 1), [1, 4, 32, 32]);
    const timestep = new ort.Tensor('float32', Float32Array.of(0), [1]);
    const ctx = rnd(M * 48, 2);
    const masked = await runGraph(buildUNet(config, weights, { textLength: M, encoderAttentionMask: true }).graph, {
      sample, timestep, encoder_hidden_states: new ort.Tensor('float32', ctx, [1, M, 48]), encoder_attention_mask: new ort.Tensor('float32', Float32Array.from(keep), [1, M]),
    });
    const kept = keep.flatMap((k, i) => (k ? [i] : []));
    const fewer = Float32Array.from(kept.flatMap((i) => Array.from(ctx.subarray(i * 48, (i + 1) * 48))));
    const deleted = await runGraph(buildUNet(config, weights, { textLength: kept.length }).graph, {
      sample, timestep, encoder_hidden_states: new ort.Tensor('float32', fewer, [1, kept.length, 48]),
    });
    const all = await runGraph(buildUNet(config, weights, { textLength: M }).graph, { sample, timestep, encoder_hidden_states: new ort.Tensor('float32', ctx, [1, M, 48]) });
    const got = masked['noise_pred']!.data as Float32Array;
    expect(masked['noise_pred']!.dims).toEqual([1, 4, 32, 32]);
    expect(maxAbsDiff(got, deleted['noise_pred']!.data as Float32Array)).toBeLessThan(1e-5);
    expect(maxAbsDiff(got, all['noise_pred']!.data as Float32Array)).toBeGreaterThan(1e-2);
  });
});
