// Typed ONNX graph builder: values carry dtype and (where cheap) static shapes, nodes are named like module paths.
import { coerceData, dataToNumbers, makeData, ONNX_DTYPE, type DType, type TensorData } from './dtypes';
import {
  broadcast, convShape, fmt, isStatic, matmulShape, normAxis, numel, reshapeShape, sameDim, ShapeError, sliceDim,
  type Dim, type Shape,
} from './shape';

export { ShapeError };
export type { Dim, Shape };

export class Value {
  constructor(
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
  ) {}
  get rank(): number | null {
    return this.shape ? this.shape.length : null;
  }
  /** Static dims, or an error naming the value when a dim is not known at build time. */
  dims(): number[] {
    if (!isStatic(this.shape)) throw new ShapeError(`${this.name}: shape ${fmt(this.shape)} is not static`);
    return this.shape;
  }
}

export type Operand = Value | number;
/** Provider called only at serialisation, so big weights are never all in memory at once. */
export type TensorSource = TensorData | (() => TensorData);

export type AttrValue =
  | number | string | number[] | string[]
  | { float: number } | { floats: number[] } | { int: number } | { ints: number[] };
export type Attrs = Record<string, AttrValue | undefined>;

export interface NodeRecord {
  readonly opType: string;
  readonly domain: string;
  readonly name: string;
  readonly inputs: string[];
  readonly outputs: string[];
  readonly attrs: Attrs;
}

export interface InitializerRecord {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: number[];
  readonly source: TensorSource;
}

export interface OutSpec {
  dtype: DType;
  shape?: Shape;
}

export interface GraphBuilderOptions {
  opset?: number;
  /** Extra operator sets, e.g. { 'com.microsoft': 1 }. */
  extraOpsets?: Record<string, number>;
}

export interface ResizeOptions {
  scales?: number[];
  sizes?: number[] | Value;
  mode?: 'nearest' | 'linear' | 'cubic';
  coordinateTransformationMode?: 'half_pixel' | 'asymmetric' | 'align_corners' | 'pytorch_half_pixel' | 'tf_crop_and_resize' | 'half_pixel_symmetric';
  nearestMode?: 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil';
  antialias?: boolean;
}

export interface GridSampleOptions {
  /** torch's names; opset 20 renamed bilinear/bicubic to linear/cubic, which the builder writes from opset 20 on. */
  mode?: 'bilinear' | 'nearest' | 'bicubic';
  paddingMode?: 'zeros' | 'border' | 'reflection';
  alignCorners?: boolean;
}

export interface ConvOptions {
  strides?: number[];
  pads?: number[];
  dilations?: number[];
  group?: number;
}

import { saveModel, toBytes, type SaveOptions } from './serialize';

const SMALL_CONST = 64; // constants up to this many elements are cached and readable for inference

export class GraphBuilder {
  readonly opset: number;
  readonly extraOpsets: Record<string, number>;
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly nodes: NodeRecord[] = [];
  readonly initializers = new Map<string, InitializerRecord>();
  private readonly values = new Map<string, Value>();
  private readonly consts = new Map<string, TensorData>();
  private readonly constCache = new Map<string, Value>();
  private readonly scopes: string[] = [];
  private readonly used = new Set<string>();
  /** Shape-op output name -> the value it measures, so reshaping to it keeps that value's static dims. */
  private readonly shapeOf = new Map<string, Value>();

  constructor(readonly name: string, opts: GraphBuilderOptions = {}) {
    this.opset = opts.opset ?? 18;
    if (this.opset < 17) throw new Error(`opset ${this.opset} is not supported (need >= 17)`);
    this.extraOpsets = opts.extraOpsets ?? {};
  }

  /** The ModelProto bytes with every initializer inline (< 2 GB). */
  toBytes(): Uint8Array {
    return toBytes(this);
  }

  /** Writes the model; external data goes to `path + '.data'` (see SaveOptions). */
  save(path: string, opts?: SaveOptions): { external: boolean; dataPath?: string } {
    return saveModel(this, path, opts);
  }

  // ---- naming -------------------------------------------------------------------------------------------

