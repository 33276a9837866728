// Vector-Jacobian products of the operators in the table (ops.ts): given the gradient arriving at a node's outputs,
// the gradients at its inputs, emitted as ordinary graph nodes. Rules need static shapes wherever a gradient must be
// summed back over broadcast dimensions or laid back into a larger tensor; they say so by name when they are not.
import type { Attrs, GraphBuilder, Value } from './builder';
import { fmt, isStatic, normAxis, ShapeError, type Shape } from './shape';

/**
 * The backward of one node. `gy(i)` is the gradient arriving at output i (null: none reaches it); the rule returns
 * one gradient per input (null where `need(i)` is false or the input takes none), emitted into `b`.
 */
export interface VjpArgs {
  readonly b: GraphBuilder;
  readonly attrs: Attrs;
  /** The forward node's scoped name, for errors. */
  readonly where: string;
  /** Forward input i (null: an omitted optional input). */
  x(i: number): Value | null;
  /** Forward output i. */
  y(i: number): Value;
  gy(i: number): Value | null;
  need(i: number): boolean;
  /** Numbers of forward input i when it is a small constant. */
  constant(i: number): number[] | undefined;
  /** Number of forward outputs. */
  readonly outputs: number;
}
export type VjpRule = (a: VjpArgs) => (Value | null)[];

const int = (a: Attrs, k: string, d: number): number => (typeof a[k] === 'number' ? a[k] : d);
const ints = (a: Attrs, k: string): number[] | undefined => (Array.isArray(a[k]) ? (a[k] as number[]) : undefined);

function staticDims(v: Value, where: string): number[] {
  if (!isStatic(v.shape)) throw new ShapeError(`${where}: the gradient needs the static shape of ${v.name}, which is ${fmt(v.shape)}`);
  return v.shape;
}

const x0 = (a: VjpArgs): Value => a.x(0)!;
/** The gradient at output 0, which every rule of a single-output node is given. */
const g0 = (a: VjpArgs): Value => a.gy(0)!;

function sameShape(p: Shape, q: Shape): boolean {
  return p !== null && q !== null && p.length === q.length && p.every((d, i) => d === q[i]);
}

/** Sums a gradient of the broadcast shape back to the shape of the operand `x` it flowed from. */
export function unbroadcast(b: GraphBuilder, g: Value, x: Value, where: string): Value {
  if (sameShape(g.shape, x.shape)) return g;
  const gs = staticDims(g, where);
  const xs = staticDims(x, where);
  const lead = gs.length - xs.length;
  const axes = gs.map((_, i) => i).filter((i) => i < lead || (xs[i - lead] === 1 && gs[i] !== 1));
  let r = axes.length ? b.reduceSum(g, axes, true) : g;
  if (lead > 0) r = b.reshape(r, xs);
  return r;
}

/** A tensor of zeros shaped like `v`. */
export function zerosLike(b: GraphBuilder, v: Value): Value {
  return b.expand(b.scalar(0, v.dtype), b.shape(v));
}

const unary = (f: (a: VjpArgs, g: Value) => Value): VjpRule => (a) => [a.need(0) ? f(a, g0(a)) : null];

/** Elementwise binary op: `f` gives the two gradients at the broadcast shape; they are summed back to each operand. */
const binary = (f: (a: VjpArgs, g: Value) => [() => Value, () => Value]): VjpRule => (a) => {
  const [d0, d1] = f(a, g0(a));
  return [
    a.need(0) ? unbroadcast(a.b, d0(), a.x(0)!, a.where) : null,
    a.need(1) ? unbroadcast(a.b, d1(), a.x(1)!, a.where) : null,
  ];
};

/** The gradient passes where `keep` holds, 0 elsewhere (ReLU, Clip, Max/Min, ReduceMax). */
const gate = (b: GraphBuilder, keep: Value, g: Value): Value => b.whereOp(keep, g, 0);
const cmp = (b: GraphBuilder, op: string, p: Value, q: Value | number): Value => b.op(op, [p, q])[0]!;

