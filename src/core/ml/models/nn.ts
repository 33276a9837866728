// Layers shared by the model builders: weights become lazy initializers named by their diffusers path,
// nodes are scoped by module path. `dtype` is the compute/weight type (float16 for fp16 export).
import type { DType } from '../graph/dtypes';
import { GraphBuilder, Value } from '../graph/builder';
import type { WeightSource } from '../weights/source';

export type ComputeDType = 'float32' | 'float16';

export class Layers {
  private readonly params = new Map<string, Value>();

  constructor(
    readonly g: GraphBuilder,
    readonly w: WeightSource,
    readonly dtype: ComputeDType = 'float32',
    /** Prefix of weight names in the source (e.g. 'text_model.'). */
    readonly prefix = '',
  ) {}

  /** Runs fn inside the module scope `name` (node names read like the PyTorch module path). */
  mod<T>(name: string | number, fn: () => T): T {
    return this.g.scope(name, fn);
  }

  /** Full weight name for a parameter of the current module. */
  private full(local: string): string {
    const s = this.g.currentScope;
    return `${this.prefix}${s ? `${s}.` : ''}${local}`;
  }

  has(local: string): boolean {
    return this.w.has(this.full(local));
  }

  /** A weight as an initializer; `transform` may rearrange it (e.g. transpose a Linear weight). */
  param(local: string, transform?: { shape: number[]; fn: (d: Float32Array) => Float32Array; suffix: string }): Value {
    const name = this.full(local);
    const key = transform ? `${name}${transform.suffix}` : name;
    const hit = this.params.get(key);
    if (hit) return hit;
    if (!this.w.has(name)) throw new Error(`missing weight '${name}'`);
    const shape = transform ? transform.shape : this.w.shape(name);
    const w = this.w;
    const dtype: DType = this.dtype;
    const provider = transform
      ? () => transform.fn(w.read(name))
      : () => (dtype === 'float16' ? w.readF16Bits?.(name) : undefined) ?? w.read(name);
    const v = this.g.initializer(key, provider, dtype, shape);
    this.params.set(key, v);
    return v;
  }

  /** torch Linear on the last dim: x @ Wᵀ + b, with Wᵀ stored pre-transposed. */
  linear(x: Value, name: string, bias = true): Value {
    return this.mod(name, () => {
      const [o, i] = this.w.shape(this.full('weight'));
      if (o === undefined || i === undefined) throw new Error(`${this.full('weight')} is not a matrix`);
      const wt = this.param('weight', { shape: [i, o], fn: (d) => transpose2d(d, o, i), suffix: '.T' });
      let y = this.g.matmul(x, wt);
      if (bias && this.has('bias')) y = this.g.add(y, this.param('bias'));
      return y;
    });
  }

  conv(x: Value, name: string, o: { stride?: number; pad?: number; pads?: number[] } = {}): Value {
    return this.mod(name, () => {
      const wv = this.param('weight');
      const k = wv.shape![2] as number;
      const p = o.pad ?? Math.floor(k / 2);
      const s = o.stride ?? 1;
      return this.g.conv(x, wv, this.has('bias') ? this.param('bias') : null, { strides: [s, s], pads: o.pads ?? [p, p, p, p] });
    });
  }

  /** GroupNorm, computed in float32 even for fp16 export (fp16 variances overflow on real activations). */
  groupNorm(x: Value, name: string, groups: number, eps: number): Value {
    return this.mod(name, () => {
      const f = this.g.cast(x, 'float32');
      const sc = this.g.cast(this.param('weight'), 'float32');
      const bi = this.g.cast(this.param('bias'), 'float32');
      return this.g.cast(this.g.groupNorm(f, groups, sc, bi, eps), this.dtype);
    });
  }

  layerNorm(x: Value, name: string, eps: number): Value {
    return this.mod(name, () => {
      const f = this.g.cast(x, 'float32');
      const y = this.g.layerNorm(f, this.g.cast(this.param('weight'), 'float32'), this.g.cast(this.param('bias'), 'float32'), eps);
      return this.g.cast(y, this.dtype);
    });
  }
}

export function transpose2d(d: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(d.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = d[r * cols + c]!;
  return out;
}

export interface AttentionResult {
  out: Value;
  /** Head-averaged probabilities [B, N, M] (float32) when requested. */
  probs?: Value;
}

/**
 * Multi-head attention on token tensors: q from x [B,N,C], k/v from ctx [B,M,Cc].
 * Head h uses channels [h·d, (h+1)·d), as diffusers' view(B, N, heads, d).
 */
export function attention(
  L: Layers,
  x: Value,
  ctx: Value,
  o: {
    heads: number; q: string; k: string; v: string; out: string;
    /** Scale q before QKᵀ (CLIP) instead of the scores (diffusers); the same math, different rounding. */
    scaleQuery?: boolean;
    /** Added to the scores before the softmax (float32). */
    masks?: Value[];
    keepProbs?: boolean;
    /** Compute scores and softmax in float32 under fp16 (diffusers' upcast_attention). */
    upcast?: boolean;
    qkBias?: boolean;
  },
): AttentionResult {
  const g = L.g;
  let q = L.linear(x, o.q, o.qkBias ?? true);
  const k = L.linear(ctx, o.k, o.qkBias ?? true);
  const v = L.linear(ctx, o.v, o.qkBias ?? true);
  const c = q.shape![2] as number;
  const d = c / o.heads;
  if (!Number.isInteger(d)) throw new Error(`${g.currentScope}: ${c} channels not divisible by ${o.heads} heads`);
  const scale = d ** -0.5;
  if (o.scaleQuery) q = g.mul(q, scale);
  const qh = g.transpose(g.reshape(q, [0, 0, o.heads, d]), [0, 2, 1, 3]); // [B,h,N,d]
  const kh = g.transpose(g.reshape(k, [0, 0, o.heads, d]), [0, 2, 3, 1]); // [B,h,d,M]
  const vh = g.transpose(g.reshape(v, [0, 0, o.heads, d]), [0, 2, 1, 3]); // [B,h,M,d]
  const up = o.upcast && L.dtype === 'float16';
  let s = g.matmul(up ? g.cast(qh, 'float32') : qh, up ? g.cast(kh, 'float32') : kh);
  if (!o.scaleQuery) s = g.mul(s, scale);
  s = g.cast(s, 'float32'); // softmax always in float32, as diffusers/transformers do for half inputs
  for (const m of o.masks ?? []) s = g.add(s, m);
  const p = g.softmax(s, -1);
  const probs = o.keepProbs ? g.reduceMean(p, [1], false) : undefined;
  const ctxOut = g.matmul(g.cast(p, L.dtype), vh); // [B,h,N,d]
  const merged = g.reshape(g.transpose(ctxOut, [0, 2, 1, 3]), [0, 0, c]);
  return { out: L.linear(merged, o.out), probs };
}