  /** Runs fn with `name` appended to the module path used for node names (`a.b/Op`). */
  scope<T>(name: string | number, fn: () => T): T {
    this.scopes.push(String(name));
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  get currentScope(): string {
    return this.scopes.join('.');
  }

  private uniq(base: string): string {
    let n = base;
    for (let i = 1; this.used.has(n); i++) n = `${base}_${i}`;
    this.used.add(n);
    return n;
  }

  private scoped(op: string): string {
    const s = this.currentScope;
    return s ? `${s}/${op}` : op;
  }

  private claim(name: string, what: string): void {
    if (this.used.has(name)) throw new Error(`${what} name '${name}' is already used in graph '${this.name}'`);
    this.used.add(name);
  }

  value(name: string): Value {
    const v = this.values.get(name);
    if (!v) throw new Error(`no value named '${name}'`);
    return v;
  }

  /** The data of a small constant (initializer given eagerly), if known at build time. */
  constValue(v: Value): number[] | undefined {
    const d = this.consts.get(v.name);
    return d ? dataToNumbers(d) : undefined;
  }

  // ---- graph interface ----------------------------------------------------------------------------------

  input(name: string, dtype: DType, shape: Dim[]): Value {
    this.claim(name, 'input');
    const v = new Value(name, dtype, [...shape]);
    this.values.set(name, v);
    this.inputs.push(v);
    return v;
  }

  initializer(name: string, data: TensorSource, dtype: DType, shape: readonly number[], claimed = false): Value {
    if (!claimed) this.claim(name, 'initializer');
    let source = data;
    if (typeof data !== 'function') {
      source = coerceData(data, dtype);
      if (source.length !== numel([...shape]))
        throw new ShapeError(`initializer ${name}: ${source.length} elements do not fill shape ${fmt([...shape])}`);
      if (source.length <= SMALL_CONST) this.consts.set(name, source);
    }
    this.initializers.set(name, { name, dtype, shape: [...shape], source });
    const v = new Value(name, dtype, [...shape]);
    this.values.set(name, v);
    return v;
  }

  /** A small constant; identical small constants are shared. */
  constant(values: ArrayLike<number> | readonly number[], dtype: DType, shape?: readonly number[]): Value {
    const shp = shape ? [...shape] : [values.length];
    const key = `${dtype}|${shp.join(',')}|${Array.from(values as ArrayLike<number>).join(',')}`;
    const small = values.length <= SMALL_CONST;
    if (small) {
      const hit = this.constCache.get(key);
      if (hit) return hit;
    }
    // Shared constants live at the root: their first user's scope would mislead.
    const name = this.uniq(small ? `const_${dtype}` : this.scoped('Constant'));
    const v = this.initializer(name, makeData(dtype, values), dtype, shp, true);
    if (small) this.constCache.set(key, v);
    return v;
  }

  scalar(x: number, dtype: DType = 'float32'): Value {
    return this.constant([x], dtype, []);
  }

  int64s(values: readonly number[]): Value {
    return this.constant(values, 'int64');
  }

  output(v: Value, name?: string): Value {
    let out = v;
    if (name !== undefined && name !== v.name) {
      // Graph outputs need their own names; an Identity keeps the producing node's name intact.
      this.claim(name, 'output');
      out = this.emit('Identity', [v], {}, [{ dtype: v.dtype, shape: v.shape }], name)[0]!;
    }
    if (this.outputs.some((o) => o.name === out.name)) throw new Error(`output '${out.name}' declared twice`);
    this.outputs.push(out);
    return out;
  }

  // ---- generic node -------------------------------------------------------------------------------------

  /** Any operator. Output types default to the first input's dtype with unknown shape. */
  op(
    type: string,
    inputs: (Operand | null)[],
    attrs: Attrs = {},
    opts: { outputs?: number | OutSpec[]; domain?: string; name?: string } = {},
  ): Value[] {
    const ref = inputs.find((x): x is Value => x instanceof Value);
    const specs: OutSpec[] = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, () => ({ dtype: ref?.dtype ?? 'float32', shape: null }));
    const vals = inputs.map((x) => (typeof x === 'number' ? this.scalar(x, ref?.dtype ?? 'float32') : x));
    return this.emit(type, vals, attrs, specs, undefined, opts.domain ?? '', opts.name);
  }