/** The gradient of a reduction with its reduced axes restored (keepdims), broadcast back over the input. */
function unreduce(a: VjpArgs): { g: Value; axes: number[] } {
  const x = x0(a);
  const rank = staticDims(x, a.where).length;
  const given = ints(a.attrs, 'axes') ?? a.constant(1);
  const axes = (given && given.length ? given : Array.from({ length: rank }, (_, i) => i)).map((k) => normAxis(k, rank, a.where));
  let g = g0(a);
  if (int(a.attrs, 'keepdims', 1) === 0) g = a.b.unsqueeze(g, [...axes].sort((p, q) => p - q));
  return { g: a.b.expand(g, a.b.shape(x)), axes };
}

/** The last two axes swapped. */
const mT = (b: GraphBuilder, v: Value): Value => {
  const r = v.rank;
  if (r === null || r < 2) throw new ShapeError(`MatMul gradient needs operands of rank >= 2, got ${v.name} ${fmt(v.shape)}`);
  return b.transpose(v, [...Array(r - 2).keys(), r - 1, r - 2]);
};

function conv(a: VjpArgs): (Value | null)[] {
  const { b, attrs, where } = a;
  const x = x0(a), w = a.x(1)!, g = g0(a);
  const xs = staticDims(x, where), ws = staticDims(w, where), ys = staticDims(a.y(0), where);
  const sp = xs.length - 2;
  const strides = ints(attrs, 'strides') ?? Array(sp).fill(1);
  const pads = ints(attrs, 'pads') ?? Array(2 * sp).fill(0);
  const dil = ints(attrs, 'dilations') ?? Array(sp).fill(1);
  const group = int(attrs, 'group', 1);
  if (attrs['auto_pad'] !== undefined && attrs['auto_pad'] !== 'NOTSET') throw new Error(`${where}: no gradient for Conv with auto_pad`);
  let gx: Value | null = null;
  if (a.need(0)) {
    const reach = ws.slice(2).map((k, i) => dil[i]! * (k - 1));
    const fullPads = [...reach.map((r, i) => r - pads[i]!), ...reach.map((r, i) => r - pads[i + sp]!)];
    if (strides.every((s) => s === 1) && group === 1 && fullPads.every((p) => p >= 0)) {
      // Stride 1: a plain convolution of g with the kernel flipped and its channel axes swapped. ONNX Runtime's
      // Conv kernels are several times faster than its ConvTranspose, and the flip folds away for a constant kernel.
      const axes = Array.from({ length: sp }, (_, i) => 2 + i);
      const flipped = b.slice(b.transpose(w, [1, 0, ...axes]), Array(sp).fill(-1), Array(sp).fill(-(2 ** 62)), axes, Array(sp).fill(-1));
      gx = b.conv(g, flipped, null, { pads: fullPads, dilations: dil });
    } else {
      // The transposed convolution with the same weights; output_padding restores input rows the stride skipped.
      const outPad = xs.slice(2).map((d, i) => d - (strides[i]! * (ys[2 + i]! - 1) + reach[i]! + 1 - pads[i]! - pads[i + sp]!));
      gx = b.op('ConvTranspose', [g, w], { strides, pads, dilations: dil, group, output_padding: outPad })[0]!;
    }
  }
  let gw: Value | null = null;
  if (a.need(1)) {
    if (group !== 1) throw new Error(`${where}: no weight gradient for a grouped Conv`);
    if (ws.slice(2).every((k) => k === 1) && strides.every((s) => s === 1) && pads.every((p) => p === 0)) {
      // 1×1: dW[o,c] = Σ_n,p g[n,o,p]·x[n,c,p], one matrix product over the pixels. The general form below would run
      // it as a convolution with an image-sized kernel: one matrix-vector product per input channel, each reading all
      // of g, ~10× the forward's time on the Peekaboo MLP.
      const [n, c] = xs as [number, number], o = ws[0]!;
      const px = xs.slice(2).reduce((p, q) => p * q, 1);
      const d = n === 1
        ? b.op('Gemm', [b.reshape(g, [o, px]), b.reshape(x, [c, px])], { transB: 1 })[0]!
        : b.reduceSum(b.matmul(b.reshape(g, [n, o, px]), mT(b, b.reshape(x, [n, c, px]))), [0], false);
      gw = b.reshape(d, ws);
    } else {
      // dW[o,c,k] = Σ_n,p g[n,o,p]·x[n,c,p·s + k·d]: a convolution of x (batch as channels) with g as the kernel, the
      // stride and dilation swapped; it can run past the kernel size when the stride skips input rows, hence the slice.
      const xt = b.transpose(x, [1, 0, ...Array.from({ length: sp }, (_, i) => 2 + i)]);
      const gt = b.transpose(g, [1, 0, ...Array.from({ length: sp }, (_, i) => 2 + i)]);
      let d = b.conv(xt, gt, null, { strides: dil, dilations: strides, pads });
      const ds = staticDims(d, where);
      if (ds.slice(2).some((n, i) => n !== ws[2 + i])) d = b.slice(d, Array(sp).fill(0), ws.slice(2), Array.from({ length: sp }, (_, i) => 2 + i));
      gw = b.transpose(d, [1, 0, ...Array.from({ length: sp }, (_, i) => 2 + i)]);
    }
  }
  const gb = a.need(2) ? b.reduceSum(g, [0, ...Array.from({ length: sp }, (_, i) => 2 + i)], false) : null;
  return [gx, gw, gb];
}

