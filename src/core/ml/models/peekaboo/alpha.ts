// Peekaboo's learnable alpha image (RyannDaGreat/Peekaboo, source/learnable_textures.py and bilateral_blur.py) as a
// graph: Fourier features of the pixel grid through a 1×1-conv MLP with batch-statistics BatchNorm (the reference
// never calls .eval()), or a raw pixel image; then the bilateral "proxy" blur guided by the image's colours, applied
// to the logit, and a sigmoid. Gradients with respect to the parameters come from graph/autodiff.ts.
import type { GraphBuilder, Value } from '../../graph';

export interface BilateralOptions {
  kernelSize: number;
  /** Colour distance scale: neighbours further than a few tolerances apart in colour barely mix. */
  tolerance: number;
  sigma: number;
  iterations: number;
}

/** What run_peekaboo passes (peekaboo.py:313-316); the class defaults are kernel 5 and 10 iterations. */
export const PEEKABOO_BILATERAL: Readonly<BilateralOptions> = { kernelSize: 3, tolerance: 0.08, sigma: 5, iterations: 40 };

/** BatchNorm2d's default epsilon. */
const BN_EPS = 1e-5;

/** rp.gaussian_kernel(size, sigma, dim=2): exp(−x_a² − x_b²) at x = linspace(−⌊K/2⌋, ⌊K/2⌋, K)/(√2·σ), summing to 1. */
export function gaussianKernel(size: number, sigma: number): Float64Array {
  const r = Math.floor(size / 2);
  const x = Array.from({ length: size }, (_, i) => (size === 1 ? -r : -r + (2 * r * i) / (size - 1)) / (Math.SQRT2 * sigma));
  const k = new Float64Array(size * size);
  for (let a = 0; a < size; a++) for (let b = 0; b < size; b++) k[a * size + b] = Math.exp(-x[a]! * x[a]! - x[b]! * x[b]!);
  const sum = k.reduce((p, q) => p + q, 0);
  return k.map((v) => v / sum);
}

/**
 * The K² neighbours of x [C, H, W] stacked as [K², C, H, W]: entry u·K + v is x shifted by dx = u − R along the
 * width and dy = v − R along the height (out[y, x] = in[y − dy, x − dx]), zero outside the image.
 */
function neighbours(g: GraphBuilder, x: Value, k: number): Value {
  const [, h, w] = x.dims() as [number, number, number];
  const r = Math.floor(k / 2);
  const p = g.unsqueeze(g.pad(x, [0, r, r, 0, r, r]), [0]);
  const shifts: Value[] = [];
  for (let u = 0; u < k; u++) {
    for (let v = 0; v < k; v++) shifts.push(g.slice(p, [2 * r - v, 2 * r - u], [2 * r - v + h, 2 * r - u + w], [2, 3]));
  }
  return g.concat(shifts, 0);
}

/**
 * The blur's weights [K, K, H, W] from the guide image [C, H, W] (bilateral_blur.py:120-144): the Gaussian kernel
 * times exp(−½(‖colour difference‖ / tolerance)²), neighbours outside the image 0, normalised per pixel.
 */
export function bilateralWeights(g: GraphBuilder, guide: Value, o: BilateralOptions): Value {
  const [, h, w] = guide.dims() as [number, number, number];
  const k = o.kernelSize;
  const kernel = gaussianKernel(k, o.sigma);
  // The reference marks outside neighbours NaN and zeroes their weight; a 0/1 mask of the same layout does that.
  const inside = new Float32Array(k * k * h * w);
  const r = Math.floor(k / 2);
  for (let u = 0; u < k; u++) {
    for (let v = 0; v < k; v++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const sy = y - (v - r), sx = x - (u - r);
          if (sy >= 0 && sy < h && sx >= 0 && sx < w) inside[((u * k + v) * h + y) * w + x] = Math.fround(kernel[u * k + v]!);
        }
      }
    }
  }
  const d = g.sub(neighbours(g, guide, k), g.unsqueeze(guide, [0])); // [K², C, H, W]
  const dist = g.sqrt(g.reduceSum(g.mul(d, d), [1], false)); // [K², H, W]
  const z = g.div(dist, o.tolerance);
  const raw = g.mul(g.exp(g.mul(g.mul(z, z), -0.5)), g.constant(inside, guide.dtype, [k * k, h, w]));
  return g.reshape(g.div(raw, g.reduceSum(raw, [0], true)), [k, k, h, w]);
}

