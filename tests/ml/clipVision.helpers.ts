// CLIP image towers in openai's key layout, written from the transformers golden weights (clip_vision_V) the way
// openai's model.py / open_clip name them: q, k, v fused into in_proj, the projection stored as `x @ proj`.
import { SafetensorsFile, type WriteTensor } from '../../src/core/ml/weights';
import { toFloat16Bits } from '../../src/core/ml/graph';
import { golden } from './weights.helpers';

export interface OpenAiLayoutOptions {
  /** 'visual.' as in a whole CLIP model's state dict (the default), '' as in a visual tower's own. */
  prefix?: string;
  /** Store every tensor as F16 (openai's released .pt files are half precision). */
  fp16?: boolean;
}

const LAYER_MAP: [from: string, to: string][] = [
  ['self_attn.out_proj', 'attn.out_proj'], ['layer_norm1', 'ln_1'], ['mlp.fc1', 'mlp.c_fc'], ['mlp.fc2', 'mlp.c_proj'], ['layer_norm2', 'ln_2'],
];

/** clip_vision_V's weights under openai's names. */
export function clipVisionOpenAiLayout(o: OpenAiLayoutOptions = {}): Record<string, WriteTensor> {
  const src = SafetensorsFile.open(golden('clip_vision_V', 'model.safetensors'));
  const p = o.prefix ?? 'visual.';
  const out: Record<string, WriteTensor> = {};
  const put = (name: string, shape: number[], data: Float32Array) => {
    out[p + name] = o.fp16 ? { dtype: 'F16', shape, data: toFloat16Bits(data) } : { dtype: 'F32', shape, data };
  };
  const copy = (name: string, from: string) => put(name, src.info(from).shape, src.readFloat32(from));
  const v = 'vision_model.';
  copy('conv1.weight', `${v}embeddings.patch_embedding.weight`);
  copy('class_embedding', `${v}embeddings.class_embedding`);
  copy('positional_embedding', `${v}embeddings.position_embedding.weight`);
  for (const k of ['weight', 'bias']) {
    copy(`ln_pre.${k}`, `${v}pre_layrnorm.${k}`);
    copy(`ln_post.${k}`, `${v}post_layernorm.${k}`);
  }
  const layers = new Set(src.keys().flatMap((k) => /encoder\.layers\.(\d+)\./.exec(k)?.[1] ?? []));
  for (const i of layers) {
    const from = `${v}encoder.layers.${i}.`;
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
  const [P, D] = src.info('visual_projection.weight').shape as [number, number];
  const w = src.readFloat32('visual_projection.weight');
  const proj = new Float32Array(P * D);
  for (let r = 0; r < P; r++) for (let c = 0; c < D; c++) proj[c * P + r] = w[r * D + c]!;
  put('proj', [D, P], proj);
  src.close();
  return out;
}

/** alpha_clip_X's visual state dict as Alpha-CLIP saves it (its own `in_proj.weight` names). */
export function alphaClipStateDict(): Record<string, WriteTensor> {
  const src = SafetensorsFile.open(golden('alpha_clip_X', 'alpha_clip_visual.safetensors'));
  const out: Record<string, WriteTensor> = {};
  for (const k of src.keys()) out[k] = src.readRaw(k);
  src.close();
  return out;
}