function gemm(a: VjpArgs): (Value | null)[] {
  const { b, attrs } = a;
  const A = x0(a), B = a.x(1)!, g = g0(a);
  const alpha = typeof attrs['alpha'] === 'number' ? attrs['alpha'] : 1;
  const beta = typeof attrs['beta'] === 'number' ? attrs['beta'] : 1;
  const ta = int(attrs, 'transA', 0), tb = int(attrs, 'transB', 0);
  const f = { float: alpha };
  // Y = α·A'B' + βC with A' = transA ? Aᵀ : A: dA' = α·g·B'ᵀ, dB' = α·A'ᵀ·g, transposed back where A or B was.
  const gA = !a.need(0) ? null : ta
    ? b.op('Gemm', [B, g], { alpha: f, transA: tb, transB: 1 })[0]!
    : b.op('Gemm', [g, B], { alpha: f, transB: tb ? 0 : 1 })[0]!;
  const gB = !a.need(1) ? null : tb
    ? b.op('Gemm', [g, A], { alpha: f, transA: 1, transB: ta })[0]!
    : b.op('Gemm', [A, g], { alpha: f, transA: ta ? 0 : 1 })[0]!;
  const gC = a.need(2) ? unbroadcast(b, beta === 1 ? g : b.mul(g, beta), a.x(2)!, a.where) : null;
  return [gA, gB, gC];
}

