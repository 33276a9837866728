import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, gradients } from '../../src/core/ml/graph';
import { batchNormTrain, bilateralBlur, bilateralWeights, PEEKABOO_BILATERAL } from '../../src/core/ml/models/peekaboo';
import { checkGradients, type GradCase } from './autodiff.helpers';

/**
 * float64: h = 1e-5, so truncation (h²) and rounding (ε/h) errors stay near 1e-10. float32 (operators ONNX Runtime's
 * CPU provider has no float64 kernels for): a step of 1 on the linear ones, 1e-2 on Erf (truncation ~1e-4).
 */
const BOUND = { float64: 1e-6, float32: 2e-4 };

/** A weight of fixed values (the inputs are what is checked). */
const w = (g: GraphBuilder, shape: number[], dtype: 'float64' | 'float32', f = (i: number) => Math.sin(i * 1.7 + 0.3)) =>
  g.initializer(`w${g.initializers.size}`, Float64Array.from({ length: shape.reduce((p, q) => p * q, 1) }, (_, i) => f(i)), dtype, shape);

const CASES: Record<string, GradCase> = {
  'Add with broadcasting': { inputs: [[2, 3, 4], [3, 1]], build: (g, [a, b]) => g.add(a!, b!) },
  'Sub with broadcasting': { inputs: [[2, 3], [3]], build: (g, [a, b]) => g.sub(a!, b!) },
  'Mul with broadcasting': { inputs: [[2, 3, 4], [1, 4]], build: (g, [a, b]) => g.mul(a!, b!) },
  Div: { inputs: [[3, 4], [3, 4]], range: [0.5, 2], build: (g, [a, b]) => g.div(a!, b!) },
  Pow: { inputs: [[3, 4], [3, 4]], range: [0.5, 2], build: (g, [a, b]) => g.pow(a!, b!) },
  'Pow by a constant': { inputs: [[5]], range: [0.5, 2], build: (g, [a]) => g.pow(a!, 3) },
  'Max and Min': { inputs: [[4, 5], [4, 5]], build: (g, [a, b]) => g.add(g.max(a!, b!), g.mul(g.min(a!, b!), 2)) },
  Neg: { inputs: [[6]], build: (g, [a]) => g.neg(a!) },
  Sqrt: { inputs: [[6]], range: [0.5, 2], build: (g, [a]) => g.sqrt(a!) },
  Exp: { inputs: [[6]], build: (g, [a]) => g.exp(a!) },
  Log: { inputs: [[6]], range: [0.5, 2], build: (g, [a]) => g.log(a!) },
  Reciprocal: { inputs: [[6]], range: [0.5, 2], build: (g, [a]) => g.reciprocal(a!) },
  Abs: { inputs: [[6]], build: (g, [a]) => g.abs(a!) },
  Sigmoid: { inputs: [[6]], build: (g, [a]) => g.sigmoid(a!) },
  Tanh: { inputs: [[6]], build: (g, [a]) => g.tanh(a!) },
  Relu: { inputs: [[20]], build: (g, [a]) => g.relu(a!) },
  SiLU: { inputs: [[20]], build: (g, [a]) => g.silu(a!) },
  Sin: { inputs: [[6]], build: (g, [a]) => g.sin(a!) },
  Cos: { inputs: [[6]], build: (g, [a]) => g.cos(a!) },
  Erf: { inputs: [[6]], dtype: 'float32', build: (g, [a]) => g.erf(a!) },
  Clip: { inputs: [[20]], build: (g, [a]) => g.clip(a!, -0.5, 0.4) },
  'Where and comparisons': { inputs: [[3, 4], [3, 4]], build: (g, [a, b]) => g.whereOp(g.less(a!, b!), g.mul(a!, b!), g.sub(a!, 1)) },
  Softmax: { inputs: [[2, 3, 5]], build: (g, [a]) => g.softmax(a!, 1) },
  MatMul: { inputs: [[2, 3, 4], [4, 5]], build: (g, [a, b]) => g.matmul(a!, b!) },
  'MatMul of batches': { inputs: [[2, 1, 3, 4], [3, 4, 2]], build: (g, [a, b]) => g.matmul(a!, b!) },
  Gemm: { inputs: [[3, 4], [5, 4], [5]], build: (g, [a, b, c]) => g.op('Gemm', [a!, b!, c!], { alpha: 0.7, beta: 1.3, transB: 1 })[0]! },
  'Gemm transposing A': { inputs: [[4, 3], [4, 5]], build: (g, [a, b]) => g.op('Gemm', [a!, b!], { transA: 1 })[0]! },
  Conv: { dtype: 'float32', linear: true, inputs: [[2, 3, 7, 6], [4, 3, 3, 3], [4]], build: (g, [x, k, b]) => g.conv(x!, k!, b!, { pads: [1, 1, 1, 1] }) },
  'Conv strided, padded right/bottom': { dtype: 'float32', linear: true, inputs: [[1, 2, 8, 8], [3, 2, 3, 3]], build: (g, [x, k]) => g.conv(x!, k!, null, { strides: [2, 2], pads: [0, 0, 1, 1] }) },
  'Conv strided, skipping a row': { dtype: 'float32', linear: true, inputs: [[1, 2, 8, 7], [3, 2, 3, 3]], build: (g, [x, k]) => g.conv(x!, k!, null, { strides: [2, 2] }) },
  'Conv dilated, padded unevenly': { dtype: 'float32', linear: true, inputs: [[1, 2, 9, 8], [3, 2, 3, 3]], build: (g, [x, k]) => g.conv(x!, k!, null, { dilations: [2, 2], pads: [2, 1, 0, 3] }) },
  'Conv 1×1': { dtype: 'float32', linear: true, inputs: [[1, 5, 4, 4], [6, 5, 1, 1], [6]], build: (g, [x, k, b]) => g.conv(x!, k!, b!) },
  'Conv 1×1, a batch of 2': { dtype: 'float32', linear: true, inputs: [[2, 5, 3, 4], [6, 5, 1, 1], [6]], build: (g, [x, k, b]) => g.conv(x!, k!, b!) },
  'Conv grouped (input)': { dtype: 'float32', linear: true, inputs: [[1, 4, 5, 5]], build: (g, [x]) => g.conv(x!, w(g, [4, 2, 3, 3], 'float32'), null, { group: 2, pads: [1, 1, 1, 1] }) },
  GroupNorm: { inputs: [[2, 4, 3, 3]], build: (g, [x]) => g.groupNorm(x!, 2, w(g, [4], 'float64'), w(g, [4], 'float64', (i) => i / 3), 1e-6) },
  'BatchNorm with batch statistics (input, weight, bias)': {
    inputs: [[1, 3, 4, 5], [3], [3]], build: (g, [x, w, b]) => batchNormTrain(g, x!, w!, b!).y,
  },
  'bilateral blur, 3 passes': {
    inputs: [[2, 5, 6]],
    build: (g, [x]) => bilateralBlur(g, x!, bilateralWeights(g, w(g, [3, 5, 6], 'float64', (i) => (i % 7) / 7), { ...PEEKABOO_BILATERAL, tolerance: 0.3 }), 3),
  },
  Reshape: { inputs: [[2, 6]], build: (g, [x]) => g.mul(g.reshape(x!, [3, 4]), w(g, [3, 4], 'float64')) },
  Transpose: { inputs: [[2, 3, 4]], build: (g, [x]) => g.mul(g.transpose(x!, [2, 0, 1]), w(g, [4, 2, 3], 'float64')) },
  'Slice, Pad': { inputs: [[4, 6]], build: (g, [x]) => g.pad(g.slice(x!, [1, -5], [3, 100], [0, 1]), [1, 0, 0, 2]) },
  'Concat, Split': { inputs: [[2, 3], [2, 2]], build: (g, [a, b]) => { const [p, q] = g.split(g.concat([a!, b!], 1), [1, 4], 1); return g.concat([q!, g.mul(p!, 3)], 1); } },
  'Split with an unused part': { inputs: [[2, 5]], build: (g, [a]) => g.split(a!, [2, 3], 1)[1]! },
  'Expand, Unsqueeze, Squeeze': { inputs: [[3]], build: (g, [a]) => g.squeeze(g.expand(g.unsqueeze(a!, [0, 2]), [2, 3, 4]), []) },
  ReduceSum: { inputs: [[2, 3, 4]], build: (g, [a]) => g.reduceSum(a!, [0, 2], false) },
  ReduceMean: { inputs: [[2, 3, 4]], build: (g, [a]) => g.reduceMean(a!, [1], true) },
  ReduceMax: { inputs: [[3, 5]], build: (g, [a]) => g.reduceMax(a!, [1], false) },
  'Resize linear ×2 (half_pixel)': { dtype: 'float32', linear: true, inputs: [[1, 2, 4, 5]], build: (g, [a]) => g.resize(a!, { sizes: [1, 2, 8, 10], mode: 'linear' }) },
  'Resize linear down (align_corners)': { dtype: 'float32', linear: true, inputs: [[1, 1, 7, 6]], build: (g, [a]) => g.resize(a!, { sizes: [1, 1, 3, 4], mode: 'linear', coordinateTransformationMode: 'align_corners' }) },
  'Resize nearest ×2': { dtype: 'float32', linear: true, inputs: [[1, 2, 3, 4]], build: (g, [a]) => g.resize(a!, { scales: [1, 1, 2, 2], mode: 'nearest', coordinateTransformationMode: 'asymmetric', nearestMode: 'floor' }) },
};

