// diffusers' DPMSolverMultistepScheduler (scheduling_dpmsolver_multistep.py, v0.27.2) as users pick it for speed:
// algorithm_type dpmsolver++, solver_type midpoint, solver_order 2 ("DPM++ 2M"), 20–25 steps.
//
// DPM-Solver++ (Lu et al. 2022, arXiv:2211.01095) integrates the probability-flow ODE in λ = log(α/σ), with
// α_t = √ᾱ_t, σ_t = √(1 − ᾱ_t), over the data prediction x0 = (x − σ_t·ε)/α_t. Its exact solution from s to t is
// x_t = (σ_t/σ_s)·x_s + σ_t ∫ e^λ x0(λ) dλ; with h = λ_t − λ_s:
// - first order (x0 constant over the step): x_t = (σ_t/σ_s)·x_s − α_t·(e^−h − 1)·x0_s, which is DDIM at η = 0;
// - second order multistep (x0 linear in λ, slope from the previous step's x0 with r = h_prev/h):
//   D1 = (x0_s − x0_prev)/r, x_t = (σ_t/σ_s)·x_s − α_t·(e^−h − 1)·(x0_s + D1/2) ("midpoint").
// The first step has no previous x0 and is first order; so is the last one where lower_order_final applies (fewer
// than 15 steps), euler_at_final asks it, or it ends at σ = 0 (final_sigmas_type "zero": then it returns x0).
import { z } from 'zod';
import {
  checkStepCount, checkStepInputs, checkTimesteps, commonConfigFields, linspaceRounded, NoiseSchedule, parseSchedulerConfig, trailingTimesteps, type Scheduler, type StepOutput,
} from './schedule';

export const DPMSolverConfigSchema = z.object({
  ...commonConfigFields('linspace'),
  // Third order ("3M", for unconditional sampling), the SDE variants and the noise-prediction "dpmsolver" are not
  // what SD users pick; they are refused, not approximated.
  solver_order: z.union([z.literal(1), z.literal(2)]).default(2),
  algorithm_type: z.literal('dpmsolver++').default('dpmsolver++'),
  solver_type: z.literal('midpoint').default('midpoint'),
  lower_order_final: z.boolean().default(true),
  euler_at_final: z.boolean().default(false),
  final_sigmas_type: z.enum(['zero', 'sigma_min']).default('zero'),
  // Clipping λ matters for the cosine schedule only, which is not supported.
  lambda_min_clipped: z.null().default(null),
  use_karras_sigmas: z.literal(false).nullable().default(false),
  use_lu_lambdas: z.literal(false).nullable().default(false),
  variance_type: z.null().default(null),
  thresholding: z.literal(false).default(false),
  rescale_betas_zero_snr: z.literal(false).default(false),
});
export type DPMSolverConfig = z.infer<typeof DPMSolverConfigSchema>;

export class DPMSolverMultistepScheduler implements Scheduler {
  readonly config: DPMSolverConfig;
  readonly schedule: NoiseSchedule;
  readonly initNoiseSigma = 1;
  timesteps: readonly number[] = [];
  /** α and σ of every timestep and of the end (index n), set by setTimesteps. */
  private alpha: number[] = [];
  private sigma: number[] = [];
  private stepIndex = 0;
  /** The previous step's x0, for the second-order update. */
  private prevX0: Float32Array | undefined;

  constructor(config: unknown) {
    this.config = parseSchedulerConfig(DPMSolverConfigSchema, config, 'DPM-Solver++ scheduler');
    this.schedule = NoiseSchedule.fromConfig(this.config);
  }

  setTimesteps(n: number): void {
    const c = this.config;
    const N = c.num_train_timesteps;
    checkStepCount(n, N);
    const acp = this.schedule.alphasCumprod;
    // One more point than steps, the last dropped, for leading and linspace (diffusers' DPM spacing).
    if (c.timestep_spacing === 'leading') {
      const ratio = Math.floor(N / (n + 1));
      if (ratio < 1) throw new RangeError(`${n} steps do not fit in ${N} timesteps with leading spacing`);
      this.timesteps = checkTimesteps(Array.from({ length: n }, (_, i) => (n - i) * ratio + c.steps_offset), N);
    } else if (c.timestep_spacing === 'linspace') this.timesteps = linspaceRounded(N - 1, n + 1).reverse().slice(0, n);
    else this.timesteps = trailingTimesteps(N, n, N);
    const t = this.timesteps;
    this.alpha = t.map((ti) => Math.sqrt(this.schedule.alphaCumprod(ti)));
    this.sigma = t.map((ti) => Math.sqrt(1 - this.schedule.alphaCumprod(ti)));
    // The end: σ = 0 (x0 itself), or the σ of ᾱ_0.
    this.alpha.push(c.final_sigmas_type === 'zero' ? 1 : Math.sqrt(acp[0]!));
    this.sigma.push(c.final_sigmas_type === 'zero' ? 0 : Math.sqrt(1 - acp[0]!));
    this.stepIndex = 0;
    this.prevX0 = undefined;
  }

  private lambda(i: number): number {
    return Math.log(this.alpha[i]!) - Math.log(this.sigma[i]!);
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array): StepOutput {
    const c = this.config;
    const i = this.stepIndex;
    const n = this.timesteps.length;
    if (!n) throw new Error('DPM-Solver++: setTimesteps must be called before step');
    if (i >= n) throw new Error(`DPM-Solver++: all ${n} steps are done; call setTimesteps to sample again`);
    // The multistep history is only right when the timesteps come in order.
    if (t !== this.timesteps[i]) throw new Error(`DPM-Solver++: step ${i + 1} must be at timestep ${this.timesteps[i]}, not ${t}`);
    checkStepInputs(modelOutput, sample);
    const as = this.alpha[i]!, ss = this.sigma[i]!, at = this.alpha[i + 1]!, st = this.sigma[i + 1]!;
    const x0 = new Float32Array(sample.length);
    const v = c.prediction_type === 'v_prediction';
    for (let k = 0; k < x0.length; k++) x0[k] = v ? as * sample[k]! - ss * modelOutput[k]! : (sample[k]! - ss * modelOutput[k]!) / as;

    const lowerOrderFinal = i === n - 1 && (c.euler_at_final || (c.lower_order_final && n < 15) || c.final_sigmas_type === 'zero');
    const firstOrder = c.solver_order === 1 || !this.prevX0 || lowerOrderFinal;
    // σ_t = 0: λ_t = ∞, e^−h = 0 and the step lands on x0.
    const h = st === 0 ? Infinity : this.lambda(i + 1) - this.lambda(i);
    const cx = st / ss;
    const cd = -at * Math.expm1(-h); // −α_t·(e^−h − 1)
    const prev = new Float32Array(sample.length);
    if (firstOrder) {
      for (let k = 0; k < prev.length; k++) prev[k] = cx * sample[k]! + cd * x0[k]!;
    } else {
      const r = (this.lambda(i) - this.lambda(i - 1)) / h;
      const p = this.prevX0!;
      // x0 + D1/2 with D1 = (x0 − x0_prev)/r.
      const c1 = 1 + 0.5 / r, c0 = -0.5 / r;
      for (let k = 0; k < prev.length; k++) prev[k] = cx * sample[k]! + cd * (c1 * x0[k]! + c0 * p[k]!);
    }
    this.prevX0 = x0;
    this.stepIndex++;
    return { prevSample: prev, predOriginalSample: x0 };
  }
}
