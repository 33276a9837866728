// The operator table: for each ONNX operator the graph core knows, the types of its attributes (serialize.ts writes
// them), how its outputs' dtypes and static shapes follow from its inputs (the builder's methods), what it costs
// (flops.ts) and its vector-Jacobian product (the rules are in vjp.ts, autodiff.ts applies them). An operator outside
// the table can still be emitted with GraphBuilder.op and explicit outputs; it then counts one FLOP per output element
// and has no gradient.
import type { Attrs, NodeRecord, OutSpec, Value } from './builder';
import { ONNX_DTYPE, type DType } from './dtypes';
import {
  broadcast, convShape, fmt, matmulShape, normAxis, reshapeShape, sameDim, ShapeError, sliceDim, type Dim, type Shape,
} from './shape';
import { VJP, type VjpRule } from './vjp';

export type AttrKind = 'int' | 'float' | 'string' | 'ints' | 'floats' | 'strings';

/** What shape inference sees of a node about to be emitted. */
export interface InferArgs {
  readonly inputs: readonly (Value | null)[];
  readonly attrs: Attrs;
  /** The node's scoped name (`down_blocks.0/Conv`), for errors. */
  readonly where: string;
  /** The numbers of a small constant input known at build time. */
  constant(v: Value | null | undefined): number[] | undefined;
  /** The value whose shape `v` is, when `v` is the output of a Shape node. */
  measured(v: Value): Value | undefined;
}

/** A node with its inputs and outputs resolved to values (FLOP counting). */
export interface NodeValues {
  readonly node: NodeRecord;
  readonly inputs: readonly (Value | null)[];
  readonly outputs: readonly Value[];
}

export interface OpDef {
  readonly attrs?: Readonly<Record<string, AttrKind>>;
  /** Output dtypes and static shapes; an op without it needs explicit outputs. */
  readonly infer?: (a: InferArgs) => OutSpec[];
  /**
   * FLOPs of one node whose output shape is static: 'free' for data movement; a function gives 2·MACs (the
   * matrix-product ops, null when its inputs are not static). Default: one per output element.
   */
  readonly flops?: 'free' | ((n: NodeValues) => number | null);
  /** 'none': no gradient flows through it (its outputs are integers, booleans or piecewise constant); absent: no rule. */
  readonly vjp?: VjpRule | 'none';
}

const DTYPE_OF_ONNX = new Map(Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k as DType]));

const first = (a: InferArgs): Value => {
  const v = a.inputs[0];
  if (!v) throw new Error(`${a.where}: no input`);
  return v;
};
const attrNum = (a: Attrs, k: string, d: number): number => (typeof a[k] === 'number' ? a[k] : d);
const attrInts = (a: Attrs, k: string): number[] | undefined => (Array.isArray(a[k]) ? (a[k] as number[]) : undefined);

const same = (a: InferArgs): OutSpec[] => [{ dtype: first(a).dtype, shape: first(a).shape }];
const elementwise = (dtype?: DType) => (a: InferArgs): OutSpec[] => {
  const ins = a.inputs.filter((v): v is Value => v !== null);
  return [{ dtype: dtype ?? ins[0]!.dtype, shape: broadcast(ins.map((v) => v.shape), a.where) }];
};

function reduceInfer(a: InferArgs): OutSpec[] {
  const x = first(a);
  const axes = attrInts(a.attrs, 'axes') ?? a.constant(a.inputs[1]);
  const keep = attrNum(a.attrs, 'keepdims', 1) === 1;
  let shape: Shape = null;
  if (x.shape && axes) {
    const norm = axes.map((ax) => normAxis(ax, x.shape!.length, a.where));
    shape = keep ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
  }
  return [{ dtype: x.dtype, shape }];
}

function argReduceInfer(a: InferArgs): OutSpec[] {
  const x = first(a);
  let shape: Shape = null;
  if (x.shape) {
    const ax = normAxis(attrNum(a.attrs, 'axis', 0), x.shape.length, a.where);
    shape = attrNum(a.attrs, 'keepdims', 1) === 1 ? x.shape.map((d, i) => (i === ax ? 1 : d)) : x.shape.filter((_, i) => i !== ax);
  }
  return [{ dtype: 'int64', shape }];
}

