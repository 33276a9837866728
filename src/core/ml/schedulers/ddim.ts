// diffusers' DDIMScheduler (scheduling_ddim.py, v0.27.2): the deterministic sampler at η = 0 (grounded diffusion's
// 50 steps), stochastic with η > 0.
import { z } from 'zod';
import {
  checkStepInputs, commonConfigFields, NoiseSchedule, parseSchedulerConfig, spacedTimesteps, type NoiseSource, type Scheduler, type StepOutput,
} from './schedule';

export const DDIMConfigSchema = z.object({
  ...commonConfigFields('leading'),
  /** ᾱ after the last step: 1, or ᾱ_0 (SD 1.x: false). */
  set_alpha_to_one: z.boolean().default(true),
  clip_sample: z.boolean().default(true),
  clip_sample_range: z.number().positive().default(1),
  thresholding: z.literal(false).default(false),
  rescale_betas_zero_snr: z.literal(false).default(false),
});
export type DDIMConfig = z.infer<typeof DDIMConfigSchema>;

export class DDIMScheduler implements Scheduler {
  readonly config: DDIMConfig;
  readonly schedule: NoiseSchedule;
  readonly initNoiseSigma = 1;
  /** η: 0 follows the probability-flow ODE; 1 is DDPM's posterior variance. */
  readonly eta: number;
  timesteps: readonly number[] = [];
  private readonly finalAlphaCumprod: number;
  private stepRatio = 0;
  private scratch = new Float32Array(0);

  constructor(config: unknown, options: { eta?: number } = {}) {
    this.config = parseSchedulerConfig(DDIMConfigSchema, config, 'DDIM scheduler');
    this.schedule = NoiseSchedule.fromConfig(this.config);
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : this.schedule.alphasCumprod[0]!;
    this.eta = options.eta ?? 0;
    // Above 1 the update's √(1 − ᾱ_prev − σ²) goes imaginary (NaN in diffusers).
    if (!(this.eta >= 0 && this.eta <= 1)) throw new RangeError(`DDIM's eta must be from 0 to 1, not ${this.eta}`);
  }

  setTimesteps(n: number): void {
    const c = this.config;
    this.timesteps = spacedTimesteps(c.timestep_spacing, n, c.num_train_timesteps, c.steps_offset);
    this.stepRatio = Math.floor(c.num_train_timesteps / n);
  }

  /** ᾱ of the timestep a step from t lands on (diffusers: t − N/n whatever the spacing; below 0 the final ᾱ). */
  private alphaPrev(t: number): number {
    if (!this.stepRatio) throw new Error('DDIM: setTimesteps must be called before step');
    const prev = t - this.stepRatio;
    return prev >= 0 ? this.schedule.alphaCumprod(prev) : this.finalAlphaCumprod;
  }

  /** σ_t² of the DDIM paper's eq. 16 at η = 1: (1 − ᾱ_prev)/(1 − ᾱ_t)·(1 − ᾱ_t/ᾱ_prev). */
  variance(t: number): number {
    const a = this.schedule.alphaCumprod(t), ap = this.alphaPrev(t);
    return ((1 - ap) / (1 - a)) * (1 - a / ap);
  }

  /** One step from t; `noise` is required when η > 0. */
  step(modelOutput: Float32Array, t: number, sample: Float32Array, noise?: NoiseSource): StepOutput {
    checkStepInputs(modelOutput, sample);
    const a = this.schedule.alphaCumprod(t), ap = this.alphaPrev(t);
    const sa = Math.sqrt(a), sb = Math.sqrt(1 - a);
    const std = this.eta * Math.sqrt(this.variance(t));
    const cx0 = Math.sqrt(ap), ceps = Math.sqrt(1 - ap - std * std);
    const vPred = this.config.prediction_type === 'v_prediction';
    const clip = this.config.clip_sample ? this.config.clip_sample_range : Infinity;
    const n = sample.length;
    const x0 = new Float32Array(n);
    const prev = new Float32Array(n);
    let z: Float32Array | undefined;
    if (std > 0) {
      if (!noise) throw new Error('DDIM with eta > 0 needs a noise source');
      if (this.scratch.length !== n) this.scratch = new Float32Array(n);
      z = noise.fill(this.scratch);
    }
    for (let i = 0; i < n; i++) {
      const x = sample[i]!, m = modelOutput[i]!;
      // x0 and ε from the prediction; with v, ε is rebuilt from v and x, not from the clipped x0 (as diffusers).
      const x0i = Math.min(clip, Math.max(-clip, vPred ? sa * x - sb * m : (x - sb * m) / sa));
      const eps = vPred ? sa * m + sb * x : m;
      x0[i] = x0i;
      prev[i] = cx0 * x0i + ceps * eps + (z ? std * z[i]! : 0);
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }
}
