// What every diffusers scheduler shares: the noise schedule (betas, alphas_cumprod) built from scheduler_config.json,
// the inference timestep spacings, add_noise, and the config keys all of them read.
// The tables are float32 and equal diffusers' bit for bit (see torchLinspaceF32); the steps compute in float64 from
// them and store float32 samples.
import { z } from 'zod';

/** diffusers' "Table 2" spacings of https://arxiv.org/abs/2305.08891. */
export const TimestepSpacing = z.enum(['leading', 'trailing', 'linspace']);
export type TimestepSpacing = z.infer<typeof TimestepSpacing>;

/** The keys that shape the noise schedule and the timesteps; `spacing` is the class's own default. */
export function commonConfigFields(spacing: TimestepSpacing) {
  return {
    num_train_timesteps: z.number().int().min(2).default(1000),
    beta_start: z.number().positive().default(0.0001),
    beta_end: z.number().positive().default(0.02),
    beta_schedule: z.enum(['linear', 'scaled_linear']).default('linear'),
    trained_betas: z.array(z.number().gt(0).lt(1)).nullable().default(null),
    // 'sample' (models that predict x0) is not a Stable Diffusion convention; refused rather than half supported.
    prediction_type: z.enum(['epsilon', 'v_prediction']).default('epsilon'),
    timestep_spacing: TimestepSpacing.default(spacing),
    steps_offset: z.number().int().min(0).default(0),
  };
}
const Common = z.object(commonConfigFields('leading'));
export type CommonConfig = z.infer<typeof Common>;

/** scheduler_config.json as `schema` reads it; keys it does not know are ignored, as diffusers does. */
export function parseSchedulerConfig<T>(schema: z.ZodType<T>, json: unknown, name: string): T {
  const r = schema.safeParse(json ?? {});
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`unsupported or invalid ${name} config: ${issues}`);
  }
  return r.data;
}

/**
 * torch.linspace(start, end, steps, dtype=float32) as torch's CPU kernel computes it on AVX2 machines (where the
 * golden references were made): the first half counts up from `start` and the second down from `end`, 8 lanes at a
 * time with fused multiply-adds, the last `steps mod 16` values one by one. A plain float64 linspace moves 243 of
 * SD's 1000 betas by an ulp, and alphas_cumprod by up to 8e-7 relative.
 */
export function torchLinspaceF32(startValue: number, endValue: number, steps: number): Float32Array {
  const f = Math.fround;
  const start = f(startValue), end = f(endValue);
  const step = f((end - start) / (steps - 1));
  // a + b·c rounded once (b·c of two float32 is exact in float64).
  const fma = (a: number, b: number, c: number) => f(a + b * c);
  const halfway = Math.floor(steps / 2);
  const at = (i: number) => (i < halfway ? fma(start, step, i) : fma(end, -step, steps - i - 1));
  const out = new Float32Array(steps);
  const LANES = 8;
  let i = 0;
  // Two vectors per round; Vectorized<float>::arange(base, step): each lane counts up from its vector's base.
  for (; i <= steps - 2 * LANES; i += 2 * LANES) {
    for (let v = i; v < i + 2 * LANES; v += LANES) {
      const base = at(v);
      out[v] = base;
      for (let k = 1; k < LANES; k++) out[v + k] = fma(base, k, step);
    }
  }
  for (; i < steps; i++) out[i] = at(i);
  return out;
}

export class NoiseSchedule {
  readonly numTrainTimesteps: number;
  readonly betas: Float32Array;
  /** 1 − β_t. */
  readonly alphas: Float32Array;
  /** ᾱ_t = ∏_{s≤t} (1 − β_s), float32 as torch.cumprod stores it (it accumulates in double). */
  readonly alphasCumprod: Float32Array;

  constructor(betas: Float32Array) {
    this.numTrainTimesteps = betas.length;
    this.betas = betas;
    this.alphas = betas.map((b) => 1 - b);
    this.alphasCumprod = new Float32Array(betas.length);
    let p = 1;
    for (let i = 0; i < betas.length; i++) this.alphasCumprod[i] = p *= this.alphas[i]!;
  }

  static fromConfig(c: CommonConfig): NoiseSchedule {
    const n = c.num_train_timesteps;
    if (c.trained_betas) {
      if (c.trained_betas.length !== n) throw new Error(`trained_betas has ${c.trained_betas.length} values for num_train_timesteps ${n}`);
      return new NoiseSchedule(Float32Array.from(c.trained_betas));
    }
    if (c.beta_end <= c.beta_start) throw new Error(`beta_end (${c.beta_end}) must be above beta_start (${c.beta_start})`);
    if (c.beta_schedule === 'linear') return new NoiseSchedule(torchLinspaceF32(c.beta_start, c.beta_end, n));
    // scaled_linear: linear in √β (the latent-diffusion schedule).
    return new NoiseSchedule(torchLinspaceF32(Math.sqrt(c.beta_start), Math.sqrt(c.beta_end), n).map((s) => s * s));
  }