function convInfer(a: InferArgs): OutSpec[] {
  const [x, w, b] = a.inputs as [Value, Value, Value | null | undefined];
  const sp = (w.rank ?? x.rank ?? 4) - 2;
  const shape = convShape(
    x.shape, w.shape, attrInts(a.attrs, 'strides') ?? Array(sp).fill(1), attrInts(a.attrs, 'pads') ?? Array(2 * sp).fill(0),
    attrInts(a.attrs, 'dilations') ?? Array(sp).fill(1), attrNum(a.attrs, 'group', 1), a.where,
  );
  if (b && b.shape && w.shape && b.shape[0] !== w.shape[0])
    throw new ShapeError(`${a.where}: bias ${fmt(b.shape)} does not match weight ${fmt(w.shape)}`);
  return [{ dtype: x.dtype, shape }];
}

/** ConvTranspose: out = stride·(in − 1) + output_padding + dilation·(k − 1) + 1 − pads. */
function convTransposeInfer(a: InferArgs): OutSpec[] {
  const [x, w] = a.inputs as [Value, Value];
  if (!x.shape || !w.shape) return [{ dtype: x.dtype, shape: null }];
  const sp = x.shape.length - 2;
  const group = attrNum(a.attrs, 'group', 1);
  const strides = attrInts(a.attrs, 'strides') ?? Array(sp).fill(1);
  const pads = attrInts(a.attrs, 'pads') ?? Array(2 * sp).fill(0);
  const dil = attrInts(a.attrs, 'dilations') ?? Array(sp).fill(1);
  const outPad = attrInts(a.attrs, 'output_padding') ?? Array(sp).fill(0);
  const m = w.shape[1]!;
  const shape: Dim[] = [x.shape[0]!, typeof m === 'number' ? m * group : null];
  for (let i = 0; i < sp; i++) {
    const d = x.shape[2 + i]!, k = w.shape[2 + i]!;
    shape.push(typeof d === 'number' && typeof k === 'number'
      ? strides[i]! * (d - 1) + outPad[i]! + dil[i]! * (k - 1) + 1 - pads[i]! - pads[i + sp]!
      : null);
  }
  return [{ dtype: x.dtype, shape }];
}

function reshapeInfer(a: InferArgs): OutSpec[] {
  const [x, t] = a.inputs as [Value, Value];
  const tv = a.constant(t);
  // Reshaping back to the shape of another value (GroupNorm, attention tokens) gives that value's dims: without
  // this, a 1×1 feature map loses its size, since a broadcast against 1 cannot restore it.
  const like = a.measured(t);
  const shape = tv
    ? reshapeShape(x.shape, tv, false, a.where)
    : like
      ? like.shape
      : t.shape && typeof t.shape[0] === 'number' ? Array(t.shape[0]).fill(null) : null;
  return [{ dtype: x.dtype, shape }];
}

function concatInfer(a: InferArgs): OutSpec[] {
  const xs = a.inputs as Value[];
  const axis = attrNum(a.attrs, 'axis', 0);
  if (xs.length === 0) throw new Error(`${a.where}: nothing to concatenate`);
  let shape: Shape = null;
  if (xs.every((x) => x.shape)) {
    const r = xs[0]!.shape!.length;
    const ax = normAxis(axis, r, a.where);
    shape = [...xs[0]!.shape!];
    for (const x of xs.slice(1)) {
      if (x.shape!.length !== r) throw new ShapeError(`${a.where}: ranks differ ${xs.map((v) => fmt(v.shape)).join(', ')}`);
      if (x.dtype !== xs[0]!.dtype) throw new TypeError(`${a.where}: dtypes differ`);
      for (let i = 0; i < r; i++) {
        if (i === ax) continue;
        const p = shape[i]!, q = x.shape![i]!;
        if (typeof p === 'number' && typeof q === 'number' && p !== q)
          throw new ShapeError(`${a.where}: shapes ${xs.map((v) => fmt(v.shape)).join(', ')} differ off axis ${axis}`);
      }
      const p = shape[ax]!, q = x.shape![ax]!;
      shape[ax] = typeof p === 'number' && typeof q === 'number' ? p + q : null;
    }
  }
  return [{ dtype: xs[0]!.dtype, shape }];
}