/** Per resized axis, the matrix M [out, in] with y = M·x along that axis, for the linear and nearest modes. */
function resizeMatrix(attrs: Attrs, n: number, m: number, scale: number, where: string): Float64Array {
  const ctm = (attrs['coordinate_transformation_mode'] as string | undefined) ?? 'half_pixel';
  const mode = (attrs['mode'] as string | undefined) ?? 'nearest';
  const src = (o: number): number => {
    switch (ctm) {
      case 'half_pixel': return (o + 0.5) / scale - 0.5;
      case 'pytorch_half_pixel': return m > 1 ? (o + 0.5) / scale - 0.5 : 0;
      case 'align_corners': return m > 1 ? (o * (n - 1)) / (m - 1) : 0;
      case 'asymmetric': return o / scale;
      default: throw new Error(`${where}: no gradient for Resize with coordinate_transformation_mode ${ctm}`);
    }
  };
  const M = new Float64Array(m * n);
  for (let o = 0; o < m; o++) {
    const s = src(o);
    if (mode === 'linear') {
      if (attrs['antialias']) throw new Error(`${where}: no gradient for an antialiased Resize`);
      const c = Math.min(Math.max(s, 0), n - 1); // ONNX Runtime and torch clamp the source index to the input
      const i0 = Math.floor(c), i1 = Math.min(i0 + 1, n - 1), f = c - i0;
      M[o * n + i0] += 1 - f;
      M[o * n + i1] += f;
    } else if (mode === 'nearest') {
      const nm = (attrs['nearest_mode'] as string | undefined) ?? 'round_prefer_floor';
      const r = nm === 'floor' ? Math.floor(s) : nm === 'ceil' ? Math.ceil(s) : nm === 'round_prefer_ceil' ? Math.round(s) : Math.ceil(s - 0.5);
      M[o * n + Math.min(Math.max(r, 0), n - 1)] = 1;
    } else throw new Error(`${where}: no gradient for Resize mode ${mode}`);
  }
  return M;
}

function resize(a: VjpArgs): (Value | null)[] {
  const { b, where } = a;
  if (!a.need(0)) return [null];
  const xs = staticDims(x0(a), where), ys = staticDims(a.y(0), where);
  const scales = a.x(2) ? a.constant(2) : undefined;
  let g = g0(a);
  const rank = xs.length;
  for (let i = 0; i < rank; i++) {
    if (xs[i] === ys[i] && (!scales || scales[i] === 1)) continue;
    if (i < rank - 2) throw new Error(`${where}: Resize gradient only along the last two axes (axis ${i} is resized)`);
    const n = xs[i]!, m = ys[i]!;
    const M = resizeMatrix(a.attrs, n, m, scales ? scales[i]! : m / n, where);
    if (i === rank - 1) g = b.matmul(g, b.constant(M, g.dtype, [m, n])); // [.., m]·[m, n]
    else {
      const Mt = new Float64Array(n * m);
      for (let o = 0; o < m; o++) for (let k = 0; k < n; k++) Mt[k * m + o] = M[o * n + k]!;
      g = b.matmul(b.constant(Mt, g.dtype, [n, m]), g); // [n, m]·[.., m, w]
    }
  }
  return [g];
}

function slice(a: VjpArgs): (Value | null)[] {
  const { b, where } = a;
  if (!a.need(0)) return [null];
  const xs = staticDims(x0(a), where);
  const starts = a.constant(1), ends = a.constant(2);
  const axes = a.x(3) ? a.constant(3) : starts?.map((_, i) => i);
  const steps = a.x(4) ? a.constant(4) : starts?.map(() => 1);
  if (!starts || !ends || !axes || !steps) throw new Error(`${where}: the Slice gradient needs constant starts, ends, axes and steps`);
  if (steps.some((s) => s !== 1)) throw new Error(`${where}: no gradient for a Slice with steps other than 1`);
  // The gradient goes back where the slice came from, zeros around it.
  const pads = Array(2 * xs.length).fill(0);
  axes.forEach((ax, i) => {
    const k = normAxis(ax, xs.length, where);
    const d = xs[k]!;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    const s = clamp(starts[i]!), e = Math.max(clamp(ends[i]!), s);
    pads[k] = s;
    pads[k + xs.length] = d - e;
  });
  return [b.pad(g0(a), pads)];
}

