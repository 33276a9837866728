// diffusers' PNDMScheduler (scheduling_pndm.py, v0.27.2) with skip_prk_steps, SD 1.x's default sampler: linear
// multistep (PLMS) on ε. n steps take n + 1 model calls: the second timestep is called twice, and the second call
// redoes the first step with the mean of both predictions (a Heun-like warm-up) before the 2-, 3- and 4-step
// Adams–Bashforth combinations take over.
import { z } from 'zod';
import {
  checkStepInputs, commonConfigFields, NoiseSchedule, parseSchedulerConfig, spacedTimesteps, type Scheduler, type StepOutput,
} from './schedule';

export const PNDMConfigSchema = z.object({
  ...commonConfigFields('leading'),
  // The Runge–Kutta warm-up (skip_prk_steps false, the class default) is not implemented: every SD config sets true.
  skip_prk_steps: z.literal(true, { error: 'only true is supported (the Runge–Kutta warm-up is not implemented)' }),
  set_alpha_to_one: z.boolean().default(false),
});
export type PNDMConfig = z.infer<typeof PNDMConfigSchema>;

/** What one PLMS update was applied to (diffusers' `_get_prev_sample` arguments). */
export interface PlmsUpdate {
  timestep: number;
  prevTimestep: number;
  /** The combined ε the update used (diffusers' `model_output` after the multistep combination). */
  modelOutput: Float32Array;
  /** The sample it was applied to: the one passed in, or on the second call the first call's. */
  sample: Float32Array;
}

export class PNDMScheduler implements Scheduler {
  readonly config: PNDMConfig;
  readonly schedule: NoiseSchedule;
  readonly initNoiseSigma = 1;
  timesteps: readonly number[] = [];
  private readonly finalAlphaCumprod: number;
  private stepRatio = 0;
  private counter = 0;
  /** The last 4 model outputs, newest last (diffusers' `ets`); copies, as callers may reuse their buffers. */
  private ets: Float32Array[] = [];
  /** The first call's sample, which the second call steps from again. */
  private curSample: Float32Array | undefined;

  constructor(config: unknown) {
    this.config = parseSchedulerConfig(PNDMConfigSchema, config, 'PNDM scheduler');
    this.schedule = NoiseSchedule.fromConfig(this.config);
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : this.schedule.alphasCumprod[0]!;
  }

  /** n steps: n + 1 timesteps, the second one twice (50 steps of SD: 981, 961, 961, 941, …, 21, 1). */
  setTimesteps(n: number): void {
    const c = this.config;
    const t = spacedTimesteps(c.timestep_spacing, n, c.num_train_timesteps, c.steps_offset);
    this.timesteps = n > 1 ? [t[0]!, ...t.slice(1, 2), ...t.slice(1)] : t;
    this.stepRatio = Math.floor(c.num_train_timesteps / n);
    this.counter = 0;
    this.ets = [];
    this.curSample = undefined;
  }

  step(modelOutput: Float32Array, t: number, sample: Float32Array): StepOutput & { plms: PlmsUpdate } {
    if (!this.stepRatio) throw new Error('PNDM: setTimesteps must be called before step');
    checkStepInputs(modelOutput, sample);
    const expected = this.timesteps[this.counter];
    if (expected === undefined) throw new Error(`PNDM: all ${this.timesteps.length} calls are done; call setTimesteps to sample again`);
    // The multistep history is only right when every timestep is called once, in order.
    if (t !== expected) throw new Error(`PNDM: call ${this.counter + 1} must be at timestep ${expected}, not ${t}`);
    let timestep = t;
    let prevTimestep = t - this.stepRatio;
    let from = sample;
    let eps: Float32Array;
    const ets = this.ets;
    if (this.counter === 1) {
      // Redo the first step from its sample with the mean of both predictions; this one does not join the history.
      prevTimestep = t;
      timestep = t + this.stepRatio;
      from = this.curSample!;
      this.curSample = undefined;
      eps = combine(ets[0]!, 0.5, modelOutput, 0.5);
    } else {
      const kept = ets.length === 4 ? ets.shift()! : new Float32Array(modelOutput.length);
      kept.set(modelOutput);
      ets.push(kept);
      if (this.counter === 0) {
        this.curSample = Float32Array.from(sample);
        eps = Float32Array.from(modelOutput);
      } else eps = adamsBashforth(ets);
    }
    this.counter++;
    return { prevSample: this.prevSample(from, timestep, prevTimestep, eps), plms: { timestep, prevTimestep, modelOutput: eps, sample: from } };
  }

  /** diffusers' `_get_prev_sample` (PNDM paper eq. 9): the transfer from `timestep` to `prevTimestep` along ε. */
  private prevSample(x: Float32Array, timestep: number, prevTimestep: number, e: Float32Array): Float32Array {
    const a = this.schedule.alphaCumprod(timestep);
    const ap = prevTimestep >= 0 ? this.schedule.alphaCumprod(prevTimestep) : this.finalAlphaCumprod;
    const cx = Math.sqrt(ap / a);
    const ce = (ap - a) / (a * Math.sqrt(1 - ap) + Math.sqrt(a * (1 - a) * ap));
    const v = this.config.prediction_type === 'v_prediction';
    const sa = Math.sqrt(a), sb = Math.sqrt(1 - a);
    const out = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      // With v-prediction the combined output is turned into ε here, against the sample the update starts from.
      const eps = v ? sa * e[i]! + sb * x[i]! : e[i]!;
      out[i] = cx * x[i]! - ce * eps;
    }
    return out;
  }
}

function combine(a: Float32Array, ca: number, b: Float32Array, cb: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = ca * a[i]! + cb * b[i]!;
  return out;
}

/** The Adams–Bashforth combination of the history (newest last), by how much of it there is. */
function adamsBashforth(ets: Float32Array[]): Float32Array {
  const e = (k: number) => ets[ets.length - k]!;
  const out = new Float32Array(e(1).length);
  switch (ets.length) {
    case 2:
      for (let i = 0; i < out.length; i++) out[i] = (3 * e(1)[i]! - e(2)[i]!) / 2;
      break;
    case 3:
      for (let i = 0; i < out.length; i++) out[i] = (23 * e(1)[i]! - 16 * e(2)[i]! + 5 * e(3)[i]!) / 12;
      break;
    default:
      for (let i = 0; i < out.length; i++) out[i] = (55 * e(1)[i]! - 59 * e(2)[i]! + 37 * e(3)[i]! - 9 * e(4)[i]!) / 24;
  }
  return out;
}