  private emit(
    type: string, inputs: (Value | null)[], attrs: Attrs, outs: OutSpec[], outName?: string, domain = '', nodeName?: string,
  ): Value[] {
    const name = this.uniq(nodeName ?? this.scoped(type));
    const outputs = outs.map((o, i) => {
      const n = i === 0 ? (outName ?? name) : this.uniq(`${name}:${i}`);
      const v = new Value(n, o.dtype, o.shape === undefined ? null : o.shape);
      this.values.set(n, v);
      return v;
    });
    const names = inputs.map((x) => (x ? x.name : ''));
    while (names.length && names[names.length - 1] === '') names.pop(); // trailing optional inputs are omitted
    this.nodes.push({ opType: type, domain, name, inputs: names, outputs: outputs.map((v) => v.name), attrs });
    return outputs;
  }

  private one(type: string, inputs: (Value | null)[], attrs: Attrs, dtype: DType, shape: Shape): Value {
    return this.emit(type, inputs, attrs, [{ dtype, shape }])[0]!;
  }

  private where(op: string): string {
    return this.scoped(op);
  }

  private lift(a: Operand, b: Operand): [Value, Value] {
    if (a instanceof Value && b instanceof Value) {
      if (a.dtype !== b.dtype) throw new TypeError(`${this.where('')}: dtype mismatch ${a.name}:${a.dtype} vs ${b.name}:${b.dtype}`);
      return [a, b];
    }
    if (a instanceof Value) return [a, this.scalar(b as number, a.dtype)];
    if (b instanceof Value) return [this.scalar(a, b.dtype), b];
    throw new TypeError('at least one operand must be a Value');
  }

  // ---- elementwise --------------------------------------------------------------------------------------

  private binary(type: string, a: Operand, b: Operand, outDtype?: DType): Value {
    const [x, y] = this.lift(a, b);
    return this.one(type, [x, y], {}, outDtype ?? x.dtype, broadcast([x.shape, y.shape], this.where(type)));
  }

  add(a: Operand, b: Operand): Value { return this.binary('Add', a, b); }
  sub(a: Operand, b: Operand): Value { return this.binary('Sub', a, b); }
  mul(a: Operand, b: Operand): Value { return this.binary('Mul', a, b); }
  div(a: Operand, b: Operand): Value { return this.binary('Div', a, b); }
  pow(a: Operand, b: Operand): Value { return this.binary('Pow', a, b); }
  max(a: Operand, b: Operand): Value { return this.binary('Max', a, b); }
  min(a: Operand, b: Operand): Value { return this.binary('Min', a, b); }
  equal(a: Operand, b: Operand): Value { return this.binary('Equal', a, b, 'bool'); }
  less(a: Operand, b: Operand): Value { return this.binary('Less', a, b, 'bool'); }
  greater(a: Operand, b: Operand): Value { return this.binary('Greater', a, b, 'bool'); }

  whereOp(cond: Value, a: Operand, b: Operand): Value {
    const [x, y] = this.lift(a, b);
    return this.one('Where', [cond, x, y], {}, x.dtype, broadcast([cond.shape, x.shape, y.shape], this.where('Where')));
  }

  private unary(type: string, x: Value, attrs: Attrs = {}): Value {
    return this.one(type, [x], attrs, x.dtype, x.shape);
  }

  relu(x: Value): Value { return this.unary('Relu', x); }
  sigmoid(x: Value): Value { return this.unary('Sigmoid', x); }
  tanh(x: Value): Value { return this.unary('Tanh', x); }
  exp(x: Value): Value { return this.unary('Exp', x); }
  log(x: Value): Value { return this.unary('Log', x); }
  sqrt(x: Value): Value { return this.unary('Sqrt', x); }
  neg(x: Value): Value { return this.unary('Neg', x); }
  abs(x: Value): Value { return this.unary('Abs', x); }
  erf(x: Value): Value { return this.unary('Erf', x); }
  sin(x: Value): Value { return this.unary('Sin', x); }
  cos(x: Value): Value { return this.unary('Cos', x); }
  reciprocal(x: Value): Value { return this.unary('Reciprocal', x); }
  identity(x: Value): Value { return this.unary('Identity', x); }
  clip(x: Value, lo?: number, hi?: number): Value {
    const ins = [x, lo === undefined ? null : this.scalar(lo, x.dtype), hi === undefined ? null : this.scalar(hi, x.dtype)];
    return this.one('Clip', ins, {}, x.dtype, x.shape);
  }
  /** x * sigmoid(x). */
  silu(x: Value): Value { return this.mul(x, this.sigmoid(x)); }
  /** Exact GELU 0.5·x·(1 + erf(x/√2)), as torch's default. */
  gelu(x: Value): Value {
    return this.mul(this.mul(x, 0.5), this.add(this.erf(this.mul(x, Math.SQRT1_2)), 1));
  }
  /** CLIP's x·sigmoid(1.702x). */
  quickGelu(x: Value): Value { return this.mul(x, this.sigmoid(this.mul(x, 1.702))); }