function pad(a: VjpArgs): (Value | null)[] {
  const { b, where } = a;
  if (!a.need(0)) return [null];
  const mode = (a.attrs['mode'] as string | undefined) ?? 'constant';
  if (mode !== 'constant') throw new Error(`${where}: no gradient for Pad mode ${mode}`);
  if (a.x(3)) throw new Error(`${where}: no gradient for Pad with axes`);
  const xs = staticDims(x0(a), where);
  const pads = a.constant(1);
  if (!pads) throw new Error(`${where}: the Pad gradient needs constant pads`);
  const r = xs.length;
  // Negative pads crop; their gradient pads back with zeros.
  const starts = xs.map((_, i) => Math.max(pads[i]!, 0));
  const ends = xs.map((d, i) => starts[i]! + d + Math.min(pads[i]!, 0) + Math.min(pads[i + r]!, 0));
  let g = b.slice(g0(a), starts, ends);
  const back = [...xs.map((_, i) => Math.max(-pads[i]!, 0)), ...xs.map((_, i) => Math.max(-pads[i + r]!, 0))];
  if (back.some((p) => p > 0)) g = b.pad(g, back);
  return [g];
}

function concat(a: VjpArgs): (Value | null)[] {
  const { b, where } = a;
  const n = countInputs(a);
  const ax = int(a.attrs, 'axis', 0);
  const sizes = Array.from({ length: n }, (_, i) => staticDims(a.x(i)!, where)[normAxis(ax, a.x(i)!.rank!, where)]!);
  const parts = b.split(g0(a), sizes, ax);
  return parts.map((p, i) => (a.need(i) ? p : null));
}

function countInputs(a: VjpArgs): number {
  let n = 0;
  while (a.x(n)) n++;
  return n;
}

function split(a: VjpArgs): (Value | null)[] {
  if (!a.need(0)) return [null, null];
  const parts = Array.from({ length: a.outputs }, (_, i) => a.gy(i) ?? zerosLike(a.b, a.y(i)));
  return [a.b.concat(parts, int(a.attrs, 'axis', 0)), null];
}

/** Reshape, Squeeze, Unsqueeze and Flatten: the gradient takes the input's shape back. */
const reshape: VjpRule = (a) => [a.need(0) ? a.b.reshape(g0(a), a.b.shape(x0(a))) : null, null];

