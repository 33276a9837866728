// Finite-difference check of the gradients the graph core emits: random inputs, the analytic directional derivative
// ⟨dL/dx, v⟩ against the central difference (L(x + h·v) − L(x − h·v)) / 2h along random unit directions v, with
// L = Σ seed·y for a random seed.
import * as ort from 'onnxruntime-node';
import { GraphBuilder, gradients, type Value } from '../../src/core/ml/graph';
import { rng } from '../helpers/random';

export interface GradCase {
  /** Shapes of the differentiated inputs. */
  inputs: number[][];
  build(g: GraphBuilder, xs: Value[]): Value;
  /** float64 by default; float32 only for operators ONNX Runtime's CPU provider runs in float32 alone. */
  dtype?: 'float64' | 'float32';
  /** Range of the random inputs (default [-1, 1]). */
  range?: [number, number];
  /**
   * The operator is linear in each checked input (Conv, Resize): the central difference is then exact at any step,
   * and a step of 1 keeps float32 rounding of the shifted inputs from swamping it.
   */
  linear?: boolean;
}

export interface GradCheck {
  /** Largest |fd − analytic| / max(|analytic|, 1e-3·‖dL/dx‖) over inputs and directions. */
  error: number;
  /** Gradient norms per input (a zero gradient would pass any check). */
  norms: number[];
}

const DIRECTIONS = 3;

export async function checkGradients(c: GradCase, seed = 1): Promise<GradCheck> {
  const dtype = c.dtype ?? 'float64';
  const h = c.linear ? 1 : dtype === 'float64' ? 1e-5 : 1e-2;
  const next = rng(seed);
  const [lo, hi] = c.range ?? [-1, 1];
  const g = new GraphBuilder('fd');
  const xs = c.inputs.map((s, i) => g.input(`x${i}`, dtype, s));
  const y = c.build(g, xs);
  const s = g.input('seed', dtype, y.dims());
  g.output(g.reduceSum(g.mul(y, s), y.dims().map((_, i) => i), false), 'L');
  const { grads } = gradients(g, [y], xs, [s]);
  grads.forEach((d, i) => g.output(d, `grad${i}`));
  const session = await ort.InferenceSession.create(g.toBytes());
  const rand = (n: number, a: number, b: number) => Float64Array.from({ length: n }, () => a + (b - a) * next());
  const tensor = (v: Float64Array, dims: number[]) => new ort.Tensor(dtype, dtype === 'float64' ? v : Float32Array.from(v), dims);
  const size = (shape: number[]) => shape.reduce((p, q) => p * q, 1);
  const x = c.inputs.map((sh) => rand(size(sh), lo, hi));
  const seedData = rand(size(y.dims()), -1, 1);
  const feeds = (vals: Float64Array[]) => ({
    seed: tensor(seedData, y.dims()),
    ...Object.fromEntries(vals.map((v, i) => [`x${i}`, tensor(v, c.inputs[i]!)])),
  });
  try {
    const at = await session.run(feeds(x));
    const grad = c.inputs.map((_, i) => Float64Array.from(at[`grad${i}`]!.data as Float32Array | Float64Array));
    const norms = grad.map((d) => Math.hypot(...d));
    let error = 0;
    for (let i = 0; i < x.length; i++) {
      for (let k = 0; k < DIRECTIONS; k++) {
        const v = rand(x[i]!.length, -1, 1);
        const n = Math.hypot(...v);
        v.forEach((e, j) => { v[j] = e / n; });
        const shifted = (sign: number) => x.map((xi, j) => (j === i ? xi.map((e, m) => e + sign * h * v[m]!) : xi));
        const plus = (await session.run(feeds(shifted(1))))['L']!.data[0] as number;
        const minus = (await session.run(feeds(shifted(-1))))['L']!.data[0] as number;
        const fd = (plus - minus) / (2 * h);
        const an = grad[i]!.reduce((p, e, m) => p + e * v[m]!, 0);
        error = Math.max(error, Math.abs(fd - an) / Math.max(Math.abs(an), 1e-3 * norms[i]!));
      }
    }
    return { error, norms };
  } finally {
    await session.release();
  }
}