function splitInfer(a: InferArgs): OutSpec[] {
  const x = first(a);
  const sizes = a.constant(a.inputs[1]);
  if (!sizes) throw new Error(`${a.where}: split sizes must be a constant`);
  const axis = attrNum(a.attrs, 'axis', 0);
  let shapes: Shape[] = sizes.map(() => null);
  if (x.shape) {
    const ax = normAxis(axis, x.shape.length, a.where);
    const d = x.shape[ax]!;
    const total = sizes.reduce((p, q) => p + q, 0);
    if (typeof d === 'number' && d !== total) throw new ShapeError(`${a.where}: sizes ${fmt(sizes)} do not sum to dim ${d} of ${fmt(x.shape)}`);
    shapes = sizes.map((s) => x.shape!.map((v, i) => (i === ax ? s : v)));
  }
  return shapes.map((s) => ({ dtype: x.dtype, shape: s }));
}

/** Slice with constant starts/ends/axes/steps (inputs 1-4). */
function sliceInfer(a: InferArgs): OutSpec[] {
  const x = first(a);
  const [starts, ends] = [a.constant(a.inputs[1]), a.constant(a.inputs[2])];
  const axes = a.inputs[3] ? a.constant(a.inputs[3]) : starts?.map((_, i) => i);
  const steps = a.inputs[4] ? a.constant(a.inputs[4]) : starts?.map(() => 1);
  let shape: Shape = null;
  if (x.shape) {
    shape = [...x.shape];
    if (starts && ends && axes && steps) {
      axes.forEach((ax, i) => {
        const k = normAxis(ax, x.shape!.length, a.where);
        shape![k] = sliceDim(x.shape![k]!, starts[i]!, ends[i]!, steps[i]!);
      });
    } else if (axes) {
      for (const ax of axes) shape[normAxis(ax, x.shape.length, a.where)] = null;
    } else shape = shape.map(() => null);
  }
  return [{ dtype: x.dtype, shape }];
}

function gatherInfer(a: InferArgs): OutSpec[] {
  const [x, idx] = a.inputs as [Value, Value];
  let shape: Shape = null;
  if (x.shape && idx.shape) {
    const ax = normAxis(attrNum(a.attrs, 'axis', 0), x.shape.length, a.where);
    shape = [...x.shape.slice(0, ax), ...idx.shape, ...x.shape.slice(ax + 1)];
  }
  return [{ dtype: x.dtype, shape }];
}

function unsqueezeInfer(a: InferArgs): OutSpec[] {
  const x = first(a);
  const axes = a.constant(a.inputs[1]);
  let shape: Shape = null;
  if (x.shape && axes) {
    const r = x.shape.length + axes.length;
    const norm = axes.map((ax) => normAxis(ax, r, a.where)).sort((p, q) => p - q);
    shape = [...x.shape];
    for (const ax of norm) shape.splice(ax, 0, 1);
  }
  return [{ dtype: x.dtype, shape }];
}

function squeezeInfer(a: InferArgs): OutSpec[] {
  const x = first(a);
  const axes = a.constant(a.inputs[1]);
  let shape: Shape = null;
  if (x.shape && axes) {
    const norm = axes.map((ax) => normAxis(ax, x.shape!.length, a.where));
    for (const ax of norm) {
      const d = x.shape[ax];
      if (typeof d === 'number' && d !== 1) throw new ShapeError(`${a.where}: dim ${ax} of ${fmt(x.shape)} is not 1`);
    }
    shape = x.shape.filter((_, i) => !norm.includes(i));
  }
  return [{ dtype: x.dtype, shape }];
}

function expandInfer(a: InferArgs): OutSpec[] {
  const [x, t] = a.inputs as [Value, Value];
  const tv = a.constant(t);
  let shape = tv ? broadcast([x.shape, tv], a.where) : null;
  const n = t.shape?.[0];
  if (!tv && x.shape && typeof n === 'number' && n >= x.shape.length) {
    // A target known only at run time: every dim of x known to be over 1 stays (broadcasting cannot change it).
    const lead = n - x.shape.length;
    shape = Array.from({ length: n }, (_, i) => {
      const d = i < lead ? null : x.shape![i - lead]!;
      return typeof d === 'number' && d > 1 ? d : null;
    });
  }
  return [{ dtype: x.dtype, shape }];
}

