// CLIP's text tower in openai's key layout (ODISE's open_clip ViT-L-14-336 text tower): the clip_D golden weights
// written the way openai's model.py names them (q, k, v fused into in_proj; the projection stored as `x @ P`) give
// the golden outputs and, with a projection, the same text_embeds as the transformers layout; the graph without the
// projection is unchanged.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildClipTextEncoder, openAiTextSource, parseClipTextConfig } from '../../src/core/ml/models/clip';
import { clipWeightShapes, checkWeights } from '../../src/core/ml/models/shapes';
import { encodeSafetensors, fileSource, openWeights, SafetensorsFile, type WriteTensor } from '../../src/core/ml/weights';
import { int64Tensor, maxAbsDiff, runGraph } from '../../src/core/golden/compare';
import { toFloat16Bits } from '../../src/core/ml/graph';
import { golden } from './weights.helpers';

const cfg = parseClipTextConfig(JSON.parse(readFileSync(golden('clip_D', 'config.json'), 'utf8')));
const PROJ = 16;
/** A projection [width, PROJ] as openai stores it (used as x @ P), deterministic. */
const projection = () => Float32Array.from({ length: cfg.hidden_size * PROJ }, (_, i) => Math.sin(i * 0.37) * 0.2);

const LAYER_MAP: [from: string, to: string][] = [
  ['self_attn.out_proj', 'attn.out_proj'], ['layer_norm1', 'ln_1'], ['mlp.fc1', 'mlp.c_fc'], ['mlp.fc2', 'mlp.c_proj'], ['layer_norm2', 'ln_2'],
];

/** clip_D's weights under openai's names, plus `text_projection` and what a whole CLIP file holds beside the text tower. */
function openAiLayout(o: { fp16?: boolean; extra?: Record<string, WriteTensor> } = {}): Record<string, WriteTensor> {
  const src = SafetensorsFile.open(golden('clip_D', 'model.safetensors'));
  const out: Record<string, WriteTensor> = {};
  const put = (name: string, shape: number[], data: Float32Array) => {
    out[name] = o.fp16 ? { dtype: 'F16', shape, data: toFloat16Bits(data) } : { dtype: 'F32', shape, data };
  };
  const copy = (name: string, from: string) => put(name, src.info(from).shape, src.readFloat32(from));
  const t = 'text_model.';
  copy('token_embedding.weight', `${t}embeddings.token_embedding.weight`);
  copy('positional_embedding', `${t}embeddings.position_embedding.weight`);
  copy('ln_final.weight', `${t}final_layer_norm.weight`);
  copy('ln_final.bias', `${t}final_layer_norm.bias`);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const from = `${t}encoder.layers.${i}.`;
    const to = `transformer.resblocks.${i}.`;
    for (const k of ['weight', 'bias']) {
      const parts = ['q_proj', 'k_proj', 'v_proj'].map((q) => src.readFloat32(`${from}self_attn.${q}.${k}`));
      const fused = new Float32Array(parts.reduce((n, a) => n + a.length, 0));
      parts.forEach((a, j) => fused.set(a, j * a.length));
      const [rows, cols] = src.info(`${from}self_attn.q_proj.${k}`).shape;
      put(`${to}attn.in_proj_${k}`, k === 'weight' ? [3 * rows!, cols!] : [3 * rows!], fused);
      for (const [a, b] of LAYER_MAP) copy(`${to}${b}.${k}`, `${from}${a}.${k}`);
    }
  }
  put('text_projection', [cfg.hidden_size, PROJ], projection());
  src.close();
  return { ...out, logit_scale: { dtype: 'F32', shape: [], data: Float32Array.of(4.6) }, ...o.extra };
}

const fileOf = (t: Record<string, WriteTensor>) => SafetensorsFile.fromBytes(encodeSafetensors(t));
const ids = () => int64Tensor(SafetensorsFile.open(golden('clip_D', 'inputs.safetensors')), 'input_ids');

