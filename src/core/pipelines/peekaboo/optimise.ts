// Peekaboo's optimisation loop (peekaboo.py:384-401) on a square image: per iteration one step-graph call (step.ts:
// forward, backward from the latent gradient, update) and one UNet call (the guided pairs, no backward). Random draws
// come from one seeded source in a fixed order (frequencies, initial weights, then per iteration: background colour,
// ε₁, then per timestep of the iteration a timestep and its noise), so a seed repeats a result; with one timestep per
// call the stream is the reference's (background, ε₁, timestep, noise). Fitting to a start mask (fit.ts) draws
// nothing.
import { GaussianNoise } from '../../ml/schedulers';
import type { RunPriority } from '../../ml/runtime';
import { PEEKABOO_BILATERAL } from '../../ml/models/peekaboo';
import type { PeekabooModels } from './models';
import type { PeekabooParams } from './params';
import { peekabooSchedule } from './schedule';
import { fitToMask } from './fit';
import { ADAM, buildStepGraph, mlpParameters, type StepGraphOptions } from './step';

export interface OptimiseOptions {
  signal?: AbortSignal;
  priority: RunPriority;
  /** After each iteration: how many are done, and the current alpha [S²] (row-major, in (0,1)). */
  onIteration?(done: number, alpha: Float32Array): void;
}

/** Pixels of the thresholded mask that may change in an iteration for it to count as stable (stopWhenStable). */
const STABLE_FRACTION = 0.001;

/**
 * The alpha image [S²] Peekaboo gives for `guide` [3, S, S] (channel-major RGB in [0,1], S = params.size) and the
 * prompts' embeddings, averaged (the reference's MeanLabel). With `start` [S²] (0/1 over the same square) the MLP is
 * first fitted to it.
 */
export async function optimiseAlpha(
  models: PeekabooModels, guide: Float32Array, prompts: readonly string[], p: PeekabooParams, o: OptimiseOptions, start?: Float32Array,
): Promise<{ alpha: Float32Array; iterations: number }> {
  const run = { signal: o.signal, priority: o.priority };
  const S = p.size, F = p.frequencies, latentSide = p.compositeSize / 8;
  const fixed = models.fixedLatentSide();
  if (fixed !== null && fixed !== latentSide) throw new RangeError(`model ${models.name} is built for a ${fixed * 8}-pixel composite, not ${p.compositeSize}`);

  const embedding = await promptEmbedding(models, prompts, run);
  const rng = new GaussianNoise(p.seed);
  const freqs = rng.fill(new Float32Array(2 * F)).map((v) => v * p.frequencyScale);
  const specs = mlpParameters(F);
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  let theta: Float32Array[] = specs.map(({ shape, init }) =>
    'fill' in init ? new Float32Array(size(shape)).fill(init.fill) : Float32Array.from({ length: size(shape) }, () => (2 * rng.uniform() - 1) * init.uniform));
  const blur = { ...PEEKABOO_BILATERAL, sigma: p.blurSigma, tolerance: p.blurTolerance, iterations: p.blurIterations };
  if (start) theta = await fitToMask(models, { size: S, frequencies: F, blur }, { guide, freqs, theta, target: start }, run);
  let moments: Float32Array[][] | null = p.optimizer === 'adam' ? specs.map(({ shape }) => [new Float32Array(size(shape)), new Float32Array(size(shape))]) : null;

  const latentDims = [1, 4, latentSide, latentSide];
  const latentSize = 4 * latentSide * latentSide;
  const draw = () => ({
    background: Float32Array.from({ length: 3 }, () => rng.uniform()),
    eps: rng.fill(new Float32Array(latentSize)),
    noised: Array.from({ length: p.timestepsPerCall }, () => ({ t: rng.uniformInt(p.minStep, p.maxStep), noise: rng.fill(new Float32Array(latentSize)) })),
  });
  const options: StepGraphOptions = {
    size: S, frequencies: F, compositeSize: p.compositeSize, scalingFactor: models.scalingFactor, gravity: p.gravity, optimizer: p.optimizer, blur,
  };
  const signature = JSON.stringify(options);
  const names = specs.map((s) => s.name);
  const outputs = ['alpha', 'latent', ...names.map((n) => `next.${n}`), ...(moments ? names.flatMap((n) => [`next_adam_m.${n}`, `next_adam_v.${n}`]) : [])];
  // Inputs are copied: the inference worker takes ownership of the buffers it is sent.
  const step = async (lr: number, iteration: number, grad: Float32Array, now: ReturnType<typeof draw>, next: ReturnType<typeof draw>) => {
    const feeds: Record<string, { data: Float32Array; dims: number[] }> = {
      guide_image: { data: guide.slice(), dims: [3, S, S] },
      freqs: { data: freqs.slice(), dims: [2, F] },
      lr: { data: Float32Array.of(moments ? lr / (1 - ADAM.beta1 ** iteration) : lr), dims: [] },
      background: { data: now.background.slice(), dims: [3] },
      eps: { data: now.eps.slice(), dims: latentDims },
      grad_latent: { data: grad, dims: latentDims },
      next_background: { data: next.background.slice(), dims: [3] },
      next_eps: { data: next.eps.slice(), dims: latentDims },
    };
    specs.forEach((s, i) => (feeds[`param.${s.name}`] = { data: theta[i]!.slice(), dims: s.shape }));
    if (moments) {
      feeds['adam_bias2'] = { data: Float32Array.of(1 / (1 - ADAM.beta2 ** iteration)), dims: [] };
      specs.forEach((s, i) => {
        feeds[`adam_m.${s.name}`] = { data: moments![i]![0]!.slice(), dims: s.shape };
        feeds[`adam_v.${s.name}`] = { data: moments![i]![1]!.slice(), dims: s.shape };
      });
    }
    return models.step(signature, () => buildStepGraph(models.encoder(p.compositeSize), options), feeds, outputs, run);
  };

  // The first latent: a step that moves nothing (learning rate 0, latent gradient 0) on the first draw.
  let current = draw();
  const first = await step(0, 1, new Float32Array(latentSize), current, current);
  let latent = first['latent']!.data as Float32Array;
  let alpha = first['alpha']!.data as Float32Array;
  let stable = 0;
  for (let k = 0; k < p.iterations; k++) {
    o.signal?.throwIfAborted();
    const grad = await scoreGradient(models, latent, latentDims, current.noised, embedding, p.guidance, run);
    const next = draw();
    const r = await step(p.learningRate, k + 1, grad, current, next);
    theta = names.map((n) => r[`next.${n}`]!.data as Float32Array);
    if (moments) moments = names.map((n) => [r[`next_adam_m.${n}`]!.data as Float32Array, r[`next_adam_v.${n}`]!.data as Float32Array]);
    latent = r['latent']!.data as Float32Array;
    const previous = alpha;
    alpha = r['alpha']!.data as Float32Array;
    current = next;
    o.onIteration?.(k + 1, alpha);
    if (p.stopWhenStable > 0) {
      stable = maskChanges(previous, alpha, p.threshold) < STABLE_FRACTION * alpha.length ? stable + 1 : 0;
      if (stable >= p.stopWhenStable) return { alpha, iterations: k + 1 };
    }
  }
  return { alpha, iterations: p.iterations };
}