  cast(x: Value, to: DType): Value {
    if (x.dtype === to) return x;
    return this.one('Cast', [x], { to: ONNX_DTYPE[to] }, to, x.shape);
  }

  // ---- linear algebra / nn ------------------------------------------------------------------------------

  matmul(a: Value, b: Value): Value {
    this.lift(a, b);
    return this.one('MatMul', [a, b], {}, a.dtype, matmulShape(a.shape, b.shape, this.where('MatMul')));
  }

  conv(x: Value, w: Value, b: Value | null = null, o: ConvOptions = {}): Value {
    const sp = (w.rank ?? x.rank ?? 4) - 2;
    const strides = o.strides ?? Array(sp).fill(1);
    const pads = o.pads ?? Array(2 * sp).fill(0);
    const dilations = o.dilations ?? Array(sp).fill(1);
    const group = o.group ?? 1;
    const shape = convShape(x.shape, w.shape, strides, pads, dilations, group, this.where('Conv'));
    if (b && b.shape && w.shape && b.shape[0] !== w.shape[0])
      throw new ShapeError(`${this.where('Conv')}: bias ${fmt(b.shape)} does not match weight ${fmt(w.shape)}`);
    const ins = b ? [x, w, b] : [x, w];
    return this.one('Conv', ins, { strides, pads, dilations, group }, x.dtype, shape);
  }

  softmax(x: Value, axis = -1): Value { return this.unary('Softmax', x, { axis }); }

  layerNorm(x: Value, scale: Value, bias: Value | null, epsilon = 1e-5, axis = -1): Value {
    if (x.shape && scale.shape) {
      const a = normAxis(axis, x.shape.length, this.where('LayerNormalization'));
      const want = x.shape.slice(a);
      if (want.length !== scale.shape.length || want.some((d, i) => typeof d === 'number' && typeof scale.shape![i] === 'number' && d !== scale.shape![i]))
        throw new ShapeError(`${this.where('LayerNormalization')}: scale ${fmt(scale.shape)} does not match normalised dims ${fmt(want)}`);
    }
    const ins = bias ? [x, scale, bias] : [x, scale];
    return this.emit('LayerNormalization', ins, { axis, epsilon: { float: epsilon } }, [{ dtype: x.dtype, shape: x.shape }])[0]!;
  }

  instanceNorm(x: Value, scale: Value, bias: Value, epsilon = 1e-5): Value {
    return this.one('InstanceNormalization', [x, scale, bias], { epsilon: { float: epsilon } }, x.dtype, x.shape);
  }

  /**
   * GroupNorm over [N, C, ...] decomposed into Reshape/ReduceMean so it runs on every opset and provider
   * (opset 18's GroupNormalization has per-group affine parameters, which is not torch's GroupNorm).
   * Variance is mean((x-mean)^2), the numerically safer two-pass form.
   */
  groupNorm(x: Value, groups: number, scale: Value | null, bias: Value | null, epsilon = 1e-5): Value {
    const where = this.where('GroupNorm');
    if (!x.shape || x.shape.length < 3) throw new ShapeError(`${where}: input ${fmt(x.shape)} must be [N, C, ...]`);
    const c = x.shape[1]!;
    if (typeof c === 'number' && c % groups !== 0) throw new ShapeError(`${where}: ${c} channels not divisible by ${groups} groups`);
    return this.scope('GroupNorm', () => {
      const g = this.reshape(x, [0, groups, -1]);
      const mean = this.reduceMean(g, [2], true);
      const d = this.sub(g, mean);
      const v = this.reduceMean(this.mul(d, d), [2], true);
      const n = this.div(d, this.sqrt(this.add(v, epsilon)));
      let y = this.reshape(n, isStatic(x.shape) ? x.shape : this.shape(x));
      const bshape = [-1, ...Array(x.shape!.length - 2).fill(1)];
      if (scale) y = this.mul(y, this.reshape(scale, bshape));
      if (bias) y = this.add(y, this.reshape(bias, bshape));
      return y;
    });
  }