  /** ᾱ_t; a timestep that is not an integer in [0, numTrainTimesteps) is a caller's bug and throws. */
  alphaCumprod(t: number): number {
    if (!Number.isInteger(t) || t < 0 || t >= this.numTrainTimesteps) throw new RangeError(`timestep ${t} is not an integer in [0, ${this.numTrainTimesteps})`);
    return this.alphasCumprod[t]!;
  }

  /**
   * The forward process q(x_t | x0): √ᾱ_t·x0 + √(1 − ᾱ_t)·noise (diffusers' add_noise). `t` is one timestep, or one
   * per sample, the batch being `x0` split into `t.length` equal parts.
   */
  addNoise(x0: Float32Array, noise: Float32Array, t: number | readonly number[]): Float32Array {
    if (noise.length !== x0.length) throw new Error(`add_noise: ${x0.length} sample values but ${noise.length} noise values`);
    const ts = typeof t === 'number' ? [t] : t;
    if (ts.length === 0 || x0.length % ts.length) throw new Error(`add_noise: ${x0.length} values cannot be split into ${ts.length} samples`);
    const per = x0.length / ts.length;
    const out = new Float32Array(x0.length);
    ts.forEach((ti, b) => {
      const a = this.alphaCumprod(ti);
      const sa = Math.sqrt(a), sb = Math.sqrt(1 - a);
      for (let i = b * per, end = i + per; i < end; i++) out[i] = sa * x0[i]! + sb * noise[i]!;
    });
    return out;
  }
}

/** numpy's round: halves go to the even neighbour (np.linspace(0, 999, 7) has 832.5 → 832). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** A number of inference steps a scheduler can take. */
export function checkStepCount(n: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(n) || n < 1 || n > numTrainTimesteps) throw new RangeError(`the number of inference steps must be an integer from 1 to ${numTrainTimesteps}, not ${n}`);
}

/** np.linspace(0, stop, count).round(), ascending: j·(stop / (count − 1)), exactly `stop` at the end. */
export function linspaceRounded(stop: number, count: number): number[] {
  if (count === 1) return [0];
  const step = stop / (count - 1);
  return Array.from({ length: count }, (_, j) => (j === count - 1 ? stop : roundHalfEven(j * step)));
}

/**
 * DDIM's, DDPM's and PNDM's timesteps, first to last. `trailing` keeps the `n` steps asked for: numpy's float arange
 * gives diffusers one more, negative timestep for some counts (61, 103, 121, …).
 */
export function spacedTimesteps(spacing: TimestepSpacing, n: number, numTrainTimesteps: number, stepsOffset: number): number[] {
  checkStepCount(n, numTrainTimesteps);
  const N = numTrainTimesteps;
  switch (spacing) {
    case 'leading': {
      const ratio = Math.floor(N / n);
      return checkTimesteps(Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + stepsOffset), N);
    }
    case 'linspace':
      return linspaceRounded(N - 1, n).reverse();
    case 'trailing':
      return trailingTimesteps(N, n, N);
  }
}

/** steps_offset can push the first leading timestep past the last trained one (n = N with offset 1). */
export function checkTimesteps(ts: number[], numTrainTimesteps: number): number[] {
  const bad = ts.find((t) => t < 0 || t >= numTrainTimesteps);
  if (bad !== undefined) throw new RangeError(`timestep ${bad} is outside the ${numTrainTimesteps} trained timesteps`);
  return ts;
}

/** np.round(np.arange(from, 0, −N/n)) − 1, the first `n` values (numpy fills from + i·((from + step) − from)). */
export function trailingTimesteps(from: number, n: number, N: number): number[] {
  const step = -N / n;
  const delta = from + step - from;
  return Array.from({ length: n }, (_, i) => roundHalfEven(i === 1 ? from + step : from + i * delta) - 1);
}

/** What one step gives: the sample at the next (less noisy) timestep and, where the method has it, its x0 estimate. */
export interface StepOutput {
  prevSample: Float32Array;
  predOriginalSample?: Float32Array;
}

/** A seeded source of standard normal values (`GaussianNoise`), or recorded draws replayed. */
export interface NoiseSource {
  /** Fills `out` with the next `out.length` values of the stream and returns it. */
  fill(out: Float32Array): Float32Array;
}

/** The sampler interface pipelines drive: setTimesteps(n), then step() once per timestep, in order. */
export interface Scheduler {
  readonly schedule: NoiseSchedule;
  /** The timesteps to call the model at, first to last (empty until setTimesteps). */
  readonly timesteps: readonly number[];
  /** Every scheduler here starts from unit-variance noise and feeds the model its sample unscaled. */
  readonly initNoiseSigma: 1;
  setTimesteps(n: number): void;
  step(modelOutput: Float32Array, t: number, sample: Float32Array, noise?: NoiseSource): StepOutput;
}

/** Model output and sample must be the same size (a model predicting its variance too is not supported). */
export function checkStepInputs(modelOutput: Float32Array, sample: Float32Array): void {
  if (modelOutput.length !== sample.length) throw new Error(`scheduler step: ${modelOutput.length} model output values for a sample of ${sample.length}`);
}