/**
 * The score-distillation gradient at `latent` [1, c, h, w]: per (timestep, noise) the guided ε̂ = ε̂_u + s·(ε̂_c − ε̂_u)
 * of the noised latent and (1 − ᾱ_t)·(ε̂ − ε) (stable_diffusion.py:110-122), averaged over the pairs. All pairs run as
 * one UNet batch of 2k: (uncond, cond) per timestep, each sample at its own timestep.
 */
export async function scoreGradient(
  models: PeekabooModels, latent: Float32Array, latentDims: readonly number[], noised: readonly { t: number; noise: Float32Array }[],
  embedding: { data: Float32Array; dims: number[] }, guidance: number, run: { signal?: AbortSignal; priority: RunPriority },
): Promise<Float32Array> {
  const schedule = peekabooSchedule();
  const n = latent.length, k = noised.length, e = embedding.data.length;
  const sample = new Float32Array(2 * k * n), timesteps = new Float32Array(2 * k), context = new Float32Array(k * e);
  noised.forEach(({ t, noise }, j) => {
    const zt = schedule.addNoise(latent, noise, t);
    sample.set(zt, 2 * j * n);
    sample.set(zt, (2 * j + 1) * n);
    timesteps.fill(t, 2 * j, 2 * j + 2);
    context.set(embedding.data, j * e);
  });
  const eps = await models.noise(sample, [2 * k, ...latentDims.slice(1)], timesteps, context, [2 * k, ...embedding.dims.slice(1)], run);
  const grad = new Float32Array(n);
  noised.forEach(({ t, noise }, j) => {
    const a = schedule.alphaCumprod(t);
    const u0 = 2 * j * n, c0 = (2 * j + 1) * n;
    for (let i = 0; i < n; i++) {
      const u = eps[u0 + i]!, c = eps[c0 + i]!;
      grad[i] += ((1 - a) * (u + guidance * (c - u) - noise[i]!)) / k;
    }
  });
  return grad;
}

/** Pixels on one side of the threshold in `a` and on the other in `b`. */
function maskChanges(a: Float32Array, b: Float32Array, threshold: number): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i]! >= threshold !== b[i]! >= threshold) n++;
  return n;
}

/** [2, 77, D]: the empty prompt's embedding, then the mean of the prompts' (peekaboo.py:212-218). */
async function promptEmbedding(models: PeekabooModels, prompts: readonly string[], run: { signal?: AbortSignal; priority: RunPriority }) {
  if (!prompts.length) throw new RangeError('Peekaboo needs a prompt');
  const uncond = await models.embed('', run);
  const n = uncond.data.length;
  const data = new Float32Array(2 * n);
  data.set(uncond.data);
  for (const text of prompts) {
    const e = await models.embed(text, run);
    for (let i = 0; i < n; i++) data[n + i] += e.data[i]! / prompts.length;
  }
  return { data, dims: [2, ...uncond.dims.slice(1)] };
}