describe('CLIP text tower in openai layout', () => {
  it('gives clip_D\'s config and golden outputs; text_embeds = the EOT state (argmax of ids) @ text_projection', async () => {
    const { config, projectionDim, weights } = openAiTextSource(fileOf(openAiLayout()), 'clip.pt', { heads: 4 });
    expect(config).toEqual(cfg);
    expect(projectionDim).toBe(PROJ);
    const shapes = clipWeightShapes(config);
    shapes.set('text_projection.weight', [PROJ, cfg.hidden_size]);
    expect(checkWeights(shapes, weights)).toEqual([]);
    const r = await runGraph(buildClipTextEncoder(config, weights, { textProjection: true }).graph, { input_ids: ids() });
    const out = SafetensorsFile.open(golden('clip_D', 'outputs.safetensors'));
    expect(maxAbsDiff(r['last_hidden_state']!.data as Float32Array, out.readFloat32('last_hidden_state'))).toBeLessThan(1e-4);
    expect(maxAbsDiff(r['pooler_output']!.data as Float32Array, out.readFloat32('pooler_output'))).toBeLessThan(1e-4);
    // x @ P written out, from the golden pooled vectors
    const pooled = out.readFloat32('pooler_output');
    const P = projection();
    const want = new Float32Array(2 * PROJ);
    for (let b = 0; b < 2; b++) for (let j = 0; j < PROJ; j++) {
      let s = 0;
      for (let c = 0; c < cfg.hidden_size; c++) s += pooled[b * cfg.hidden_size + c]! * P[c * PROJ + j]!;
      want[b * PROJ + j] = s;
    }
    expect(r['text_embeds']!.dims).toEqual([2, PROJ]);
    expect(maxAbsDiff(r['text_embeds']!.data as Float32Array, want)).toBeLessThan(1e-4);
  });

  it('the same weights in the transformers layout (CLIPTextModelWithProjection) give the same outputs', async () => {
    const hf = openWeights(golden('clip_D', 'model.safetensors'));
    const P = projection();
    const t: Record<string, WriteTensor> = {};
    for (const k of hf.keys()) t[k] = { dtype: 'F32', shape: hf.shape(k), data: hf.read(k) };
    const pt = new Float32Array(P.length);
    for (let c = 0; c < cfg.hidden_size; c++) for (let j = 0; j < PROJ; j++) pt[j * cfg.hidden_size + c] = P[c * PROJ + j]!;
    t['text_projection.weight'] = { dtype: 'F32', shape: [PROJ, cfg.hidden_size], data: pt };
    const a = await runGraph(buildClipTextEncoder(cfg, fileSource(fileOf(t)), { textProjection: true }).graph, { input_ids: ids() });
    const o = openAiTextSource(fileOf(openAiLayout()), 'clip.pt', { heads: 4 });
    const b = await runGraph(buildClipTextEncoder(o.config, o.weights, { textProjection: true }).graph, { input_ids: ids() });
    for (const k of ['last_hidden_state', 'pooler_output', 'text_embeds']) expect(maxAbsDiff(a[k]!.data as Float32Array, b[k]!.data as Float32Array), k).toBe(0);
  });

  it('a whole CLIP file: the image tower, logit_scale and openai\'s int buffers are not the text tower\'s business; fp16 weights read', async () => {
    const extra: Record<string, WriteTensor> = {
      'visual.conv1.weight': { dtype: 'F32', shape: [4, 3, 2, 2], data: new Float32Array(48) },
      input_resolution: { dtype: 'I64', shape: [], data: BigInt64Array.of(336n) },
      context_length: { dtype: 'I64', shape: [], data: BigInt64Array.of(77n) },
      vocab_size: { dtype: 'I64', shape: [], data: BigInt64Array.of(1000n) },
    };
    const { config, weights } = openAiTextSource(fileOf(openAiLayout({ fp16: true, extra })), 'clip.pt', { heads: 4 });
    expect(weights.dtype('text_model.encoder.layers.0.self_attn.k_proj.weight')).toBe('F16');
    const r = await runGraph(buildClipTextEncoder(config, weights, { textProjection: true }).graph, { input_ids: ids() });
    const out = SafetensorsFile.open(golden('clip_D', 'outputs.safetensors'));
    expect(maxAbsDiff(r['pooler_output']!.data as Float32Array, out.readFloat32('pooler_output'))).toBeLessThan(2e-2); // fp16 weights
  });

  it('refuses what it would build wrong, naming the file and the key', () => {
    const base = openAiLayout();
    expect(() => openAiTextSource(fileOf({ ...base, 'transformer.resblocks.0.ls_1.gamma': { dtype: 'F32', shape: [32], data: new Float32Array(32) } }), 'clip.pt', { heads: 4 }))
      .toThrow("clip.pt: 1 weights that openai's text tower does not have (transformer.resblocks.0.ls_1.gamma): not a plain CLIP text tower");
    const { text_projection: _, ...noProj } = base;
    expect(() => openAiTextSource(fileOf(noProj), 'clip.pt', { heads: 4 })).toThrow("clip.pt: missing text_projection (not a CLIP text tower in openai's layout)");
    expect(() => openAiTextSource(fileOf(base), 'clip.pt')).toThrow("clip.pt: a 32-wide text tower cannot have openai's 64-wide heads; give the number of attention heads");
    const badQkv = { ...base, 'transformer.resblocks.1.attn.in_proj_weight': { dtype: 'F32', shape: [64, 32], data: new Float32Array(64 * 32) } } as Record<string, WriteTensor>;
    expect(() => openAiTextSource(fileOf(badQkv), 'clip.pt', { heads: 4 })).toThrow('clip.pt: transformer.resblocks.1.attn.in_proj_weight has shape [64,32], expected 96 rows (q, k, v)');
  });
});

describe('CLIP text graph without the projection', () => {
  // sha256 of the serialised model (clip_D's weights) as built before text_embeds existed.
  it('is byte-identical to the graph built before text_embeds existed (fp32 and fp16)', () => {
    const w = openWeights(golden('clip_D', 'model.safetensors'));
    const sha = (dtype: 'float32' | 'float16') => createHash('sha256').update(buildClipTextEncoder(cfg, w, { dtype }).graph.toBytes()).digest('hex');
    expect([sha('float32'), sha('float16')]).toEqual(['acec7f1c67cc54b2a5476189713ca1e94279ecd0f6b05bacfefb831402d5c5a4', 'eed7f6a0ceba1764a31791ab8d4a34d3deec7a30c367d6f479a9bffbc5b61a19']);
  });
});
