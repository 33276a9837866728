// transformers CLIPTextModel (SD 1.x text encoder) as an ONNX graph: last_hidden_state and pooler_output.
import { z } from 'zod';
import { GraphBuilder, Value } from '../graph/builder';
import type { Dim } from '../graph/shape';
import type { WeightSource } from '../weights/source';
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
  return { graph: g, outputs };
}
