// CLIP image towers in openai's key layout (openai's ViT-*.pt, open_clip's `visual.*`, Alpha-CLIP's visual state
// dict) seen under transformers' names, with the architecture read off the weights. openai fuses q, k and v into one
// `in_proj` matrix and stores the projection as `x @ proj`; the view slices and transposes them on read.
import type { StDType } from '../weights/safetensors';
import { fileSource, type TensorFile, type WeightSource } from '../weights/source';
import { ALPHA_PATCH_EMBEDDING, parseClipVisionConfig, type ClipVisionConfig } from './clipVisionConfig';
import { transpose2d } from './nn';

/** What openai's layout cannot say: its own rule gives heads = width / 64 and QuickGELU (open_clip models vary). */
export interface OpenAiVisionOverrides {
  heads?: number;
  hidden_act?: ClipVisionConfig['hidden_act'];
}

export interface DerivedEntry {
  src: string;
  shape: number[];
  /** Rows [start, end) of a matrix (or of a vector). */
  rows?: [number, number];
  /** Store the 2-D tensor transposed. */
  transpose?: boolean;
}

/** A view whose tensors are slices or transposes of another source's (which checks them for NaN/Inf). */
export class DerivedSource implements WeightSource {
  constructor(private readonly base: WeightSource, private readonly map: Map<string, DerivedEntry>) {}

