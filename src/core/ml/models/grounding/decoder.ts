// The grounding module's transformer decoder (`transfromer_decoder`, seg_module.py:54-107): pre-norm layers of
// self-attention over the class queries, cross-attention from them to the image patches, and a ReLU feed-forward,
// each added to its input. nn.MultiheadAttention(bias=False) (q scaled by 1/√head_dim before QKᵀ), LayerNorm eps
// 1e-5, no positional embeddings, dropout 0.
//
// The reference feeds it 2-D (unbatched) tensors: the queries of every image and class of a call form ONE sequence
// and attend to the patches of every image. `queries` [1, B·n, E] and `patches` [1, B·256, E] keep that.
import type { Value } from '../../graph/builder';
import { attention, type Layers } from '../nn';
import type { GroundingConfig } from './config';

const LN_EPS = 1e-5;

function decoderLayer(L: Layers, t: Value, memory: Value, heads: number): Value {
  const g = L.g;
  const mha = (name: string, q: Value, kv: Value) =>
    L.mod(name, () => attention(L, q, kv, { heads, q: 'q_proj', k: 'k_proj', v: 'v_proj', out: 'out_proj', scaleQuery: true, qkBias: false }).out);
  const n1 = L.layerNorm(t, 'norm1', LN_EPS);
  let x = g.add(t, mha('self_attn', n1, n1));
  x = g.add(x, mha('multihead_attn', L.layerNorm(x, 'norm2', LN_EPS), memory));
  const ff = L.linear(g.relu(L.linear(L.layerNorm(x, 'norm3', LN_EPS), 'linear1')), 'linear2');
  return g.add(x, ff);
}

export function transformerDecoder(L: Layers, c: GroundingConfig, queries: Value, patches: Value): Value {
  return L.mod('transfromer_decoder', () => {
    let t = queries;
    for (let i = 0; i < c.num_layers; i++) t = L.mod(`layers.${i}`, () => decoderLayer(L, t, patches, c.num_heads));
    return t;
  });
}
