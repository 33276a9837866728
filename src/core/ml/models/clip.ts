// transformers CLIPTextModel (SD 1.x text encoder) as an ONNX graph: last_hidden_state and pooler_output, and with
// the projection text_embeds (ODISE's open_clip ViT-L-14-336 text tower, read from openai's key layout below).
import { z } from 'zod';
import { GraphBuilder, Value } from '../graph/builder';
import type { Dim } from '../graph/shape';
import { fileSource, type TensorFile, type WeightSource } from '../weights/source';
import { DerivedSource, type DerivedEntry } from './clipVisionWeights';
import { attention, Layers, type ComputeDType } from './nn';

export const ClipTextConfigSchema = z.object({
  vocab_size: z.number().int(),
  hidden_size: z.number().int(),
  intermediate_size: z.number().int(),
  num_hidden_layers: z.number().int(),
  num_attention_heads: z.number().int(),
  max_position_embeddings: z.number().int().default(77),
  hidden_act: z.enum(['quick_gelu', 'gelu']).default('quick_gelu'),
  layer_norm_eps: z.number().default(1e-5),
  eos_token_id: z.number().int().default(2),
});
export type ClipTextConfig = z.infer<typeof ClipTextConfigSchema>;

export function parseClipTextConfig(json: unknown): ClipTextConfig {
  const r = ClipTextConfigSchema.safeParse(json);
  if (!r.success) throw new Error(`unsupported or invalid CLIP text config: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** openai/clip-vit-large-patch14's text config (SD 1.x). EOT is 49407, the highest id. */
export const SD15_CLIP_CONFIG: ClipTextConfig = parseClipTextConfig({
  vocab_size: 49408, hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12,
  max_position_embeddings: 77, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, eos_token_id: 2,
});

export interface ClipBuildOptions {
  dtype?: ComputeDType;
  batch?: Dim;
  /** Sequence length (static; defaults to max_position_embeddings). */
  seqLen?: number;
  /** Adds an int64 `attention_mask` [B,L] input (1 = keep). SD pipelines do not pass one. */
  attentionMask?: boolean;
  /** `hidden_states.0..N` (embeddings, then each layer's output, before the final LayerNorm). */
  hiddenStates?: boolean;
  /** `attn_probs.i` [B,L,L], head-averaged attention probabilities per layer. */
  attentionProbs?: boolean;
  /** Eos id for the pooling rule; default from the config. */
  eosTokenId?: number;
  /**
   * Adds `text_embeds` [B, projection_dim] = pooler_output @ `text_projection.weight`ᵀ (transformers'
   * CLIPTextModelWithProjection; openai's `x @ text_projection`, not L2-normalised).
   */
  textProjection?: boolean;
}

const F32_MIN = -3.4028234663852886e38; // torch.finfo(float32).min, what transformers adds for masked keys

export function buildClipTextEncoder(c: ClipTextConfig, weights: WeightSource, opts: ClipBuildOptions = {}): { graph: GraphBuilder; outputs: string[] } {
  const dtype = opts.dtype ?? 'float32';
  const g = new GraphBuilder('clip_text');
  const L = new Layers(g, weights, dtype);
  const n = opts.seqLen ?? c.max_position_embeddings;
  const B = opts.batch ?? 'batch';
  const outputs: string[] = [];
  const emit = (v: Value, name: string) => {
    g.output(g.cast(v, 'float32'), name);
    outputs.push(name);
  };
  const ids = g.input('input_ids', 'int64', [B, n]);
  const masks: Value[] = [];
  // Causal mask: finfo.min where key j > query i, added before the softmax.
  const causal = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) causal[i * n + j] = F32_MIN;
  masks.push(g.initializer('causal_mask', causal, 'float32', [1, 1, n, n]));
  if (opts.attentionMask) {
    const am = g.input('attention_mask', 'int64', [B, n]);
    const pad = g.scope('attention_mask', () => g.unsqueeze(g.whereOp(g.equal(am, g.scalar(0, 'int64')), F32_MIN, g.scalar(0)), [1, 2]));
    masks.push(pad);
  }

  const result = L.mod('text_model', () => {
    let h = L.mod('embeddings', () => {
      const tok = L.mod('token_embedding', () => g.gather(L.param('weight'), ids, 0));
      const pos = L.mod('position_embedding', () => g.slice(L.param('weight'), [0], [n], [0]));
      return g.add(tok, pos);
    });
    const hidden: Value[] = [h];
    for (let i = 0; i < c.num_hidden_layers; i++) {
      h = L.mod(`encoder.layers.${i}`, () => {
        const n1 = L.layerNorm(h, 'layer_norm1', c.layer_norm_eps);
        const a = L.mod('self_attn', () =>
          attention(L, n1, n1, { heads: c.num_attention_heads, q: 'q_proj', k: 'k_proj', v: 'v_proj', out: 'out_proj', scaleQuery: true, masks, keepProbs: opts.attentionProbs }));
        if (a.probs) emit(a.probs, `attn_probs.${i}`);
        const r = g.add(h, a.out);
        const n2 = L.layerNorm(r, 'layer_norm2', c.layer_norm_eps);
        const m = L.mod('mlp', () => {
          const f1 = L.linear(n2, 'fc1');
          return L.linear(c.hidden_act === 'quick_gelu' ? g.quickGelu(f1) : g.gelu(f1), 'fc2');
        });
        return g.add(r, m);
      });
      hidden.push(h);
    }
    if (opts.hiddenStates) hidden.forEach((v, i) => emit(v, `hidden_states.${i}`));
    return L.layerNorm(h, 'final_layer_norm', c.layer_norm_eps);
  });
  emit(result, 'last_hidden_state');

  // Pooling (transformers 4.38): legacy configs (eos_token_id == 2) take argmax(input_ids), i.e. the first
  // occurrence of the highest id (EOT in CLIP's vocab); otherwise the first position equal to eos_token_id.
  const pooled = g.scope('pooler', () => {
    const eos = opts.eosTokenId ?? c.eos_token_id;
    const key = eos === 2 ? g.cast(ids, 'int32') : g.cast(g.equal(ids, g.scalar(eos, 'int64')), 'int32');
    const idx = g.argMax(key, 1, true); // [B,1] int64
    return g.op('GatherND', [result, idx], { batch_dims: 1 }, { outputs: [{ dtype, shape: [B, c.hidden_size] }] })[0]!;
  });
  emit(pooled, 'pooler_output');
  if (opts.textProjection) emit(L.linear(pooled, 'text_projection', false), 'text_embeds');
  return { graph: g, outputs };
}

/** Keys of a whole openai-layout CLIP file that belong to neither tower's graph (openai's TorchScript files keep three ints as buffers). */
const OPENAI_NON_TEXT = /^(visual\.|logit_scale$|input_resolution$|context_length$|vocab_size$)/;

/**
 * The text tower of an openai-layout CLIP file (openai's ViT-*.pt state, open_clip's CLIP with `token_embedding`,
 * `positional_embedding`, `transformer.resblocks.N`, `ln_final`, `text_projection`) under transformers'
 * CLIPTextModelWithProjection names, and the config its shapes imply: q, k and v are cut from `in_proj`, the
 * projection (used as `x @ P`) is transposed into a Linear weight, heads follow openai's rule width / 64 unless given,
 * QuickGELU.
 * The config's eos_token_id is 2, so pooling takes argmax(ids), as openai and open_clip do. Keys outside both towers
 * are refused: ignoring them would give wrong outputs.
 */
export function openAiTextSource(file: TensorFile, label: string, o: { heads?: number } = {}): { config: ClipTextConfig; projectionDim: number; weights: WeightSource } {
  const base = fileSource(file, '', label);
  const shape = (k: string): number[] => {
    if (!base.has(k)) throw new Error(`${label}: missing ${k} (not a CLIP text tower in openai's layout)`);
    return base.shape(k);
  };
  const [vocab, width] = shape('token_embedding.weight') as [number, number];
  const positions = shape('positional_embedding')[0]!;
  const [projIn, projectionDim] = shape('text_projection') as [number, number];
  if (projIn !== width) throw new Error(`${label}: text_projection has shape [${shape('text_projection').join(',')}], expected ${width} rows (the tower's width)`);
  const blocks = new Set<number>();
  for (const k of base.keys()) {
    const m = /^transformer\.resblocks\.(\d+)\./.exec(k);
    if (m) blocks.add(Number(m[1]));
  }
  const layers = blocks.size;
  if (!layers || Math.max(...blocks) !== layers - 1) throw new Error(`${label}: transformer.resblocks are not numbered 0..N-1`);
  if (o.heads === undefined && width % 64 !== 0) throw new Error(`${label}: a ${width}-wide text tower cannot have openai's 64-wide heads; give the number of attention heads`);
  const config = parseClipTextConfig({
    vocab_size: vocab, hidden_size: width, intermediate_size: shape('transformer.resblocks.0.mlp.c_fc.weight')[0],
    num_hidden_layers: layers, num_attention_heads: o.heads ?? width / 64, max_position_embeddings: positions,
    hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, eos_token_id: 2,
  });

  const map = new Map<string, DerivedEntry>();
  const used = new Set<string>();
  const put = (name: string, src: string, extra: Omit<DerivedEntry, 'src' | 'shape'> & { shape?: number[] } = {}) => {
    const have = shape(src);
    if (extra.rows && have[0] !== 3 * width) throw new Error(`${label}: ${src} has shape [${have.join(',')}], expected ${3 * width} rows (q, k, v)`);
    used.add(src);
    map.set(name, { src, ...extra, shape: extra.shape ?? (extra.transpose ? [...have].reverse() : have) });
  };
  const pair = (to: string, from: string) => {
    put(`${to}.weight`, `${from}.weight`);
    put(`${to}.bias`, `${from}.bias`);
  };
  put('text_model.embeddings.token_embedding.weight', 'token_embedding.weight');
  put('text_model.embeddings.position_embedding.weight', 'positional_embedding');
  for (let i = 0; i < layers; i++) {
    const to = `text_model.encoder.layers.${i}`;
    const from = `transformer.resblocks.${i}`;
    ['q_proj', 'k_proj', 'v_proj'].forEach((p, j) => {
      put(`${to}.self_attn.${p}.weight`, `${from}.attn.in_proj_weight`, { rows: [j * width, (j + 1) * width], shape: [width, width] });
      put(`${to}.self_attn.${p}.bias`, `${from}.attn.in_proj_bias`, { rows: [j * width, (j + 1) * width], shape: [width] });
    });
    pair(`${to}.self_attn.out_proj`, `${from}.attn.out_proj`);
    pair(`${to}.layer_norm1`, `${from}.ln_1`);
    pair(`${to}.mlp.fc1`, `${from}.mlp.c_fc`);
    pair(`${to}.mlp.fc2`, `${from}.mlp.c_proj`);
    pair(`${to}.layer_norm2`, `${from}.ln_2`);
  }
  pair('text_model.final_layer_norm', 'ln_final');
  put('text_projection.weight', 'text_projection', { transpose: true });
  const extra = base.keys().filter((k) => !used.has(k) && !OPENAI_NON_TEXT.test(k));
  if (extra.length)
    throw new Error(`${label}: ${extra.length} weights that openai's text tower does not have (${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''}): not a plain CLIP text tower`);
  return { config, projectionDim, weights: new DerivedSource(base, map) };
}