function padInfer(a: InferArgs): OutSpec[] {
  const x = first(a);
  const pads = a.constant(a.inputs[1]);
  let shape: Shape = null;
  if (x.shape && pads) {
    const r = x.shape.length;
    if (pads.length !== 2 * r) throw new ShapeError(`${a.where}: ${pads.length} pads for rank ${r}`);
    shape = x.shape.map((d, i) => (typeof d === 'number' ? d + pads[i]! + pads[i + r]! : null));
  }
  return [{ dtype: x.dtype, shape }];
}

function resizeInfer(a: InferArgs): OutSpec[] {
  const [x, , scales, sizes] = a.inputs as [Value, null, Value | null, Value | null | undefined];
  let shape: Shape = null;
  if (scales) {
    const s = a.constant(scales);
    if (x.shape && s && s.length !== x.shape.length) throw new ShapeError(`${a.where}: ${s.length} scales for rank ${x.shape.length}`);
    // As ONNX Runtime sizes the output: the float32 scale times the dim, in float32, truncated.
    shape = x.shape && s ? x.shape.map((d, i) => (typeof d === 'number' ? Math.floor(Math.fround(d * s[i]!)) : s[i] === 1 ? d : null)) : null;
  } else if (sizes) {
    // Sizes computed at run time still give the rank.
    shape = a.constant(sizes) ?? (sizes.shape && typeof sizes.shape[0] === 'number' ? Array(sizes.shape[0]).fill(null) : null);
  } else throw new Error(`${a.where}: give scales or sizes`);
  return [{ dtype: x.dtype, shape }];
}

function gridSampleInfer(a: InferArgs): OutSpec[] {
  const [x, grid] = a.inputs as [Value, Value];
  if (x.shape && x.shape.length !== 4) throw new ShapeError(`${a.where}: input ${fmt(x.shape)} must be [N, C, H, W]`);
  if (grid.shape && (grid.shape.length !== 4 || (typeof grid.shape[3] === 'number' && grid.shape[3] !== 2)))
    throw new ShapeError(`${a.where}: grid ${fmt(grid.shape)} must be [N, Ho, Wo, 2]`);
  if (x.shape && grid.shape && !sameDim(x.shape[0]!, grid.shape[0]!)) throw new ShapeError(`${a.where}: input ${fmt(x.shape)} and grid ${fmt(grid.shape)} differ in N`);
  const n = x.shape && typeof x.shape[0] === 'number' ? x.shape[0] : grid.shape ? grid.shape[0]! : null;
  return [{ dtype: x.dtype, shape: x.shape && grid.shape ? [n, x.shape[1]!, grid.shape[1]!, grid.shape[2]!] : null }];
}

function gemmInfer(a: InferArgs): OutSpec[] {
  const [x, w] = a.inputs as [Value, Value];
  const ta = attrNum(a.attrs, 'transA', 0), tb = attrNum(a.attrs, 'transB', 0);
  const shape = x.shape && w.shape ? [x.shape[ta ? 1 : 0]!, w.shape[tb ? 0 : 1]!] : null;
  return [{ dtype: x.dtype, shape }];
}

function layerNormInfer(a: InferArgs): OutSpec[] {
  const [x, scale] = a.inputs as [Value, Value];
  if (x.shape && scale.shape) {
    const ax = normAxis(attrNum(a.attrs, 'axis', -1), x.shape.length, a.where);
    const want = x.shape.slice(ax);
    if (want.length !== scale.shape.length || want.some((d, i) => typeof d === 'number' && typeof scale.shape![i] === 'number' && d !== scale.shape![i]))
      throw new ShapeError(`${a.where}: scale ${fmt(scale.shape)} does not match normalised dims ${fmt(want)}`);
  }
  return same(a);
}

/** 2·MACs of Conv: each output element takes Cin/group · kH · kW. */
function convFlops(n: NodeValues): number | null {
  const w = n.inputs[1]!;
  return w.shape && w.shape.every((d) => typeof d === 'number') ? 2 * numelOf(n.outputs[0]!) * (w.shape as number[]).slice(1).reduce((p, q) => p * q, 1) : null;
}

