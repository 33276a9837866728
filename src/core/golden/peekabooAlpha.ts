// Peekaboo's learnable alpha image (models/peekaboo): the bilateral weights and blur, the Fourier-feature MLP with
// batch-statistics BatchNorm or the raster image, alpha, the composite, and the gradients of Σ g·alpha and of Σ alpha
// (the "gravity" term) with respect to every trainable parameter, from backward graphs (graph/autodiff.ts).
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { GraphBuilder, gradients, type Value } from '../ml/graph';
import {
  bilateralBlur, bilateralWeights, blurredAlpha, composite, fourierFeatures, fourierMlp, gaussianKernel, type BilateralOptions,
} from '../ml/models/peekaboo';
import { SafetensorsFile } from '../ml/weights';
import { compareValues, dot, exactCheck, floatTensor, maxAbs, ReferenceOutputs, runGraph, type GoldenKind } from './compare';

const int = z.number().int().positive();
const Blur = z.object({ kernel_size: int, tolerance: z.number(), sigma: z.number(), iterations: int });
const Variant = z.object({
  height: int, width: int, num_channels: int,
  num_features: int.nullable(),
  bilateral_kwargs: Blur,
  trainable_parameters: z.array(z.string()).min(1),
  files: z.object({ params: z.string(), inputs: z.string(), outputs: z.string() }),
  finite_differences: z.object({ rows: z.array(z.object({ param: z.string(), index: z.array(z.number().int()) })) }),
});
const Manifest = z.object({
  cases: z.record(z.string(), z.object({ variants: z.record(z.string(), Variant), blur_class_defaults: Blur.extend({ file: z.string() }) })),
});

/**
 * The case README's suggested tolerances for a float32 re-implementation, relative to each tensor's max |value|:
 * forward values 2e-5 (alpha, composite), gradients of Σ g·alpha 2e-4, of Σ alpha 2e-3 (cancellation-dominated
 * where a per-channel shift feeds a BatchNorm).
 */
const FORWARD = 2e-5, GRAD = 2e-4, GRAD_SUM = 2e-3;

const blurOptions = (b: z.infer<typeof Blur>): BilateralOptions => ({ kernelSize: b.kernel_size, tolerance: b.tolerance, sigma: b.sigma, iterations: b.iterations });
const f32 = (v: ArrayLike<number>, dims: readonly number[]) => new ort.Tensor('float32', Float32Array.from(v), dims);

