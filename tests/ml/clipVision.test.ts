// The CLIP image tower: the golden cases through the kind modules `npm run golden` runs (transformers'
// CLIPVisionModelWithProjection; Alpha-CLIP from its own state dict with Ref LDM-Seg's conditioning), then what the
// cases do not cover by themselves: openai's key layout (fused q/k/v, `x @ proj`, a whole model's `visual.*`),
// fp16 weights sliced as bits, the alpha channel's part, and the errors for towers the graph cannot build.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { buildClipVisionEncoder } from '../../src/core/ml/models/clipVision';
import { clipVisionWeightShapes, parseClipVisionConfig, VIT_L14_336_CONFIG, VIT_L14_CONFIG } from '../../src/core/ml/models/clipVisionConfig';
import { openAiVisionSource } from '../../src/core/ml/models/clipVisionWeights';
import { checkWeights } from '../../src/core/ml/models/shapes';
import { encodeSafetensors, SafetensorsFile, type WriteTensor } from '../../src/core/ml/weights';
import { floatTensor, maxAbsDiff, runGraph, withinTolerance, type CaseManifest, type GoldenKind } from '../../src/core/golden/compare';
import { clipVisionKind } from '../../src/core/golden/clipVision';
import { alphaClipKind } from '../../src/core/golden/alphaClip';
import { alphaClipStateDict, clipVisionOpenAiLayout } from './clipVision.helpers';
import { golden } from './weights.helpers';

const json = (...p: string[]) => JSON.parse(readFileSync(golden(...p), 'utf8')) as unknown;
const outputsOf = (c: string) => SafetensorsFile.open(golden(c, 'outputs.safetensors'));
const inputsOf = (c: string) => SafetensorsFile.open(golden(c, 'inputs.safetensors'));
const fileOf = (t: Record<string, WriteTensor>) => SafetensorsFile.fromBytes(encodeSafetensors(t));

async function checkGolden(kind: GoldenKind, c: string): Promise<string[]> {
  const checks = await kind.check(golden(c), json(c, 'manifest.json') as CaseManifest);
  expect(checks.filter((x) => !withinTolerance(x)), c).toEqual([]);
  return checks.map((x) => x.name);
}

describe('CLIP image tower golden cases', () => {
  it('clip_vision_V: embeddings, every hidden state, last_hidden_state, patch tokens, pooled, image_embeds, attention maps', async () => {
    const names = await checkGolden(clipVisionKind, 'clip_vision_V');
    expect(names.sort()).toEqual(outputsOf('clip_vision_V').keys().sort());
  });

  it('alpha_clip_X: the tower from its own state dict, and Ref LDM-Seg\'s resized image, alpha, tokens, token mask and null condition', async () => {
    const names = await checkGolden(alphaClipKind, 'alpha_clip_X');
    // The float32 copies of the int64 masks are compared inside the mask checks.
    expect(names.sort()).toEqual(outputsOf('alpha_clip_X').keys().filter((k) => !k.endsWith('_float32')).sort());
  });
});