/** 2·MACs of ConvTranspose: each input element is spread over Cout/group · kH · kW outputs. */
function convTransposeFlops(n: NodeValues): number | null {
  const [x, w] = n.inputs as [Value, Value];
  const known = (v: Value) => v.shape !== null && v.shape.every((d) => typeof d === 'number');
  return known(x) && known(w) ? 2 * numelOf(x) * (w.shape as number[]).slice(1).reduce((p, q) => p * q, 1) : null;
}

/** 2·MACs of MatMul / Gemm: each output element takes K. */
function matmulFlops(n: NodeValues): number | null {
  const a = n.inputs[0]!;
  if (!a.shape || !a.shape.every((d) => typeof d === 'number')) return null;
  const k = n.node.opType === 'Gemm' && n.node.attrs['transA'] === 1 ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
  return 2 * numelOf(n.outputs[0]!) * (k as number);
}

const numelOf = (v: Value): number => (v.shape as number[]).reduce((p, q) => p * q, 1);

const REDUCE = { attrs: { keepdims: 'int', noop_with_empty_axes: 'int', axes: 'ints' }, infer: reduceInfer } as const;
const CONV_ATTRS = { auto_pad: 'string', dilations: 'ints', group: 'int', kernel_shape: 'ints', pads: 'ints', strides: 'ints' } as const;
const FREE = { flops: 'free' } as const;