describe('gradients by finite differences', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(name, async () => {
      const r = await checkGradients(c);
      expect(r.norms.every((n) => n > 1e-3)).toBe(true);
      expect(r.error).toBeLessThan(BOUND[c.dtype ?? 'float64']);
    });
  }
});

async function run(g: GraphBuilder, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(g.toBytes());
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}
const f64 = (...v: number[]) => Float64Array.from(v);
const values = (t: ort.Tensor | undefined) => Array.from(t!.data as Float64Array);

describe('gradients', () => {
  it('takes an injected gradient as the seed, sums fan-out and stops where told', async () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float64', [3]);
    const seed = g.input('seed', 'float64', [3]);
    const sq = g.mul(x, x); // x used twice
    const held = g.mul(x, 10); // stopped: a constant to the backward
    const y = g.add(g.mul(sq, held), x);
    const { grads } = gradients(g, [y], [x], [seed], { stop: [held] });
    g.output(grads[0]!, 'dx');
    const r = await run(g, { x: new ort.Tensor('float64', f64(1, 2, -1), [3]), seed: new ort.Tensor('float64', f64(1, 0.5, 2), [3]) });
    // d/dx (x² · c + x) with c = 10x held fixed: 2x·c + 1 = 20x² + 1, times the seed
    expect(values(r['dx'])).toEqual([21, 40.5, 42]);
  });

  it('differentiates only the path from wrt to the outputs and gives zeros to an input no path leaves', async () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float64', [2]);
    const u = g.input('u', 'float64', [2]);
    const y = g.mul(x, 3);
    // Off the path: an operator without a gradient rule that only u feeds.
    g.output(g.op('HardSwish', [u], {}, { outputs: [{ dtype: 'float64', shape: [2] }] })[0]!, 'side');
    const before = g.nodes.length;
    const { grads } = gradients(g, [y], [x, u], [1]);
    expect(g.nodes.slice(before).filter((n) => n.name.startsWith('grad.') && n.opType === 'Mul')).toHaveLength(1);
    g.output(grads[0]!, 'dx');
    g.output(grads[1]!, 'du');
    const r = await run(g, { x: new ort.Tensor('float64', f64(1, 2), [2]), u: new ort.Tensor('float64', f64(5, 6), [2]) });
    expect(values(r['dx'])).toEqual([3, 3]);
    expect(values(r['du'])).toEqual([0, 0]);
  });

  it('takes a 1×1 Conv\'s weight gradient as one matrix product over the pixels, not a Conv with an image-sized kernel', () => {
    // Run as a convolution, the weight gradient is one matrix-vector product per input channel, each reading the
    // whole image-sized gradient: several times the forward's cost on the Peekaboo MLP.
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float32', [1, 8, 64, 64]);
    const k = g.input('k', 'float32', [4, 8, 1, 1]);
    const y = g.conv(x, k);
    const before = g.nodes.length;
    const { grads } = gradients(g, [y], [k], [1]);
    const backward = g.nodes.slice(before).map((n) => n.opType);
    expect(backward.filter((op) => op === 'Conv' || op === 'Transpose')).toEqual([]);
    expect(backward.filter((op) => op === 'Gemm')).toHaveLength(1);
    expect(grads[0]!.shape).toEqual([4, 8, 1, 1]);
  });

  it('names the node whose operator has no gradient rule', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float64', [2]);
    const y = g.scope('head', () => g.op('HardSwish', [x], {}, { outputs: [{ dtype: 'float64', shape: [2] }] })[0]!);
    expect(() => gradients(g, [y], [x], [1])).toThrow('gradients: no gradient rule for HardSwish (node head/HardSwish)');
  });

  it('refuses a seed whose shape or type is not its output\'s', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float64', [2, 3]);
    const y = g.scope('head', () => g.mul(x, 2));
    expect(() => gradients(g, [y], [x], [g.input('s', 'float64', [3, 2])])).toThrow('gradients: seed s float64[3,2] does not match output head/Mul float64[2,3]');
    expect(() => gradients(g, [y], [x], [g.input('t', 'float32', [2, 3])])).toThrow(/seed t float32\[2,3\] does not match/);
  });

  it('refuses integer values as outputs or wrt', () => {
    const g = new GraphBuilder('t');
    const x = g.input('x', 'float64', [2]);
    expect(() => gradients(g, [g.argMax(x, 0)], [x], [1])).toThrow(/ArgMax.* is int64, not a floating-point value/);
  });

  it('emits into a new model that shares the weights of the forward graph', async () => {
    const g = new GraphBuilder('forward');
    const x = g.input('x', 'float64', [2, 2]);
    const weights = f64(1, 2, 3, 4);
    const m = g.initializer('m', weights, 'float64', [2, 2]);
    g.output(g.matmul(x, m), 'y');
    const b = new GraphBuilder('backward');
    const { grads, value } = gradients(g, [g.value('y')], [x, m], [1], { into: b });
    expect(b.initializers.get('m')!.source).toBe(weights);
    expect(g.nodes.some((n) => n.name.startsWith('grad'))).toBe(false);
    b.output(value(g.value('y')), 'y');
    b.output(grads[0]!, 'dx');
    b.output(grads[1]!, 'dm');
    const r = await run(b, { x: new ort.Tensor('float64', f64(1, 0, 0, 2), [2, 2]) });
    expect(values(r['y'])).toEqual([1, 2, 6, 8]);
    expect(values(r['dx'])).toEqual([3, 7, 3, 7]); // row sums of m
    expect(values(r['dm'])).toEqual([1, 1, 2, 2]); // column sums of x, repeated
  });
});
