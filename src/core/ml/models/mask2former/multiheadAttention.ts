// torch's nn.MultiheadAttention as Mask2Former's decoder layers call it (torch 1.13 F.multi_head_attention_forward),
// batch-first: one packed in_proj (rows [0, C) query, [C, 2C) key, [2C, 3C) value), head h on channels
// [h·d, (h+1)·d), q divided by √d before QKᵀ, −∞ added where a boolean mask is true, then out_proj. Called inside the
// module's scope (`self_attn`, `multihead_attn`).
import type { Value } from '../../graph/builder';
import { transpose2d, type AttentionResult, type Layers } from '../nn';

const ROLES = ['q', 'k', 'v'] as const;

/** x @ W_roleᵀ + b_role, the role's rows cut from the packed in_proj on read. */
function inProjection(L: Layers, x: Value, role: 0 | 1 | 2, C: number): Value {
  const w = L.param('in_proj_weight', { shape: [C, C], fn: (d) => transpose2d(d.subarray(role * C * C, (role + 1) * C * C), C, C), suffix: `.${ROLES[role]}.T` });
  const b = L.param('in_proj_bias', { shape: [C], fn: (d) => d.slice(role * C, (role + 1) * C), suffix: `.${ROLES[role]}` });
  return L.g.add(L.g.matmul(x, w), b);
}

/**
 * query [B, N, C], key and value [B, M, C]; `mask` bool, broadcastable to [B, heads, N, M], true = may not attend.
 * A row masked everywhere would be NaN, as in torch: callers keep one key open.
 */
export function multiheadAttention(L: Layers, query: Value, key: Value, value: Value, o: { heads: number; mask?: Value; keepProbs?: boolean }): AttentionResult {
  const g = L.g;
  const C = query.shape?.[2];
  if (typeof C !== 'number') throw new Error(`${g.currentScope}: the query's channels must be known`);
  const d = C / o.heads;
  if (!Number.isInteger(d)) throw new Error(`${g.currentScope}: ${C} channels not divisible by ${o.heads} heads`);
  const heads = (x: Value) => g.transpose(g.reshape(x, [0, 0, o.heads, d]), [0, 2, 1, 3]); // [B, h, T, d]
  const q = heads(g.div(inProjection(L, query, 0, C), Math.sqrt(d)));
  const k = g.transpose(g.reshape(inProjection(L, key, 1, C), [0, 0, o.heads, d]), [0, 2, 3, 1]); // [B, h, d, M]
  const v = heads(inProjection(L, value, 2, C));
  let s = g.matmul(q, k);
  if (o.mask) s = g.add(s, g.whereOp(o.mask, g.scalar(-Infinity), 0));
  const p = g.softmax(s, -1);
  const merged = g.reshape(g.transpose(g.matmul(p, v), [0, 2, 1, 3]), [0, 0, C]);
  return { out: L.linear(merged, 'out_proj'), probs: o.keepProbs ? g.reduceMean(p, [1], false) : undefined };
}
