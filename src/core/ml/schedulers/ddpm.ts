// diffusers' DDPMScheduler (scheduling_ddpm.py, v0.27.2): ancestral sampling, Ref LDM-Seg's 20 steps (951 … 1).
// With fewer steps than training, a step spans N/n training steps, so its β is 1 − ᾱ_t/ᾱ_prev, not betas[t].
import { z } from 'zod';
import {
  checkStepInputs, commonConfigFields, NoiseSchedule, parseSchedulerConfig, spacedTimesteps, type NoiseSource, type Scheduler, type StepOutput,
} from './schedule';

export const DDPMConfigSchema = z.object({
  ...commonConfigFields('leading'),
  // fixed_small: the posterior variance β̃ (diffusers' default and SD's); fixed_small_log: the same through its log;
  // fixed_large: β of the step. Learned variances need a model that predicts them (not SD); diffusers' fixed_large_log
  // takes the square root of a log and gives NaN.
  variance_type: z.enum(['fixed_small', 'fixed_small_log', 'fixed_large']).default('fixed_small'),
  clip_sample: z.boolean().default(true),
  clip_sample_range: z.number().positive().default(1),
  thresholding: z.literal(false).default(false),
  rescale_betas_zero_snr: z.literal(false).default(false),
});
export type DDPMConfig = z.infer<typeof DDPMConfigSchema>;

export class DDPMScheduler implements Scheduler {
  readonly config: DDPMConfig;
  readonly schedule: NoiseSchedule;
  readonly initNoiseSigma = 1;
  timesteps: readonly number[] = [];
  private stepRatio = 0;
  private scratch = new Float32Array(0);

  constructor(config: unknown) {
    this.config = parseSchedulerConfig(DDPMConfigSchema, config, 'DDPM scheduler');
    this.schedule = NoiseSchedule.fromConfig(this.config);
  }

  setTimesteps(n: number): void {
    const c = this.config;
    this.timesteps = spacedTimesteps(c.timestep_spacing, n, c.num_train_timesteps, c.steps_offset);
    this.stepRatio = Math.floor(c.num_train_timesteps / n);
  }

  /** ᾱ_t and the ᾱ a step from t lands on: t − N/n, or 1 below 0 (DDPM's `one`, where DDIM/PNDM may use ᾱ_0). */
  private alphaPair(t: number): [number, number] {
    if (!this.stepRatio) throw new Error('DDPM: setTimesteps must be called before step');
    const prev = t - this.stepRatio;
    return [this.schedule.alphaCumprod(t), prev >= 0 ? this.schedule.alphaCumprod(prev) : 1];
  }

  /** The variance of the noise the step from t adds (β̃ clamped to 1e-20 as diffusers, or the step's β). */
  variance(t: number): number {
    const [a, ap] = this.alphaPair(t);
    const beta = 1 - a / ap;
    return this.config.variance_type === 'fixed_large' ? beta : Math.max(((1 - ap) / (1 - a)) * beta, 1e-20);
  }

  /** One step from t. Noise is drawn at every t > 0, the last step (t = 1 with SD's offset) included. */
  step(modelOutput: Float32Array, t: number, sample: Float32Array, noise?: NoiseSource): StepOutput {
    checkStepInputs(modelOutput, sample);
    const [a, ap] = this.alphaPair(t);
    const sa = Math.sqrt(a), sb = Math.sqrt(1 - a);
    const curAlpha = a / ap, curBeta = 1 - curAlpha;
    // The posterior mean μ̃(x_t, x0) (DDPM paper eq. 7).
    const cx0 = (Math.sqrt(ap) * curBeta) / (1 - a);
    const cx = (Math.sqrt(curAlpha) * (1 - ap)) / (1 - a);
    const vPred = this.config.prediction_type === 'v_prediction';
    const clip = this.config.clip_sample ? this.config.clip_sample_range : Infinity;
    const n = sample.length;
    const x0 = new Float32Array(n);
    const prev = new Float32Array(n);
    let z: Float32Array | undefined;
    let std = 0;
    if (t > 0) {
      if (!noise) throw new Error('DDPM needs a noise source');
      if (this.scratch.length !== n) this.scratch = new Float32Array(n);
      z = noise.fill(this.scratch);
      std = Math.sqrt(this.variance(t));
    }
    for (let i = 0; i < n; i++) {
      const x = sample[i]!, m = modelOutput[i]!;
      const x0i = Math.min(clip, Math.max(-clip, vPred ? sa * x - sb * m : (x - sb * m) / sa));
      x0[i] = x0i;
      prev[i] = cx0 * x0i + cx * x + (z ? std * z[i]! : 0);
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }
}