/** `iterations` passes of out = Σ_(u,v) weights[u, v]·(x shifted by (u − R, v − R)) over x [C, H, W]: linear in x. */
export function bilateralBlur(g: GraphBuilder, x: Value, weights: Value, iterations: number): Value {
  const [k, , h, w] = weights.dims() as [number, number, number, number];
  const wk = g.reshape(weights, [k * k, 1, h, w]);
  let y = x;
  for (let i = 0; i < iterations; i++) y = g.scope(`blur.${i}`, () => g.reduceSum(g.mul(neighbours(g, y, k), wk), [0], false));
  return y;
}

/**
 * Peekaboo's Fourier features [2F, H, W] of a square grid (learnable_textures.py:25-102): position (i, j) has
 * uv = (j/W, i/H); features are sin then cos of 2π·uv·freqs, freqs [2, F]. float64 here; the reference computes them
 * in float32, which moves arguments of ~200 rad by ~1e-5.
 */
export function fourierFeatures(freqs: Float32Array, f: number, h: number, w: number): Float32Array {
  const out = new Float32Array(2 * f * h * w);
  for (let q = 0; q < f; q++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const a = 2 * Math.PI * ((j / w) * freqs[q]! + (i / h) * freqs[f + q]!);
        out[(q * h + i) * w + j] = Math.sin(a);
        out[((f + q) * h + i) * w + j] = Math.cos(a);
      }
    }
  }
  return out;
}

/** BatchNorm2d in training mode over [N, C, H, W]: the batch's mean and biased variance per channel. */
export function batchNormTrain(g: GraphBuilder, x: Value, weight: Value, bias: Value): { y: Value; mean: Value; variance: Value } {
  const mean = g.reduceMean(x, [0, 2, 3], true);
  const d = g.sub(x, mean);
  const variance = g.reduceMean(g.mul(d, d), [0, 2, 3], true);
  const n = g.div(d, g.sqrt(g.add(variance, BN_EPS)));
  const y = g.add(g.mul(n, g.reshape(weight, [-1, 1, 1])), g.reshape(bias, [-1, 1, 1]));
  return { y, mean, variance };
}

/** The MLP's parameters by the reference's state-dict names (`model.0.weight`, …). */
export type ParamSource = (name: string) => Value;

export interface MlpResult {
  /** [1, C, H, W], no sigmoid (the reference comments it out). */
  out: Value;
  /** Per BatchNorm (`model.2`, `model.5`, `model.8`): the batch statistics, [1, hidden, 1, 1]. */
  batchStats: { name: string; mean: Value; variance: Value }[];
}

/** Conv(2F→H) → ReLU → BN → Conv(H→H) → ReLU → BN → Conv(H→H) → ReLU → BN → Conv(H→C), all 1×1 (learnable_textures.py:456-460). */
export function fourierMlp(g: GraphBuilder, features: Value, param: ParamSource): MlpResult {
  let x = features;
  const batchStats: MlpResult['batchStats'] = [];
  for (const [conv, bn] of [[0, 2], [3, 5], [6, 8]] as const) {
    x = g.scope(`model.${conv}`, () => g.relu(g.conv(x, param(`model.${conv}.weight`), param(`model.${conv}.bias`))));
    const r = g.scope(`model.${bn}`, () => batchNormTrain(g, x, param(`model.${bn}.weight`), param(`model.${bn}.bias`)));
    batchStats.push({ name: `model.${bn}`, mean: r.mean, variance: r.variance });
    x = r.y;
  }
  return { out: g.scope('model.9', () => g.conv(x, param('model.9.weight'), param('model.9.bias'))), batchStats };
}

/** alpha [C, H, W] = sigmoid(blur(logit)), logit [C, H, W]: what both learnable images end in (learnable_textures.py:440, :475). */
export function blurredAlpha(g: GraphBuilder, logit: Value, weights: Value, iterations: number): { preSigmoid: Value; alpha: Value } {
  const preSigmoid = bilateralBlur(g, logit, weights, iterations);
  return { preSigmoid, alpha: g.sigmoid(preSigmoid) };
}

/** blend_torch_images (peekaboo.py:35-41): foreground·alpha + background·(1 − alpha), background a colour [C]. */
export function composite(g: GraphBuilder, foreground: Value, alpha: Value, background: Value): Value {
  const bg = g.reshape(background, [-1, 1, 1]);
  return g.add(g.mul(foreground, alpha), g.mul(bg, g.sub(1, alpha)));
}