describe('openai key layout', () => {
  const cfg = parseClipVisionConfig(json('clip_vision_V', 'config.json'));
  const pixels = () => floatTensor(inputsOf('clip_vision_V'), 'pixel_values');

  it('a whole CLIP model\'s visual.* (fused in_proj, proj as x @ proj) gives the transformers tower and its outputs', async () => {
    // The text tower of the same file is not the image tower's business.
    const file = fileOf({ ...clipVisionOpenAiLayout(), positional_embedding: { dtype: 'F32', shape: [77, 32], data: new Float32Array(77 * 32) }, logit_scale: { dtype: 'F32', shape: [], data: Float32Array.of(4.6) } });
    const { config, weights } = openAiVisionSource(file, 'clip.safetensors', { heads: 4 });
    expect(config).toEqual(cfg);
    expect(checkWeights(clipVisionWeightShapes(config), weights)).toEqual([]);
    const r = await runGraph(buildClipVisionEncoder(config, weights).graph, { pixel_values: pixels() });
    const out = outputsOf('clip_vision_V');
    expect(maxAbsDiff(r['last_hidden_state']!.data as Float32Array, out.readFloat32('last_hidden_state'))).toBeLessThan(1e-4);
    expect(maxAbsDiff(r['image_embeds']!.data as Float32Array, out.readFloat32('image_embeds'))).toBeLessThan(1e-4);
    expect(Object.keys(r).sort()).toEqual(['image_embeds', 'last_hidden_state']);
  });

  it('fp16 weights are sliced and exported as fp16 bits: the fp16 graph stays within fp16 rounding of the reference', async () => {
    const { config, weights } = openAiVisionSource(fileOf(clipVisionOpenAiLayout({ prefix: '', fp16: true })), 'visual.safetensors', { heads: 4 });
    expect(weights.readF16Bits!('vision_model.encoder.layers.1.self_attn.k_proj.weight')).toHaveLength(32 * 32);
    expect(weights.readF16Bits!('visual_projection.weight')).toBeUndefined(); // transposed: widened and exported from float32
    const { graph } = buildClipVisionEncoder(config, weights, { dtype: 'float16' });
    expect(graph.initializers.get('vision_model.encoder.layers.0.self_attn.q_proj.weight.T')?.dtype).toBe('float16');
    const r = await runGraph(graph, { pixel_values: pixels() });
    const err = maxAbsDiff(r['image_embeds']!.data as Float32Array, outputsOf('clip_vision_V').readFloat32('image_embeds'));
    expect(err).toBeGreaterThan(1e-5); // it did run in half precision
    expect(err).toBeLessThan(2e-2);
  });

  it('with an all-zero alpha, Alpha-CLIP is the plain tower without conv1_alpha; a mask changes every token', async () => {
    const sd = alphaClipStateDict();
    const withAlpha = openAiVisionSource(fileOf(sd), 'alpha.safetensors', { heads: 4 });
    const { ['conv1_alpha.weight']: _, ...plain } = sd;
    const without = openAiVisionSource(fileOf(plain), 'plain.safetensors', { heads: 4 });
    expect(withAlpha.config.alpha_channel).toBe(true);
    expect(without.config).toEqual({ ...withAlpha.config, alpha_channel: false });
    const inp = outputsOf('alpha_clip_X');
    const image = floatTensor(inp, 'model_input_image');
    const zeros = new Float32Array(2 * 64 * 64);
    const a = await runGraph(buildClipVisionEncoder(withAlpha.config, withAlpha.weights).graph, { pixel_values: image, alpha: new ort.Tensor('float32', zeros, [2, 1, 64, 64]) });
    const p = await runGraph(buildClipVisionEncoder(without.config, without.weights).graph, { pixel_values: image });
    expect(maxAbsDiff(a['last_hidden_state']!.data as Float32Array, p['last_hidden_state']!.data as Float32Array)).toBeLessThan(1e-5);
    const m = await runGraph(buildClipVisionEncoder(withAlpha.config, withAlpha.weights).graph, { pixel_values: image, alpha: floatTensor(inp, 'model_input_alpha') });
    expect(maxAbsDiff(m['last_hidden_state']!.data as Float32Array, p['last_hidden_state']!.data as Float32Array)).toBeGreaterThan(0.1);
  });

  it('refuses towers it would build wrong, naming the weights', () => {
    const sd = clipVisionOpenAiLayout();
    // 32 wide: openai's rule (64-wide heads) cannot apply, and the layout does not say.
    expect(() => openAiVisionSource(fileOf(sd), 'clip.pt')).toThrow("clip.pt: a 32-wide tower cannot have openai's 64-wide heads; give the number of attention heads");
    // open_clip towers with layer scale compute something else.
    const ls = { ...sd, 'visual.transformer.resblocks.0.ls_1.gamma': { dtype: 'F32', shape: [32], data: new Float32Array(32) } } as Record<string, WriteTensor>;
    expect(() => openAiVisionSource(fileOf(ls), 'clip.pt', { heads: 4 })).toThrow(
      'clip.pt: 1 weights that openai\'s image tower does not have (visual.transformer.resblocks.0.ls_1.gamma): not a plain CLIP or Alpha-CLIP ViT');
    const bad = { ...sd, 'visual.transformer.resblocks.2.attn.in_proj_weight': { dtype: 'F32', shape: [64, 32], data: new Float32Array(64 * 32) } } as Record<string, WriteTensor>;
    expect(() => openAiVisionSource(fileOf(bad), 'clip.pt', { heads: 4 })).toThrow('clip.pt: visual.transformer.resblocks.2.attn.in_proj_weight has shape [64,32], expected 96 rows (q, k, v)');
    const { ['visual.ln_post.bias']: _, ...noBias } = sd;
    expect(() => openAiVisionSource(fileOf(noBias), 'clip.pt', { heads: 4 })).toThrow('clip.pt: missing visual.ln_post.bias');
    expect(() => openAiVisionSource(fileOf({ 'model.diffusion_model.conv_in.weight': sd['visual.conv1.weight']! }), 'unet.ckpt')).toThrow(
      "unet.ckpt: no CLIP image tower in openai's layout (no visual.conv1.weight or conv1.weight)");
  });
});

describe('CLIP vision config', () => {
  it('reads a CLIPVisionConfig, or a CLIPConfig\'s vision_config with the top-level projection_dim', () => {
    const vision = json('clip_vision_V', 'config.json') as Record<string, unknown>;
    expect(parseClipVisionConfig({ projection_dim: 512, vision_config: { ...vision, projection_dim: 24 }, text_config: {} })).toEqual({ ...parseClipVisionConfig(vision), projection_dim: 512 });
    // transformers' defaults fill what a saved config leaves out (ViT-B/32's).
    expect(parseClipVisionConfig({})).toMatchObject({ hidden_size: 768, num_hidden_layers: 12, patch_size: 32, image_size: 224, projection_dim: 512, alpha_channel: false });
    expect(VIT_L14_CONFIG).toMatchObject({ hidden_size: 1024, num_attention_heads: 16, patch_size: 14, image_size: 224, projection_dim: 768 });
    expect(clipVisionWeightShapes(VIT_L14_336_CONFIG).get('vision_model.embeddings.position_embedding.weight')).toEqual([577, 1024]);
  });

  it('refuses a config whose patches do not tile the image or whose heads do not split the width', () => {
    expect(() => parseClipVisionConfig({ image_size: 30, patch_size: 4 })).toThrow('unsupported or invalid CLIP vision config: image_size: image_size must be a multiple of patch_size');
    expect(() => parseClipVisionConfig({ hidden_size: 48, num_attention_heads: 5 })).toThrow('num_attention_heads: hidden_size must be divisible by num_attention_heads');
    expect(() => parseClipVisionConfig({ hidden_act: 'relu' })).toThrow(/hidden_act/);
  });
});