  // ---- shape manipulation -------------------------------------------------------------------------------

  shape(x: Value): Value {
    if (isStatic(x.shape)) return this.int64s(x.shape);
    const s = this.one('Shape', [x], {}, 'int64', [x.rank]);
    this.shapeOf.set(s.name, x);
    return s;
  }

  reshape(x: Value, target: readonly number[] | Value): Value {
    const t = target instanceof Value ? target : this.int64s(target);
    const tv = this.constValue(t);
    // Reshaping back to the shape of another value (GroupNorm, attention tokens) gives that value's dims: without
    // this, a 1×1 feature map loses its size, since a broadcast against 1 cannot restore it.
    const like = this.shapeOf.get(t.name);
    const shape = tv
      ? reshapeShape(x.shape, tv, false, this.where('Reshape'))
      : like
        ? like.shape
        : t.shape && typeof t.shape[0] === 'number' ? Array(t.shape[0]).fill(null) : null;
    return this.one('Reshape', [x, t], {}, x.dtype, shape);
  }

  transpose(x: Value, perm: number[]): Value {
    if (x.shape && x.shape.length !== perm.length) throw new ShapeError(`${this.where('Transpose')}: perm ${fmt(perm)} for rank ${x.shape.length}`);
    return this.one('Transpose', [x], { perm }, x.dtype, x.shape ? perm.map((p) => x.shape![p]!) : null);
  }

  concat(xs: Value[], axis: number): Value {
    const where = this.where('Concat');
    if (xs.length === 0) throw new Error(`${where}: nothing to concatenate`);
    let shape: Shape = null;
    if (xs.every((x) => x.shape)) {
      const r = xs[0]!.shape!.length;
      const a = normAxis(axis, r, where);
      shape = [...xs[0]!.shape!];
      for (const x of xs.slice(1)) {
        if (x.shape!.length !== r) throw new ShapeError(`${where}: ranks differ ${xs.map((v) => fmt(v.shape)).join(', ')}`);
        if (x.dtype !== xs[0]!.dtype) throw new TypeError(`${where}: dtypes differ`);
        for (let i = 0; i < r; i++) {
          if (i === a) continue;
          const p = shape[i]!, q = x.shape![i]!;
          if (typeof p === 'number' && typeof q === 'number' && p !== q)
            throw new ShapeError(`${where}: shapes ${xs.map((v) => fmt(v.shape)).join(', ')} differ off axis ${axis}`);
        }
        const p = shape[a]!, q = x.shape![a]!;
        shape[a] = typeof p === 'number' && typeof q === 'number' ? p + q : null;
      }
    }
    return this.one('Concat', xs, { axis }, xs[0]!.dtype, shape);
  }

  split(x: Value, sizes: number[], axis = 0): Value[] {
    const where = this.where('Split');
    let shapes: Shape[] = sizes.map(() => null);
    if (x.shape) {
      const a = normAxis(axis, x.shape.length, where);
      const d = x.shape[a]!;
      const total = sizes.reduce((p, q) => p + q, 0);
      if (typeof d === 'number' && d !== total) throw new ShapeError(`${where}: sizes ${fmt(sizes)} do not sum to dim ${d} of ${fmt(x.shape)}`);
      shapes = sizes.map((s) => x.shape!.map((v, i) => (i === a ? s : v)));
    }
    return this.emit('Split', [x, this.int64s(sizes)], { axis }, shapes.map((s) => ({ dtype: x.dtype, shape: s })));
  }