export const VJP: Readonly<Record<string, VjpRule>> = {
  Identity: unary((_a, g) => g),
  Cast: unary((a, g) => a.b.cast(g, x0(a).dtype)),
  Add: binary((_a, g) => [() => g, () => g]),
  Sub: binary((a, g) => [() => g, () => a.b.neg(g)]),
  Mul: binary((a, g) => [() => a.b.mul(g, a.x(1)!), () => a.b.mul(g, x0(a))]),
  Div: binary((a, g) => [() => a.b.div(g, a.x(1)!), () => a.b.neg(a.b.div(a.b.mul(g, a.y(0)), a.x(1)!))]),
  Pow: binary((a, g) => {
    const { b } = a, x = x0(a), p = a.x(1)!;
    return [() => b.mul(g, b.mul(p, b.pow(x, b.sub(p, 1)))), () => b.mul(g, b.mul(a.y(0), b.log(x)))];
  }),
  // Ties send the gradient to the first operand, as torch's max/min do not (they split it); ties have measure zero.
  Max: binary((a, g) => {
    const keep = cmp(a.b, 'GreaterOrEqual', x0(a), a.x(1)!);
    return [() => gate(a.b, keep, g), () => a.b.whereOp(keep, 0, g)];
  }),
  Min: binary((a, g) => {
    const keep = cmp(a.b, 'LessOrEqual', x0(a), a.x(1)!);
    return [() => gate(a.b, keep, g), () => a.b.whereOp(keep, 0, g)];
  }),
  Where: (a) => {
    const { b, where } = a, c = x0(a), g = g0(a);
    return [
      null,
      a.need(1) ? unbroadcast(b, b.whereOp(c, g, 0), a.x(1)!, where) : null,
      a.need(2) ? unbroadcast(b, b.whereOp(c, 0, g), a.x(2)!, where) : null,
    ];
  },
  Relu: unary((a, g) => gate(a.b, a.b.greater(x0(a), 0), g)),
  Sigmoid: unary((a, g) => a.b.mul(g, a.b.mul(a.y(0), a.b.sub(1, a.y(0))))),
  Tanh: unary((a, g) => a.b.mul(g, a.b.sub(1, a.b.mul(a.y(0), a.y(0))))),
  Exp: unary((a, g) => a.b.mul(g, a.y(0))),
  Log: unary((a, g) => a.b.div(g, x0(a))),
  Sqrt: unary((a, g) => a.b.div(a.b.mul(g, 0.5), a.y(0))),
  Neg: unary((a, g) => a.b.neg(g)),
  Abs: unary((a, g) => a.b.mul(g, a.b.op('Sign', [x0(a)])[0]!)),
  Erf: unary((a, g) => a.b.mul(g, a.b.mul(a.b.exp(a.b.neg(a.b.mul(x0(a), x0(a)))), 2 / Math.sqrt(Math.PI)))),
  Sin: unary((a, g) => a.b.mul(g, a.b.cos(x0(a)))),
  Cos: unary((a, g) => a.b.neg(a.b.mul(g, a.b.sin(x0(a))))),
  Reciprocal: unary((a, g) => a.b.neg(a.b.mul(g, a.b.mul(a.y(0), a.y(0))))),
  // torch passes the gradient where lo <= x <= hi, bounds included.
  Clip: (a) => {
    const { b } = a, x = x0(a);
    let keep: Value | null = null;
    if (a.x(1)) keep = cmp(b, 'GreaterOrEqual', x, a.x(1)!);
    if (a.x(2)) {
      const hi = cmp(b, 'LessOrEqual', x, a.x(2)!);
      keep = keep ? b.op('And', [keep, hi])[0]! : hi;
    }
    return [a.need(0) ? (keep ? gate(b, keep, g0(a)) : g0(a)) : null, null, null];
  },
  Softmax: unary((a, g) => {
    const { b } = a, y = a.y(0);
    const ax = int(a.attrs, 'axis', -1);
    return b.mul(y, b.sub(g, b.reduceSum(b.mul(g, y), [ax], true)));
  }),
  MatMul: binary((a, g) => [() => a.b.matmul(g, mT(a.b, a.x(1)!)), () => a.b.matmul(mT(a.b, x0(a)), g)]),
  Gemm: gemm,
  Conv: conv,
  Reshape: reshape,
  Squeeze: reshape,
  Unsqueeze: reshape,
  Transpose: unary((a, g) => {
    const perm = ints(a.attrs, 'perm') ?? [...Array(x0(a).rank ?? 0).keys()].reverse();
    const inv: number[] = [];
    perm.forEach((p, i) => { inv[p] = i; });
    return a.b.transpose(g, inv);
  }),
  Concat: concat,
  Split: split,
  Slice: slice,
  Pad: pad,
  Expand: (a) => [a.need(0) ? unbroadcast(a.b, g0(a), x0(a), a.where) : null, null],
  ReduceSum: (a) => [a.need(0) ? unreduce(a).g : null, null],
  ReduceMean: (a) => {
    if (!a.need(0)) return [null, null];
    const { g, axes } = unreduce(a);
    const xs = staticDims(x0(a), a.where);
    return [a.b.div(g, axes.reduce((p, k) => p * xs[k]!, 1)), null];
  },
  // The gradient goes to every element equal to the maximum (ties have measure zero).
  ReduceMax: (a) => {
    if (!a.need(0)) return [null, null];
    const { g, axes } = unreduce(a);
    const m = int(a.attrs, 'keepdims', 1) === 1 ? a.y(0) : a.b.unsqueeze(a.y(0), [...axes].sort((p, q) => p - q));
    return [gate(a.b, a.b.equal(x0(a), m), g), null];
  },
  Resize: resize,
};
