// Typed ONNX graph builder: values carry dtype and (where cheap) static shapes, nodes are named like module paths.
import { coerceData, dataToNumbers, makeData, ONNX_DTYPE, type DType, type TensorData } from './dtypes';
import { OPS, type InferArgs } from './ops';
import { fmt, isStatic, numel, ShapeError, type Dim, type Shape } from './shape';

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

  /**
   * Copies into this graph the nodes of `src` that `roots` (default: its outputs) depend on, with `feeds` standing
   * for inputs of `src` by name; an input not fed becomes an input here. Initializers are the same records, so
   * weights are shared, not copied (one included twice is written once). Gives this graph's value for a value of `src`.
   */
  include(src: GraphBuilder, feeds: Record<string, Value> = {}, roots: readonly Value[] = src.outputs): (v: Value) => Value {
    const needed = new Set(roots.map((v) => v.name));
    const keep = src.nodes.map(() => false);
    for (let k = src.nodes.length - 1; k >= 0; k--) {
      const n = src.nodes[k]!;
      if (!n.outputs.some((o) => needed.has(o))) continue;
      keep[k] = true;
      n.inputs.forEach((i) => needed.add(i));
    }
    const map = new Map<string, Value>();
    for (const v of src.inputs) {
      if (needed.has(v.name)) map.set(v.name, feeds[v.name] ?? this.input(v.name, v.dtype, v.shape!));
    }
    for (const r of src.initializers.values()) {
      if (!needed.has(r.name)) continue;
      const mine = this.initializers.get(r.name);
      map.set(r.name, mine?.source === r.source ? this.value(r.name) : this.initializer(this.uniq(r.name), r.source, r.dtype, r.shape, true));
    }
    src.nodes.forEach((n, k) => {
      if (!keep[k]) return;
      const ins = n.inputs.map((i) => (i ? map.get(i)! : null));
      const outs = this.emit(n.opType, ins, n.attrs, n.outputs.map((o) => src.value(o)), undefined, n.domain, n.name);
      n.outputs.forEach((o, i) => map.set(o, outs[i]!));
    });
    return (v) => {
      const m = map.get(v.name);
      if (!m) throw new Error(`${v.name} of graph '${src.name}' is not included in graph '${this.name}'`);
      return m;
    };
  }

  // ---- generic node -------------------------------------------------------------------------------------

  /**
   * Any operator. Without `outputs`, an operator of the table (ops.ts) gets its inferred outputs; any other gets
   * one output of the first input's dtype and unknown shape.
   */
  op(
    type: string,
    inputs: (Operand | null)[],
    attrs: Attrs = {},
    opts: { outputs?: number | OutSpec[]; domain?: string; name?: string } = {},
  ): Value[] {
    const ref = inputs.find((x): x is Value => x instanceof Value);
    const vals = inputs.map((x) => (typeof x === 'number' ? this.scalar(x, ref?.dtype ?? 'float32') : x));
    const domain = opts.domain ?? '';
    if (opts.outputs === undefined && domain === '' && OPS[type]?.infer) return this.node(type, vals, attrs, opts.name);
    const specs: OutSpec[] = Array.isArray(opts.outputs)
      ? opts.outputs
      : Array.from({ length: opts.outputs ?? 1 }, () => ({ dtype: ref?.dtype ?? 'float32', shape: null }));
    return this.emit(type, vals, attrs, specs, undefined, domain, opts.name);
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

  /** Output types of an operator of the table for these inputs and attributes (throws on a shape mismatch). */
  private infer(type: string, inputs: readonly (Value | null)[], attrs: Attrs): OutSpec[] {
    const def = OPS[type];
    if (!def?.infer) throw new Error(`${this.where(type)}: operator ${type} has no shape inference; give its outputs to op()`);
    const args: InferArgs = {
      inputs, attrs, where: this.where(type),
      constant: (v) => (v ? this.constValue(v) : undefined),
      measured: (v) => this.shapeOf.get(v.name),
    };
    return def.infer(args);
  }

  /** Emits an operator of the table with its inferred outputs. */
  private node(type: string, inputs: (Value | null)[], attrs: Attrs = {}, nodeName?: string): Value[] {
    const outs = this.emit(type, inputs, attrs, this.infer(type, inputs, attrs), undefined, '', nodeName);
    if (type === 'Shape') this.shapeOf.set(outs[0]!.name, inputs[0]!);
    return outs;
  }

  private one(type: string, inputs: (Value | null)[], attrs: Attrs = {}): Value {
    return this.node(type, inputs, attrs)[0]!;
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

  private binary(type: string, a: Operand, b: Operand): Value {
    return this.one(type, this.lift(a, b));
  }

  add(a: Operand, b: Operand): Value { return this.binary('Add', a, b); }
  sub(a: Operand, b: Operand): Value { return this.binary('Sub', a, b); }
  mul(a: Operand, b: Operand): Value { return this.binary('Mul', a, b); }
  div(a: Operand, b: Operand): Value { return this.binary('Div', a, b); }
  pow(a: Operand, b: Operand): Value { return this.binary('Pow', a, b); }
  max(a: Operand, b: Operand): Value { return this.binary('Max', a, b); }
  min(a: Operand, b: Operand): Value { return this.binary('Min', a, b); }
  equal(a: Operand, b: Operand): Value { return this.binary('Equal', a, b); }
  less(a: Operand, b: Operand): Value { return this.binary('Less', a, b); }
  greater(a: Operand, b: Operand): Value { return this.binary('Greater', a, b); }

  whereOp(cond: Value, a: Operand, b: Operand): Value {
    return this.one('Where', [cond, ...this.lift(a, b)]);
  }

  relu(x: Value): Value { return this.one('Relu', [x]); }
  sigmoid(x: Value): Value { return this.one('Sigmoid', [x]); }
  tanh(x: Value): Value { return this.one('Tanh', [x]); }
  exp(x: Value): Value { return this.one('Exp', [x]); }
  log(x: Value): Value { return this.one('Log', [x]); }
  sqrt(x: Value): Value { return this.one('Sqrt', [x]); }
  neg(x: Value): Value { return this.one('Neg', [x]); }
  abs(x: Value): Value { return this.one('Abs', [x]); }
  erf(x: Value): Value { return this.one('Erf', [x]); }
  sin(x: Value): Value { return this.one('Sin', [x]); }
  cos(x: Value): Value { return this.one('Cos', [x]); }
  reciprocal(x: Value): Value { return this.one('Reciprocal', [x]); }
  identity(x: Value): Value { return this.one('Identity', [x]); }
  clip(x: Value, lo?: number, hi?: number): Value {
    return this.one('Clip', [x, lo === undefined ? null : this.scalar(lo, x.dtype), hi === undefined ? null : this.scalar(hi, x.dtype)]);
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
    return this.one('Cast', [x], { to: ONNX_DTYPE[to] });
  }

  // ---- linear algebra / nn ------------------------------------------------------------------------------

  matmul(a: Value, b: Value): Value {
    return this.one('MatMul', this.lift(a, b));
  }

  conv(x: Value, w: Value, b: Value | null = null, o: ConvOptions = {}): Value {
    const sp = (w.rank ?? x.rank ?? 4) - 2;
    const strides = o.strides ?? Array(sp).fill(1);
    const pads = o.pads ?? Array(2 * sp).fill(0);
    const dilations = o.dilations ?? Array(sp).fill(1);
    const group = o.group ?? 1;
    return this.one('Conv', b ? [x, w, b] : [x, w], { strides, pads, dilations, group });
  }

  softmax(x: Value, axis = -1): Value { return this.one('Softmax', [x], { axis }); }

  layerNorm(x: Value, scale: Value, bias: Value | null, epsilon = 1e-5, axis = -1): Value {
    return this.one('LayerNormalization', bias ? [x, scale, bias] : [x, scale], { axis, epsilon: { float: epsilon } });
  }

  instanceNorm(x: Value, scale: Value, bias: Value, epsilon = 1e-5): Value {
    return this.one('InstanceNormalization', [x, scale, bias], { epsilon: { float: epsilon } });
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
    return this.one('Shape', [x]);
  }

  reshape(x: Value, target: readonly number[] | Value): Value {
    return this.one('Reshape', [x, target instanceof Value ? target : this.int64s(target)]);
  }

  transpose(x: Value, perm: number[]): Value {
    return this.one('Transpose', [x], { perm });
  }

  concat(xs: Value[], axis: number): Value {
    return this.one('Concat', xs, { axis });
  }

  split(x: Value, sizes: number[], axis = 0): Value[] {
    return this.node('Split', [x, this.int64s(sizes)], { axis });
  }

  slice(x: Value, starts: number[], ends: number[], axes?: number[], steps?: number[]): Value {
    const ax = axes ?? starts.map((_, i) => i);
    const st = steps ?? starts.map(() => 1);
    return this.one('Slice', [x, this.int64s(starts), this.int64s(ends), this.int64s(ax), this.int64s(st)]);
  }

  gather(x: Value, indices: Value | number[], axis = 0): Value {
    return this.one('Gather', [x, Array.isArray(indices) ? this.int64s(indices) : indices], { axis });
  }

  unsqueeze(x: Value, axes: number[]): Value {
    return this.one('Unsqueeze', [x, this.int64s(axes)]);
  }

  squeeze(x: Value, axes: number[]): Value {
    return this.one('Squeeze', [x, this.int64s(axes)]);
  }

  expand(x: Value, target: readonly number[] | Value): Value {
    return this.one('Expand', [x, target instanceof Value ? target : this.int64s(target)]);
  }

  pad(x: Value, pads: number[], mode: 'constant' | 'reflect' | 'edge' = 'constant', value = 0): Value {
    return this.one('Pad', [x, this.int64s(pads), this.scalar(value, x.dtype)], { mode });
  }

  private reduce(type: string, x: Value, axes: number[], keepdims: boolean): Value {
    // Opset 18 moved `axes` from an attribute to an input for every Reduce* op but ReduceSum (already in opset 13).
    const asInput = this.opset >= 18 || type === 'ReduceSum';
    const ins = asInput ? [x, this.int64s(axes)] : [x];
    const attrs: Attrs = asInput ? { keepdims: keepdims ? 1 : 0 } : { axes, keepdims: keepdims ? 1 : 0 };
    return this.one(type, ins, attrs);
  }

  reduceMean(x: Value, axes: number[], keepdims = true): Value { return this.reduce('ReduceMean', x, axes, keepdims); }
  reduceSum(x: Value, axes: number[], keepdims = true): Value { return this.reduce('ReduceSum', x, axes, keepdims); }
  reduceMax(x: Value, axes: number[], keepdims = true): Value { return this.reduce('ReduceMax', x, axes, keepdims); }

  argMax(x: Value, axis: number, keepdims = true): Value {
    return this.one('ArgMax', [x], { axis, keepdims: keepdims ? 1 : 0 });
  }

  resize(x: Value, o: ResizeOptions): Value {
    const scales = o.scales ? this.constant(o.scales, 'float32') : null;
    const sizes = o.scales || !o.sizes ? null : o.sizes instanceof Value ? o.sizes : this.int64s(o.sizes);
    const attrs: Attrs = {
      mode: o.mode ?? 'nearest',
      coordinate_transformation_mode: o.coordinateTransformationMode ?? 'half_pixel',
      nearest_mode: o.nearestMode ?? 'round_prefer_floor',
    };
    if (o.antialias) attrs['antialias'] = 1;
    return this.one('Resize', [x, null, scales, sizes], attrs);
  }

  /** torch's F.grid_sample on [N, C, H, W] with a grid [N, Ho, Wo, 2] of (x, y) in [-1, 1]: gives [N, C, Ho, Wo]. */
  gridSample(x: Value, grid: Value, o: GridSampleOptions = {}): Value {
    const mode = o.mode ?? 'bilinear';
    const attrs: Attrs = {
      mode: this.opset >= 20 ? ({ bilinear: 'linear', bicubic: 'cubic', nearest: 'nearest' } as const)[mode] : mode,
      padding_mode: o.paddingMode ?? 'zeros',
      align_corners: o.alignCorners ? 1 : 0,
    };
    return this.one('GridSample', [x, grid], attrs);
  }
}