  slice(x: Value, starts: number[], ends: number[], axes?: number[], steps?: number[]): Value {
    const ax = axes ?? starts.map((_, i) => i);
    const st = steps ?? starts.map(() => 1);
    let shape: Shape = null;
    if (x.shape) {
      shape = [...x.shape];
      ax.forEach((a, i) => {
        const k = normAxis(a, x.shape!.length, this.where('Slice'));
        shape![k] = sliceDim(x.shape![k]!, starts[i]!, ends[i]!, st[i]!);
      });
    }
    const ins = [x, this.int64s(starts), this.int64s(ends), this.int64s(ax), this.int64s(st)];
    return this.one('Slice', ins, {}, x.dtype, shape);
  }

  gather(x: Value, indices: Value | number[], axis = 0): Value {
    const idx = Array.isArray(indices) ? this.int64s(indices) : indices;
    let shape: Shape = null;
    if (x.shape && idx.shape) {
      const a = normAxis(axis, x.shape.length, this.where('Gather'));
      shape = [...x.shape.slice(0, a), ...idx.shape, ...x.shape.slice(a + 1)];
    }
    return this.one('Gather', [x, idx], { axis }, x.dtype, shape);
  }

  unsqueeze(x: Value, axes: number[]): Value {
    let shape: Shape = null;
    if (x.shape) {
      const r = x.shape.length + axes.length;
      const norm = axes.map((a) => normAxis(a, r, this.where('Unsqueeze'))).sort((p, q) => p - q);
      shape = [...x.shape];
      for (const a of norm) shape.splice(a, 0, 1);
    }
    return this.one('Unsqueeze', [x, this.int64s(axes)], {}, x.dtype, shape);
  }

  squeeze(x: Value, axes: number[]): Value {
    let shape: Shape = null;
    if (x.shape) {
      const norm = axes.map((a) => normAxis(a, x.shape!.length, this.where('Squeeze')));
      for (const a of norm) {
        const d = x.shape[a];
        if (typeof d === 'number' && d !== 1) throw new ShapeError(`${this.where('Squeeze')}: dim ${a} of ${fmt(x.shape)} is not 1`);
      }
      shape = x.shape.filter((_, i) => !norm.includes(i));
    }
    return this.one('Squeeze', [x, this.int64s(axes)], {}, x.dtype, shape);
  }

  expand(x: Value, target: readonly number[] | Value): Value {
    const t = target instanceof Value ? target : this.int64s(target);
    const tv = this.constValue(t);
    let shape = tv ? broadcast([x.shape, tv], this.where('Expand')) : null;
    const n = t.shape?.[0];
    if (!tv && x.shape && typeof n === 'number' && n >= x.shape.length) {
      // A target known only at run time: every dim of x known to be over 1 stays (broadcasting cannot change it).
      const lead = n - x.shape.length;
      shape = Array.from({ length: n }, (_, i) => {
        const d = i < lead ? null : x.shape![i - lead]!;
        return typeof d === 'number' && d > 1 ? d : null;
      });
    }
    return this.one('Expand', [x, t], {}, x.dtype, shape);
  }

  pad(x: Value, pads: number[], mode: 'constant' | 'reflect' | 'edge' = 'constant', value = 0): Value {
    let shape: Shape = null;
    if (x.shape) {
      const r = x.shape.length;
      if (pads.length !== 2 * r) throw new ShapeError(`${this.where('Pad')}: ${pads.length} pads for rank ${r}`);
      shape = x.shape.map((d, i) => (typeof d === 'number' ? d + pads[i]! + pads[i + r]! : null));
    }
    return this.one('Pad', [x, this.int64s(pads), this.scalar(value, x.dtype)], { mode }, x.dtype, shape);
  }

  private reduce(type: string, x: Value, axes: number[], keepdims: boolean): Value {
    let shape: Shape = null;
    if (x.shape) {
      const norm = axes.map((a) => normAxis(a, x.shape!.length, this.where(type)));
      shape = keepdims ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
    }
    // Opset 18 moved `axes` from an attribute to an input for every Reduce* op.
    const asInput = this.opset >= 18;
    const ins = asInput ? [x, this.int64s(axes)] : [x];
    const attrs: Attrs = asInput ? { keepdims: keepdims ? 1 : 0 } : { axes, keepdims: keepdims ? 1 : 0 };
    return this.one(type, ins, attrs, x.dtype, shape);
  }