  keys(): string[] {
    return [...this.map.keys()];
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  private entry(name: string): DerivedEntry {
    const e = this.map.get(name);
    if (!e) throw new Error(`missing weight '${name}'`);
    return e;
  }
  shape(name: string): number[] {
    return [...this.entry(name).shape];
  }
  dtype(name: string): StDType {
    return this.base.dtype(this.entry(name).src);
  }
  read(name: string): Float32Array {
    const e = this.entry(name);
    const d = this.base.read(e.src);
    if (e.transpose) {
      const [r, c] = this.base.shape(e.src) as [number, number];
      return transpose2d(d, r, c);
    }
    return e.rows ? this.rowsOf(e, d) : d;
  }
  readF16Bits(name: string): Uint16Array | undefined {
    const e = this.entry(name);
    if (e.transpose) return undefined; // exported from the float32 read instead
    const bits = this.base.readF16Bits?.(e.src);
    return bits && e.rows ? this.rowsOf(e, bits) : bits;
  }
  private rowsOf<T extends Float32Array | Uint16Array>(e: DerivedEntry, d: T): T {
    const width = d.length / this.base.shape(e.src)[0]!;
    return d.slice(e.rows![0] * width, e.rows![1] * width) as T;
  }
}

/** The key prefix of the visual tower in `file`: `visual.` (a whole CLIP model) or none (a visual state dict). */
function visualPrefix(file: TensorFile): string | null {
  if (file.has('visual.conv1.weight')) return 'visual.';
  if (file.has('conv1.weight')) return '';
  return null;
}

/** Whether `file` holds a CLIP image tower in openai's layout (with or without Alpha-CLIP's alpha convolution). */
export const isOpenAiVisionLayout = (file: TensorFile): boolean => visualPrefix(file) !== null;

/**
 * The image tower of an openai-layout file under transformers' names, and the config its shapes imply. Keys the
 * architecture does not have (layer scales, attention pooling of other open_clip towers) are refused: ignoring them
 * would give wrong outputs.
 */
export function openAiVisionSource(file: TensorFile, label: string, o: OpenAiVisionOverrides = {}): { config: ClipVisionConfig; weights: WeightSource } {
  const prefix = visualPrefix(file);
  if (prefix === null) throw new Error(`${label}: no CLIP image tower in openai's layout (no visual.conv1.weight or conv1.weight)`);
  const base = fileSource(file, prefix, label);
  const shape = (k: string): number[] => {
    if (!base.has(k)) throw new Error(`${label}: missing ${prefix}${k}`);
    return base.shape(k);
  };
  const [width, channels, patch] = shape('conv1.weight') as [number, number, number];
  const positions = shape('positional_embedding')[0]!;
  const grid = Math.round(Math.sqrt(positions - 1));
  if (grid * grid !== positions - 1) throw new Error(`${label}: ${positions} positional embeddings are not a square grid plus the class token`);
  const blocks = new Set<number>();
  for (const k of base.keys()) {
    const m = /^transformer\.resblocks\.(\d+)\./.exec(k);
    if (m) blocks.add(Number(m[1]));
  }
  const layers = blocks.size;
  if (!layers || Math.max(...blocks) !== layers - 1) throw new Error(`${label}: transformer.resblocks are not numbered 0..N-1`);
  if (o.heads === undefined && width % 64 !== 0)
    throw new Error(`${label}: a ${width}-wide tower cannot have openai's 64-wide heads; give the number of attention heads`);
  const alpha = base.has('conv1_alpha.weight');
  const config = parseClipVisionConfig({
    hidden_size: width, num_channels: channels, patch_size: patch, image_size: grid * patch, num_hidden_layers: layers,
    num_attention_heads: o.heads ?? width / 64, intermediate_size: shape('transformer.resblocks.0.mlp.c_fc.weight')[0],
    projection_dim: shape('proj')[1], hidden_act: o.hidden_act ?? 'quick_gelu', layer_norm_eps: 1e-5, alpha_channel: alpha,
  });

  const map = new Map<string, DerivedEntry>();
  const used = new Set<string>();
  const put = (name: string, src: string, extra: Omit<DerivedEntry, 'src' | 'shape'> & { shape?: number[] } = {}) => {
    const have = shape(src);
    // A fused q/k/v tensor must hold all three; the rest is checked against the config once mapped.
    if (extra.rows && have[0] !== 3 * width) throw new Error(`${label}: ${prefix}${src} has shape [${have.join(',')}], expected ${3 * width} rows (q, k, v)`);
    used.add(src);
    map.set(name, { src, ...extra, shape: extra.shape ?? (extra.transpose ? [...have].reverse() : have) });
  };
  const pair = (to: string, from: string) => {
    put(`${to}.weight`, `${from}.weight`);
    put(`${to}.bias`, `${from}.bias`);
  };
  put('vision_model.embeddings.patch_embedding.weight', 'conv1.weight');
  if (alpha) put(ALPHA_PATCH_EMBEDDING, 'conv1_alpha.weight');
  put('vision_model.embeddings.class_embedding', 'class_embedding');
  put('vision_model.embeddings.position_embedding.weight', 'positional_embedding');
  pair('vision_model.pre_layrnorm', 'ln_pre');
  for (let i = 0; i < layers; i++) {
    const to = `vision_model.encoder.layers.${i}`;
    const from = `transformer.resblocks.${i}`;
    // openai's nn.MultiheadAttention: in_proj_weight; Alpha-CLIP renames it to a Linear, in_proj.weight.
    const fused = base.has(`${from}.attn.in_proj_weight`) ? `${from}.attn.in_proj_` : `${from}.attn.in_proj.`;
    ['q_proj', 'k_proj', 'v_proj'].forEach((p, j) => {
      put(`${to}.self_attn.${p}.weight`, `${fused}weight`, { rows: [j * width, (j + 1) * width], shape: [width, width] });
      put(`${to}.self_attn.${p}.bias`, `${fused}bias`, { rows: [j * width, (j + 1) * width], shape: [width] });
    });
    pair(`${to}.self_attn.out_proj`, `${from}.attn.out_proj`);
    pair(`${to}.layer_norm1`, `${from}.ln_1`);
    pair(`${to}.mlp.fc1`, `${from}.mlp.c_fc`);
    pair(`${to}.mlp.fc2`, `${from}.mlp.c_proj`);
    pair(`${to}.layer_norm2`, `${from}.ln_2`);
  }
  pair('vision_model.post_layernorm', 'ln_post');
  put('visual_projection.weight', 'proj', { transpose: true });
  // Under `visual.` the rest of the file is the text tower, not ours to judge.
  const extra = base.keys().filter((k) => !used.has(k));
  if (extra.length)
    throw new Error(`${label}: ${extra.length} weights that openai's image tower does not have (${extra.slice(0, 3).map((k) => prefix + k).join(', ')}${extra.length > 3 ? ', …' : ''}): not a plain CLIP or Alpha-CLIP ViT`);
  return { config, weights: new DerivedSource(base, map) };
}
