// Layers shared by the model builders: weights become lazy initializers named by their diffusers path,
// nodes are scoped by module path. `dtype` is the compute/weight type (float16 for fp16 export).
import type { DType } from '../graph/dtypes';
import { GraphBuilder, Value } from '../graph/builder';
import type { Dim } from '../graph/shape';
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
  /** Head-averaged probabilities [B, N, M] (float32) when requested (keepProbs true). */
  probs?: Value;
  /**
   * With keepProbs: the head-averaged probabilities by query block, [B, rows, M] each, plus probsAddTo's blocks when
   * given; concatenated along axis 1 they are probs (+ probsAddTo).
   */
  probBlocks?: Value[];
}

/** Default `probsBlockBytes`: a block's scores and probabilities stay in the CPU's caches. */
export const PROBS_BLOCK_BYTES = 16 * 2 ** 20;

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
    /** true: probs and probBlocks; 'blocks': probBlocks only, no full-size map is assembled. */
    keepProbs?: boolean | 'blocks';
    /**
     * With keepProbs (static N and M, no masks): queries are taken in blocks whose float32 scores, all heads of
     * one batch item, fit in this many bytes (default PROBS_BLOCK_BYTES). Rows of a softmax do not depend on
     * each other, so the results are the same; a 64² SD layer would otherwise hold 2 × 512 MiB per run.
     */
    probsBlockBytes?: number;
    /**
     * With keepProbs: running sums of earlier layers' maps, as their probBlocks (same size and heads, so the same
     * blocks); added block by block, so no full-size map is copied per layer.
     */
    probsAddTo?: Value[];
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
  const probsOf = (qs: Value) => {
    let s = g.matmul(up ? g.cast(qs, 'float32') : qs, up ? g.cast(kh, 'float32') : kh);
    if (!o.scaleQuery) s = g.mul(s, scale);
    s = g.cast(s, 'float32'); // softmax always in float32, as diffusers/transformers do for half inputs
    for (const m of o.masks ?? []) s = g.add(s, m);
    return g.softmax(s, -1);
  };
  const merge = (ctxOut: Value) => L.linear(g.reshape(g.transpose(ctxOut, [0, 2, 1, 3]), [0, 0, c]), o.out);
  if (!o.keepProbs) return { out: merge(g.matmul(g.cast(probsOf(qh), L.dtype), vh)) }; // [B,h,N,d]

  const blocks = o.masks?.length ? [] : queryBlocks(qh.shape![2]!, kh.shape![3]!, o.heads, o.probsBlockBytes ?? PROBS_BLOCK_BYTES);
  const queries = blocks.length > 1 ? blocks.map(([from, to]) => g.slice(qh, [from], [to], [2])) : [qh];
  const addTo = o.probsAddTo;
  if (addTo && addTo.length !== queries.length) throw new Error(`${g.currentScope}: ${addTo.length} map sums for ${queries.length} query blocks`);
  const outs: Value[] = [];
  const means: Value[] = [];
  const probBlocks = queries.map((qs, i) => {
    const p = probsOf(qs);
    const mean = headMean(g, p, o.heads);
    means.push(mean);
    const block = addTo ? g.add(addTo[i]!, mean) : mean;
    // The block's output waits for its map (and running sum), so the block's probabilities are released before the
    // next block's and no layer's maps are left for the end of the network.
    outs.push(after(g, g.matmul(g.cast(p, L.dtype), vh), block));
    return block;
  });
  const ctxOut = outs.length === 1 ? outs[0]! : g.concat(outs, 2);
  if (o.keepProbs === 'blocks' || means.length === 1) return { out: merge(ctxOut), probs: o.keepProbs === 'blocks' ? undefined : means[0], probBlocks };
  // The layer's map is assembled before the network goes on, not left with its blocks for the end.
  const probs = g.concat(means, 1);
  return { out: merge(after(g, ctxOut, probs)), probs, probBlocks };
}

/**
 * x, computed only once `dep` is: ONNX Runtime runs nodes in a depth-first order back from the graph outputs, so a
 * value that only the outputs need would run after the whole network, its inputs held until then. Adds 0 × the
 * first element of dep, which is exactly 0 for the finite values (attention probabilities) this is used with.
 */
function after(g: GraphBuilder, x: Value, dep: Value): Value {
  const r = dep.rank!;
  const first = g.slice(dep, new Array<number>(r).fill(0), new Array<number>(r).fill(1));
  return g.add(x, g.cast(g.mul(first, 0), x.dtype));
}

/** Query rows [from, to) per block: as few blocks as keep each one's float32 scores (all heads) within maxBytes. */
function queryBlocks(n: Dim, m: Dim, heads: number, maxBytes: number): [number, number][] {
  if (typeof n !== 'number' || typeof m !== 'number') return [];
  const rows = Math.ceil(n / Math.min(n, Math.ceil((n * m * heads * 4) / maxBytes)));
  return Array.from({ length: Math.ceil(n / rows) }, (_, i) => [i * rows, Math.min(n, (i + 1) * rows)]);
}

/**
 * Mean over the heads of p [B,h,r,M] → [B,r,M], as the product of [1/h … 1/h] with p seen as [B,h,r·M]: the
 * same sums as ReduceMean over the head axis, which ONNX Runtime 1.30's CPU kernels take ~3× longer for.
 */
function headMean(g: GraphBuilder, p: Value, heads: number): Value {
  const w = g.constant(new Array<number>(heads).fill(1 / heads), 'float32', [1, heads]);
  const [, , r, m] = p.shape!;
  const back = typeof r === 'number' && typeof m === 'number' ? [0, r, m] : g.concat([g.slice(g.shape(p), [0], [1]), g.slice(g.shape(p), [2], [4])], 0);
  return g.reshape(g.matmul(w, g.reshape(p, [0, heads, -1])), back);
}