  reduceMean(x: Value, axes: number[], keepdims = true): Value { return this.reduce('ReduceMean', x, axes, keepdims); }
  reduceSum(x: Value, axes: number[], keepdims = true): Value {
    // ReduceSum took axes as an input already in opset 13.
    let shape: Shape = null;
    if (x.shape) {
      const norm = axes.map((a) => normAxis(a, x.shape!.length, this.where('ReduceSum')));
      shape = keepdims ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
    }
    return this.one('ReduceSum', [x, this.int64s(axes)], { keepdims: keepdims ? 1 : 0 }, x.dtype, shape);
  }
  reduceMax(x: Value, axes: number[], keepdims = true): Value { return this.reduce('ReduceMax', x, axes, keepdims); }

  argMax(x: Value, axis: number, keepdims = true): Value {
    let shape: Shape = null;
    if (x.shape) {
      const a = normAxis(axis, x.shape.length, this.where('ArgMax'));
      shape = keepdims ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
    }
    return this.one('ArgMax', [x], { axis, keepdims: keepdims ? 1 : 0 }, 'int64', shape);
  }

  resize(x: Value, o: ResizeOptions): Value {
    const where = this.where('Resize');
    let shape: Shape = null;
    let scales: Value | null = null;
    let sizes: Value | null = null;
    if (o.scales) {
      if (x.shape && o.scales.length !== x.shape.length) throw new ShapeError(`${where}: ${o.scales.length} scales for rank ${x.shape.length}`);
      scales = this.constant(o.scales, 'float32');
      shape = x.shape ? x.shape.map((d, i) => (typeof d === 'number' ? Math.floor(d * o.scales![i]!) : o.scales![i] === 1 ? d : null)) : null;
    } else if (o.sizes) {
      sizes = o.sizes instanceof Value ? o.sizes : this.int64s(o.sizes);
      const sv = this.constValue(sizes);
      // Sizes computed at run time still give the rank.
      shape = sv ?? (sizes.shape && typeof sizes.shape[0] === 'number' ? Array(sizes.shape[0]).fill(null) : null);
    } else throw new Error(`${where}: give scales or sizes`);
    const attrs: Attrs = {
      mode: o.mode ?? 'nearest',
      coordinate_transformation_mode: o.coordinateTransformationMode ?? 'half_pixel',
      nearest_mode: o.nearestMode ?? 'round_prefer_floor',
    };
    if (o.antialias) attrs['antialias'] = 1;
    return this.one('Resize', [x, null, scales, sizes], attrs, x.dtype, shape);
  }

  /** torch's F.grid_sample on [N, C, H, W] with a grid [N, Ho, Wo, 2] of (x, y) in [-1, 1]: gives [N, C, Ho, Wo]. */
  gridSample(x: Value, grid: Value, o: GridSampleOptions = {}): Value {
    const where = this.where('GridSample');
    if (x.shape && x.shape.length !== 4) throw new ShapeError(`${where}: input ${fmt(x.shape)} must be [N, C, H, W]`);
    if (grid.shape && (grid.shape.length !== 4 || (typeof grid.shape[3] === 'number' && grid.shape[3] !== 2)))
      throw new ShapeError(`${where}: grid ${fmt(grid.shape)} must be [N, Ho, Wo, 2]`);
    if (x.shape && grid.shape && !sameDim(x.shape[0]!, grid.shape[0]!)) throw new ShapeError(`${where}: input ${fmt(x.shape)} and grid ${fmt(grid.shape)} differ in N`);
    const n = x.shape && typeof x.shape[0] === 'number' ? x.shape[0] : grid.shape ? grid.shape[0]! : null;
    const shape = x.shape && grid.shape ? [n, x.shape[1]!, grid.shape[1]!, grid.shape[2]!] : null;
    const mode = o.mode ?? 'bilinear';
    const attrs: Attrs = {
      mode: this.opset >= 20 ? ({ bilinear: 'linear', bicubic: 'cubic', nearest: 'nearest' } as const)[mode] : mode,
      padding_mode: o.paddingMode ?? 'zeros',
      align_corners: o.alignCorners ? 1 : 0,
    };
    return this.one('GridSample', [x, grid], attrs, x.dtype, shape);
  }
}