export const peekabooAlphaKind: GoldenKind = {
  title: "Peekaboo's learnable alpha image and its parameter gradients",
  async check(dir, manifest) {
    const parsed = Manifest.safeParse(manifest);
    if (!parsed.success) throw new Error(`${join(dir, 'manifest.json')}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const checks = [];
    for (const c of Object.values(parsed.data.cases)) {
      for (const [name, v] of Object.entries(c.variants)) checks.push(...(await checkVariant(dir, name, v)));
      checks.push(...(await checkClassDefaults(dir, c.blur_class_defaults)));
    }
    return checks;
  },
};

async function checkVariant(dir: string, variant: string, v: z.infer<typeof Variant>) {
  const params = SafetensorsFile.open(join(dir, v.files.params));
  const inp = SafetensorsFile.open(join(dir, v.files.inputs));
  const ref = new ReferenceOutputs(SafetensorsFile.open(join(dir, v.files.outputs)), `${variant}/`);
  const { height: H, width: W, num_channels: C } = v;
  const blur = blurOptions(v.bilateral_kwargs);

  const g = new GraphBuilder(`peekaboo_alpha_${variant}`);
  const guide = g.input('guide_image', 'float32', [3, H, W]);
  const weights = g.output(bilateralWeights(g, guide, blur), 'bilateral_weights');
  g.output(bilateralBlur(g, guide, weights, blur.iterations), 'blurred_guide');
  const param = (n: string): Value => (g.initializers.has(n) ? g.value(n) : g.initializer(n, params.readFloat32(n), 'float32', params.info(n).shape));
  let logit: Value;
  let stats: { name: string; mean: Value; variance: Value }[] = [];
  if (v.num_features === null) logit = param('image');
  else {
    const mlp = g.scope('mlp', () => fourierMlp(g, param('features'), param));
    logit = g.reshape(mlp.out, [C, H, W]);
    stats = mlp.batchStats;
    stats.forEach((s) => { g.output(s.mean, `${s.name}.batch_mean`); g.output(s.variance, `${s.name}.batch_var`); });
  }
  g.output(logit, 'pre_blur');
  const { preSigmoid, alpha } = blurredAlpha(g, logit, weights, blur.iterations);
  g.output(preSigmoid, 'pre_sigmoid');
  g.output(alpha, 'alpha');
  const comp = g.output(composite(g, guide, alpha, g.input('background_color', 'float32', [3])), 'composite');
  const trainable = v.trainable_parameters.map(param);
  const seed = g.input('g_alpha', 'float32', [C, H, W]);
  gradients(g, [alpha], trainable, [seed]).grads.forEach((d, i) => g.output(d, `grad.${v.trainable_parameters[i]}`));
  gradients(g, [alpha], trainable, [1]).grads.forEach((d, i) => g.output(d, `grad_sum_alpha.${v.trainable_parameters[i]}`));
  g.output(gradients(g, [comp], [alpha], [g.input('g_composite', 'float32', [3, H, W])]).grads[0]!, 'dL_composite_dalpha');

  const r = await runGraph(g, Object.fromEntries(['guide_image', 'background_color', 'g_alpha', 'g_composite'].map((k) => [k, floatTensor(inp, k)])));
  const within = (rel: number, ref2: string) => rel * Math.max(1, maxAbs(ref.file.readFloat32(ref2)));
  for (const k of ['bilateral_weights', 'blurred_guide', 'pre_blur', 'pre_sigmoid', 'alpha', 'composite', 'dL_composite_dalpha']) ref.tensor(r[k], k, within(FORWARD, k));
  ref.tensor(r['alpha'], 'alpha_f64run', within(FORWARD, 'alpha_f64run'));
  const ga = inp.readFloat32('g_alpha'), gc = inp.readFloat32('g_composite');
  // A loss Σ g·x with random g: rounding errors of x up to the forward tolerance, independent of g, move it by
  // about that tolerance times ‖g‖₂.
  const loss = (name: string, value: number, g1: Float32Array) =>
    ref.add(compareValues(`${variant}/${name}`, f32([value], [1]), { data: ref.file.readFloat32(name), dims: [1] }, FORWARD * Math.sqrt(dot(g1, g1))), name);
  loss('L', dot(ga, r['alpha']!.data as Float32Array), ga);
  loss('L_f64run', dot(ga, r['alpha']!.data as Float32Array), ga);
  loss('L_composite', dot(gc, r['composite']!.data as Float32Array), gc);
  for (const p of v.trainable_parameters) {
    for (const [out, rel] of [['grad', GRAD], ['grad_f64run', GRAD], ['grad_sum_alpha', GRAD_SUM], ['grad_sum_alpha_f64run', GRAD_SUM]] as const) {
      const k = `${out}.${p}`;
      ref.tensor(r[`${out.replace('_f64run', '')}.${p}`], k, within(rel, k));
    }
  }
  // torch's finite differences of Σ g·alpha at single parameter elements, and its float64 autograd there.
  const rows = v.finite_differences.rows;
  for (const k of ['fd_value', 'fd_autograd_f64']) {
    const want = ref.file.readFloat32(k);
    rows.forEach((row, i) => {
      const shape = params.info(row.param).shape;
      const flat = row.index.reduce((a, x, d) => a * shape[d]! + x, 0);
      const ours = (r[`grad.${row.param}`]!.data as Float32Array)[flat]!;
      ref.add(compareValues(`${variant}/${k}[${i}] ${row.param}[${row.index.join(',')}]`, f32([ours], [1]), { data: [want[i]!], dims: [1] }, within(GRAD, `grad_f64run.${row.param}`)), k);
    });
  }
  // The running statistics one train-mode forward leaves behind (momentum 0.1, unbiased variance); they never reach alpha.
  const n = H * W;
  for (const s of stats) {
    const mean = r[`${s.name}.batch_mean`]!.data as Float32Array, variance = r[`${s.name}.batch_var`]!.data as Float32Array;
    const rm = params.readFloat32(`${s.name}.running_mean`), rv = params.readFloat32(`${s.name}.running_var`);
    ref.tensor(f32(rm.map((x, i) => 0.9 * x + 0.1 * mean[i]!), [rm.length]), `after_forward.${s.name}.running_mean`, within(FORWARD, `after_forward.${s.name}.running_mean`));
    ref.tensor(f32(rv.map((x, i) => 0.9 * x + 0.1 * variance[i]! * (n / (n - 1))), [rv.length]), `after_forward.${s.name}.running_var`, within(FORWARD, `after_forward.${s.name}.running_var`));
    const before = params.readRaw(`${s.name}.num_batches_tracked`).data as BigInt64Array;
    const after = ref.file.readRaw(`after_forward.${s.name}.num_batches_tracked`).data as BigInt64Array;
    ref.add(exactCheck(`${variant}/after_forward.${s.name}.num_batches_tracked`, [...after], (x, i) => (x === before[i]! + 1n ? undefined : `${x} after ${before[i]}`)), `after_forward.${s.name}.num_batches_tracked`);
  }
  const kernel = inp.readFloat32('bilateral_gaussian_kernel');
  const checks = ref.checks();
  checks.push(compareValues(`${variant}/bilateral_gaussian_kernel`, f32(gaussianKernel(blur.kernelSize, blur.sigma), [blur.kernelSize, blur.kernelSize]), { data: kernel, dims: inp.info('bilateral_gaussian_kernel').shape }, 1e-7));
  if (v.num_features !== null) {
    // The stored features are what the graph reads; recomputed in float64 from freqs they agree to ~3e-5 (README).
    const ours = fourierFeatures(params.readFloat32('feature_extractor.freqs'), v.num_features, H, W);
    checks.push(compareValues(`${variant}/features (from freqs)`, f32(ours, params.info('features').shape), { data: params.readFloat32('features'), dims: params.info('features').shape }, 1e-4));
  }
  return checks;
}

/** BilateralProxyBlur's class defaults (kernel 5, 10 iterations) on a random image. */
async function checkClassDefaults(dir: string, b: z.infer<typeof Blur> & { file: string }) {
  const f = SafetensorsFile.open(join(dir, b.file));
  const ref = new ReferenceOutputs(f, 'blur_class_defaults/');
  const o = blurOptions(b);
  const g = new GraphBuilder('bilateral_blur');
  const weights = g.output(bilateralWeights(g, g.input('guide_image', 'float32', f.info('guide_image').shape), o), 'weights');
  g.output(bilateralBlur(g, g.input('image', 'float32', f.info('image').shape), weights, o.iterations), 'blurred');
  const r = await runGraph(g, { guide_image: floatTensor(f, 'guide_image'), image: floatTensor(f, 'image') });
  ref.add(compareValues('blur_class_defaults/weights', r['weights'], { data: f.readFloat32('weights'), dims: f.info('weights').shape }, FORWARD), 'weights', 'guide_image');
  ref.add(compareValues('blur_class_defaults/blurred', r['blurred'], { data: f.readFloat32('blurred'), dims: f.info('blurred').shape }, FORWARD * Math.max(1, maxAbs(f.readFloat32('blurred')))), 'blurred', 'image');
  ref.add(compareValues('blur_class_defaults/gaussian_kernel', f32(gaussianKernel(o.kernelSize, o.sigma), [o.kernelSize, o.kernelSize]), { data: f.readFloat32('gaussian_kernel'), dims: f.info('gaussian_kernel').shape }, 1e-7), 'gaussian_kernel');
  return ref.checks();
}