export const OPS: Readonly<Record<string, OpDef>> = {
  Identity: { infer: same, ...FREE, vjp: VJP.Identity },
  Cast: {
    attrs: { to: 'int', saturate: 'int' },
    infer: (a) => {
      const to = DTYPE_OF_ONNX.get(attrNum(a.attrs, 'to', 0));
      if (!to) throw new Error(`${a.where}: unknown target type ${String(a.attrs['to'])}`);
      return [{ dtype: to, shape: first(a).shape }];
    },
    ...FREE,
    vjp: VJP.Cast,
  },
  Add: { infer: elementwise(), vjp: VJP.Add },
  Sub: { infer: elementwise(), vjp: VJP.Sub },
  Mul: { infer: elementwise(), vjp: VJP.Mul },
  Div: { infer: elementwise(), vjp: VJP.Div },
  Pow: { infer: elementwise(), vjp: VJP.Pow },
  Max: { infer: elementwise(), vjp: VJP.Max },
  Min: { infer: elementwise(), vjp: VJP.Min },
  Equal: { infer: elementwise('bool'), vjp: 'none' },
  Less: { infer: elementwise('bool'), vjp: 'none' },
  Greater: { infer: elementwise('bool'), vjp: 'none' },
  LessOrEqual: { infer: elementwise('bool'), vjp: 'none' },
  GreaterOrEqual: { infer: elementwise('bool'), vjp: 'none' },
  And: { infer: elementwise('bool'), vjp: 'none' },
  Or: { infer: elementwise('bool'), vjp: 'none' },
  Not: { infer: (a) => [{ dtype: 'bool', shape: first(a).shape }], vjp: 'none' },
  Where: {
    infer: (a) => [{ dtype: a.inputs[1]!.dtype, shape: broadcast(a.inputs.map((v) => v!.shape), a.where) }],
    vjp: VJP.Where,
  },
  Relu: { infer: same, vjp: VJP.Relu },
  Sigmoid: { infer: same, vjp: VJP.Sigmoid },
  Tanh: { infer: same, vjp: VJP.Tanh },
  Exp: { infer: same, vjp: VJP.Exp },
  Log: { infer: same, vjp: VJP.Log },
  Sqrt: { infer: same, vjp: VJP.Sqrt },
  Neg: { infer: same, vjp: VJP.Neg },
  Abs: { infer: same, vjp: VJP.Abs },
  Sign: { infer: same, vjp: 'none' },
  Erf: { infer: same, vjp: VJP.Erf },
  Sin: { infer: same, vjp: VJP.Sin },
  Cos: { infer: same, vjp: VJP.Cos },
  Reciprocal: { infer: same, vjp: VJP.Reciprocal },
  Clip: { infer: same, vjp: VJP.Clip },
  Softmax: { attrs: { axis: 'int' }, infer: same, vjp: VJP.Softmax },
  MatMul: { infer: (a) => [{ dtype: first(a).dtype, shape: matmulShape(a.inputs[0]!.shape, a.inputs[1]!.shape, a.where) }], flops: matmulFlops, vjp: VJP.MatMul },
  Gemm: { attrs: { alpha: 'float', beta: 'float', transA: 'int', transB: 'int' }, infer: gemmInfer, flops: matmulFlops, vjp: VJP.Gemm },
  Conv: { attrs: CONV_ATTRS, infer: convInfer, flops: convFlops, vjp: VJP.Conv },
  ConvTranspose: { attrs: { ...CONV_ATTRS, output_padding: 'ints', output_shape: 'ints' }, infer: convTransposeInfer, flops: convTransposeFlops },
  AveragePool: { attrs: { ...CONV_ATTRS, ceil_mode: 'int', count_include_pad: 'int' } },
  LayerNormalization: { attrs: { axis: 'int', epsilon: 'float', stash_type: 'int' }, infer: layerNormInfer },
  InstanceNormalization: { attrs: { epsilon: 'float' }, infer: same },
  Shape: { attrs: { start: 'int', end: 'int' }, infer: (a) => [{ dtype: 'int64', shape: [first(a).rank] }], ...FREE, vjp: 'none' },
  Reshape: { attrs: { allowzero: 'int' }, infer: reshapeInfer, ...FREE, vjp: VJP.Reshape },
  Transpose: {
    attrs: { perm: 'ints' },
    infer: (a) => {
      const x = first(a);
      const perm = attrInts(a.attrs, 'perm')!;
      if (x.shape && x.shape.length !== perm.length) throw new ShapeError(`${a.where}: perm ${fmt(perm)} for rank ${x.shape.length}`);
      return [{ dtype: x.dtype, shape: x.shape ? perm.map((p) => x.shape![p]!) : null }];
    },
    ...FREE,
    vjp: VJP.Transpose,
  },
  Concat: { attrs: { axis: 'int' }, infer: concatInfer, ...FREE, vjp: VJP.Concat },
  Split: { attrs: { axis: 'int', num_outputs: 'int' }, infer: splitInfer, ...FREE, vjp: VJP.Split },
  Slice: { infer: sliceInfer, ...FREE, vjp: VJP.Slice },
  Gather: { attrs: { axis: 'int' }, infer: gatherInfer, ...FREE },
  GatherND: { attrs: { batch_dims: 'int' } },
  Unsqueeze: { infer: unsqueezeInfer, ...FREE, vjp: VJP.Unsqueeze },
  Squeeze: { infer: squeezeInfer, ...FREE, vjp: VJP.Squeeze },
  Expand: { infer: expandInfer, ...FREE, vjp: VJP.Expand },
  Pad: { attrs: { mode: 'string' }, infer: padInfer, vjp: VJP.Pad },
  ReduceMean: { ...REDUCE, vjp: VJP.ReduceMean },
  ReduceSum: { ...REDUCE, vjp: VJP.ReduceSum },
  ReduceMax: { ...REDUCE, vjp: VJP.ReduceMax },
  ArgMax: { attrs: { axis: 'int', keepdims: 'int', select_last_index: 'int' }, infer: argReduceInfer, vjp: 'none' },
  ArgMin: { attrs: { axis: 'int', keepdims: 'int', select_last_index: 'int' }, infer: argReduceInfer, vjp: 'none' },
  Range: { vjp: 'none' },
  Resize: {
    attrs: {
      antialias: 'int', axes: 'ints', coordinate_transformation_mode: 'string', cubic_coeff_a: 'float', exclude_outside: 'int',
      extrapolation_value: 'float', keep_aspect_ratio_policy: 'string', mode: 'string', nearest_mode: 'string',
    },
    infer: resizeInfer,
    vjp: VJP.Resize,
  },
  GridSample: { attrs: { align_corners: 'int', mode: 'string', padding_mode: 'string' }, infer: gridSampleInfer },
};
