// One CLIP transformer layer (transformers' CLIPEncoderLayer, openai's ResidualAttentionBlock): pre-LayerNorm
// self-attention and MLP, each added to its input. Called inside the layer's module scope.
import type { Value } from '../graph/builder';
import { attention, type AttentionResult, type Layers } from './nn';

export interface ClipEncoderLayerOptions {
  heads: number;
  eps: number;
  act: 'quick_gelu' | 'gelu';
  /** Added to the attention scores before the softmax. */
  masks?: Value[];
  /** Also return the head-averaged attention probabilities. */
  keepProbs?: boolean;
}

export function clipEncoderLayer(L: Layers, h: Value, o: ClipEncoderLayerOptions): AttentionResult {
  const g = L.g;
  const n1 = L.layerNorm(h, 'layer_norm1', o.eps);
  const a = L.mod('self_attn', () =>
    attention(L, n1, n1, { heads: o.heads, q: 'q_proj', k: 'k_proj', v: 'v_proj', out: 'out_proj', scaleQuery: true, masks: o.masks, keepProbs: o.keepProbs }));
  const r = g.add(h, a.out);
  const n2 = L.layerNorm(r, 'layer_norm2', o.eps);
  const m = L.mod('mlp', () => {
    const f1 = L.linear(n2, 'fc1');
    return L.linear(o.act === 'quick_gelu' ? g.quickGelu(f1) : g.gelu(f1), 'fc2');
  });
  return { out: g.add(r, m), probs: a.probs };
}
