// The samplers against diffusers: the golden case schedulers_S (DDIM 50, DDPM 20, PNDM 50, add_noise, guidance)
// through the `schedulers` kind that `npm run golden` runs; DPM-Solver++ 2M, which has no golden, against its
// formulas written out here and on a Gaussian toy problem whose exact ODE solution is known; timestep spacings
// against numpy; configs, seeds and bad input.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { withinTolerance, type CaseManifest } from '../../src/core/golden/compare';
import { schedulersKind } from '../../src/core/golden/schedulers';
import {
  classifierFreeGuidance, createScheduler, DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, GaussianNoise, imageTextGuidance,
  NoiseSchedule, PNDMScheduler, scoreDistillationGradient, scoreDistillationWeight, type NoiseSource, type Scheduler,
} from '../../src/core/ml/schedulers';
import { SafetensorsFile } from '../../src/core/ml/weights';
import { golden } from './weights.helpers';

const CASE = golden('schedulers_S');
const json = (...p: string[]) => JSON.parse(readFileSync(join(...p), 'utf8')) as Record<string, unknown>;
/** SD 1.x's scheduler/scheduler_config.json, as the case holds it. */
const SD = json(CASE, 'scheduler', 'scheduler_config.json');

/** Feeds recorded values and counts the draws. */
class CountingNoise implements NoiseSource {
  draws = 0;
  constructor(private readonly value = (i: number, draw: number) => Math.sin(1 + i + 7 * draw)) {}
  fill(out: Float32Array): Float32Array {
    const d = this.draws++;
    for (let i = 0; i < out.length; i++) out[i] = this.value(i, d);
    return out;
  }
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('golden schedulers_S (diffusers 0.27.2)', () => {
  it('DDIM, DDPM and PNDM chains, their timesteps, the noise tables, add_noise and guidance all match', async () => {
    const checks = await schedulersKind.check(CASE, json(CASE, 'manifest.json') as CaseManifest);
    expect(checks.filter((c) => !withinTolerance(c))).toEqual([]);
    const chain = ['timesteps', 'timesteps_float32', 'prev_samples'];
    expect(checks.map((c) => c.name).sort()).toEqual([
      'ddim/config', 'ddpm/config', 'pndm/config',
      ...['betas', 'alphas', 'alphas_cumprod', 'final_alpha_cumprod', 'x_T', 'add_noise_x0', 'add_noise_out', 'add_noise_batch_out'].map((k) => `common/${k}`),
      ...[...chain, 'pred_original_samples'].map((k) => `ddim/${k}`),
      ...[...chain, 'pred_original_samples', 'variance_noise draws', 'variances'].map((k) => `ddpm/${k}`),
      ...[...chain, 'plms_timestep', 'plms_prev_timestep', 'plms_combined_eps', 'plms_sample_in'].map((k) => `pndm/${k}`),
      ...['cfg_7_5', 'refldmseg_tgs7_igs1_5', 'cfg_100', 'sds_w', 'sds_grad'].map((k) => `guidance/${k}`),
    ].sort());
    // The noise tables are diffusers' to the bit; the 50-step chains stay within 1e-5 of float32 torch.
    for (const c of checks.filter((x) => x.name.startsWith('common/') && !x.name.includes('add_noise'))) expect(c.error, c.name).toBe(0);
    for (const c of checks.filter((x) => x.name.endsWith('prev_samples'))) expect(c.error, c.name).toBeLessThan(1e-5);
  });

  describe('what the case would catch', () => {
    let dir: string | undefined;
    afterEach(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = undefined;
    });

    it('DDIM ending at ᾱ = 1 instead of SD\'s ᾱ_0 (set_alpha_to_one) fails the DDIM chain', async () => {
      dir = mkdtempSync(join(tmpdir(), 'difflabel-sched-'));
      const c = join(dir, 'schedulers_S');
      cpSync(CASE, c, { recursive: true });
      const cfg = join(c, 'ddim_effective_config', 'scheduler_config.json');
      writeFileSync(cfg, JSON.stringify({ ...json(cfg), set_alpha_to_one: true }));
      const checks = await schedulersKind.check(c, json(c, 'manifest.json') as CaseManifest);
      const failed = checks.filter((x) => !withinTolerance(x));
      expect(failed.map((x) => x.name).sort()).toEqual(['ddim/config', 'ddim/prev_samples']);
      expect(failed.find((x) => x.name === 'ddim/prev_samples')!.error).toBeGreaterThan(1e-2);
    });

    it('Ref LDM-Seg\'s guidance with the image and full predictions swapped is far off', () => {
      const f = SafetensorsFile.open(join(CASE, 'guidance.safetensors'));
      const [uncond, text, image] = ['noise_pred_uncond', 'noise_pred_text', 'noise_pred_image'].map((k) => f.readFloat32(k));
      const swapped = imageTextGuidance({ full: image!, image: text!, uncond: uncond! }, { image: 1.5, text: 7 });
      expect(maxDiff(swapped, f.readFloat32('refldmseg_tgs7_igs1_5'))).toBeGreaterThan(1);
    });
  });
});

describe('noise schedule', () => {
  const s = new DDIMScheduler(SD).schedule;

  it('SD 1.x: ᾱ from 0.99915 to 0.00466, and Peekaboo\'s weights 1 − ᾱ at t = 20 and 980', () => {
    expect(s.alphasCumprod[0]).toBeCloseTo(0.999149978, 8);
    expect(s.alphasCumprod[999]).toBeCloseTo(0.00466009602, 10);
    // reference-pipelines.md §1.1: ᾱ_20 = 0.98131 (w 0.0187), ᾱ_980 = 0.00584 (w 0.9942).
    expect(scoreDistillationWeight(20, s)).toBeCloseTo(0.0187, 4);
    expect(scoreDistillationWeight(980, s)).toBeCloseTo(0.9942, 4);
  });

  it('add_noise with one timestep per sample equals add_noise of each sample', () => {
    const x0 = new GaussianNoise(1).fill(new Float32Array(8)), n = new GaussianNoise(2).fill(new Float32Array(8));
    const both = s.addNoise(x0, n, [20, 980]);
    expect(both.subarray(0, 4)).toEqual(s.addNoise(x0.subarray(0, 4), n.subarray(0, 4), 20));
    expect(both.subarray(4)).toEqual(s.addNoise(x0.subarray(4), n.subarray(4), 980));
  });

  it('refuses timesteps outside the schedule and batches that do not split', () => {
    const x = new Float32Array(6);
    expect(() => s.addNoise(x, x, 1000)).toThrow('timestep 1000 is not an integer in [0, 1000)');
    expect(() => s.addNoise(x, x, 2.5)).toThrow('timestep 2.5');
    expect(() => s.addNoise(x, x, [1, 2, 3, 4])).toThrow('6 values cannot be split into 4 samples');
    expect(() => s.addNoise(x, new Float32Array(5), 1)).toThrow('6 sample values but 5 noise values');
  });

  it('linear and trained betas; trained betas must cover every timestep', () => {
    const lin = NoiseSchedule.fromConfig(new DDPMScheduler({ num_train_timesteps: 10, beta_start: 0.1, beta_end: 0.2, beta_schedule: 'linear' }).config);
    expect(lin.betas[0]).toBeCloseTo(0.1, 7);
    expect(lin.betas[9]).toBeCloseTo(0.2, 7);
    expect(lin.alphasCumprod[1]).toBeCloseTo(0.9 * (1 - 0.1 - 0.1 / 9), 6);
    expect(Array.from(new DDPMScheduler({ num_train_timesteps: 2, trained_betas: [0.5, 0.25] }).schedule.alphasCumprod)).toEqual([0.5, 0.375]);
    expect(() => new DDPMScheduler({ num_train_timesteps: 3, trained_betas: [0.5, 0.25] })).toThrow('trained_betas has 2 values for num_train_timesteps 3');
  });
});

describe('timestep spacings (diffusers 0.27.2 set_timesteps, evaluated with numpy 2.4)', () => {
  const with_ = (spacing: string) => ({ ...SD, timestep_spacing: spacing });
  const ts = (s: Scheduler, n: number) => (s.setTimesteps(n), [...s.timesteps]);

  it('DDIM and DDPM: leading (+ steps_offset), linspace and trailing, numpy rounding halves to even', () => {
    for (const S of [DDIMScheduler, DDPMScheduler]) {
      expect(ts(new S(with_('leading')), 3)).toEqual([667, 334, 1]);
      expect(ts(new S(with_('leading')), 7)).toEqual([853, 711, 569, 427, 285, 143, 1]);
      expect(ts(new S(with_('linspace')), 3)).toEqual([999, 500, 0]);
      expect(ts(new S(with_('linspace')), 7)).toEqual([999, 832, 666, 500, 333, 166, 0]);
      expect(ts(new S(with_('linspace')), 25)).toEqual([999, 957, 916, 874, 832, 791, 749, 708, 666, 624, 583, 541, 500, 458, 416, 375, 333, 291, 250, 208, 166, 125, 83, 42, 0]);
      expect(ts(new S(with_('trailing')), 7)).toEqual([999, 856, 713, 570, 428, 285, 142]);
      expect(ts(new S(with_('trailing')), 16)).toEqual([999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61]);
    }
  });

  it('trailing keeps the steps asked for where numpy\'s arange gives diffusers an extra timestep −1 (61 steps)', () => {
    const t = ts(new DDIMScheduler(with_('trailing')), 61);
    expect(t).toHaveLength(61);
    expect(t.slice(0, 4)).toEqual([999, 983, 966, 950]);
    expect(t.slice(-3)).toEqual([48, 32, 15]);
  });

  it('PNDM: the second timestep twice', () => {
    expect(ts(new PNDMScheduler(with_('leading')), 7)).toEqual([853, 711, 711, 569, 427, 285, 143, 1]);
    expect(ts(new PNDMScheduler(with_('linspace')), 3)).toEqual([999, 500, 500, 0]);
    expect(ts(new PNDMScheduler(with_('trailing')), 7)).toEqual([999, 856, 856, 713, 570, 428, 285, 142]);
  });

  it('DPM-Solver++: n + 1 points with the last dropped for leading and linspace', () => {
    expect(ts(new DPMSolverMultistepScheduler(with_('leading')), 20)).toEqual([941, 894, 847, 800, 753, 706, 659, 612, 565, 518, 471, 424, 377, 330, 283, 236, 189, 142, 95, 48]);
    expect(ts(new DPMSolverMultistepScheduler(with_('leading')), 25)).toEqual([951, 913, 875, 837, 799, 761, 723, 685, 647, 609, 571, 533, 495, 457, 419, 381, 343, 305, 267, 229, 191, 153, 115, 77, 39]);
    expect(ts(new DPMSolverMultistepScheduler(with_('linspace')), 20)).toEqual([999, 949, 899, 849, 799, 749, 699, 649, 599, 549, 500, 450, 400, 350, 300, 250, 200, 150, 100, 50]);
    expect(ts(new DPMSolverMultistepScheduler(with_('linspace')), 7)).toEqual([999, 856, 714, 571, 428, 285, 143]);
    expect(ts(new DPMSolverMultistepScheduler(with_('trailing')), 20)).toEqual([999, 949, 899, 849, 799, 749, 699, 649, 599, 549, 499, 449, 399, 349, 299, 249, 199, 149, 99, 49]);
    // SD's file has no timestep_spacing: DPM's own default (linspace) applies, as with from_pretrained.
    expect(ts(new DPMSolverMultistepScheduler(SD), 3)).toEqual([999, 666, 333]);
  });

  it('refuses step counts that are not whole, too many, or pushed past the last timestep by steps_offset', () => {
    for (const n of [0, -1, 2.5, 1001, NaN]) expect(() => new DDIMScheduler(SD).setTimesteps(n)).toThrow('the number of inference steps must be an integer from 1 to 1000');
    expect(() => new DDPMScheduler(SD).setTimesteps(1000)).toThrow('timestep 1000 is outside the 1000 trained timesteps');
    expect(() => new DPMSolverMultistepScheduler(with_('leading')).setTimesteps(1000)).toThrow('1000 steps do not fit in 1000 timesteps');
  });
});

describe('configs', () => {
  it('SD 1.x\'s scheduler_config.json builds every sampler; keys of other classes are ignored', () => {
    for (const name of ['ddim', 'pndm', 'dpmpp_2m', 'ddpm'] as const) {
      const s = createScheduler(name, SD);
      s.setTimesteps(20);
      expect(s.timesteps).toHaveLength(name === 'pndm' ? 21 : 20);
      expect(s.schedule.alphasCumprod[999]).toBe(Math.fround(0.00466009602));
    }
    expect(createScheduler('ddim', SD)).toBeInstanceOf(DDIMScheduler);
    expect((createScheduler('ddim', SD, { eta: 0.5 }) as DDIMScheduler).eta).toBe(0.5);
    // The sampler's name decides the order, whatever the file says.
    expect((createScheduler('dpmpp_2m', { ...SD, solver_order: 1 }) as DPMSolverMultistepScheduler).config.solver_order).toBe(2);
  });

  it('refuses what is not implemented, naming the key', () => {
    const refused: [() => unknown, string][] = [
      [() => new DDIMScheduler({ ...SD, thresholding: true }), 'DDIM scheduler config: thresholding'],
      [() => new DDIMScheduler({ ...SD, beta_schedule: 'squaredcos_cap_v2' }), 'beta_schedule'],
      [() => new DDIMScheduler({ ...SD, prediction_type: 'sample' }), 'prediction_type'],
      [() => new DDIMScheduler({ ...SD, rescale_betas_zero_snr: true }), 'rescale_betas_zero_snr'],
      [() => new DDPMScheduler({ ...SD, variance_type: 'learned_range' }), 'DDPM scheduler config: variance_type'],
      [() => new PNDMScheduler({ ...SD, skip_prk_steps: false }), 'skip_prk_steps: only true is supported (the Runge–Kutta warm-up is not implemented)'],
      [() => new PNDMScheduler({ beta_schedule: 'scaled_linear' }), 'skip_prk_steps: only true is supported'],
      [() => new DPMSolverMultistepScheduler({ ...SD, algorithm_type: 'sde-dpmsolver++' }), 'DPM-Solver++ scheduler config: algorithm_type'],
      [() => new DPMSolverMultistepScheduler({ ...SD, solver_order: 3 }), 'solver_order'],
      [() => new DPMSolverMultistepScheduler({ ...SD, use_karras_sigmas: true }), 'use_karras_sigmas'],
      [() => new DDIMScheduler({ ...SD, beta_start: 0.02, beta_end: 0.01 }), 'beta_end (0.01) must be above beta_start (0.02)'],
      [() => new DDIMScheduler('scheduler'), '(root)'],
      [() => new DDIMScheduler(SD, { eta: -1 }), 'eta must be from 0 to 1, not -1'],
      [() => new DDIMScheduler(SD, { eta: 1.5 }), 'eta must be from 0 to 1, not 1.5'],
    ];
    for (const [make, message] of refused) expect(make).toThrow(message);
  });
});

describe('GaussianNoise', () => {
  it('seed 0 starts from SplitMix64\'s published first outputs run through xoshiro128**', () => {
    // SplitMix64(0) = 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4 → state words (low, high); xoshiro128**'s first
    // outputs from that state, computed with the reference C algorithm (in Python).
    const g = new GaussianNoise(0);
    expect([g.uint32(), g.uint32()]).toEqual([3737715805, 2584255861]);
  });

  it('a seed gives the same stream on every run and however it is split into fills; another seed another stream', () => {
    const whole = new GaussianNoise(42).fill(new Float32Array(9));
    const g = new GaussianNoise(42);
    const parts = [...g.fill(new Float32Array(3)), ...g.fill(new Float32Array(5)), ...g.fill(new Float32Array(1))];
    expect(parts).toEqual([...whole]);
    // Pinned: a change here changes every recorded seed's latents.
    expect(Array.from(whole.subarray(0, 3), (x) => x.toFixed(6))).toEqual(['1.033046', '0.025865', '-0.578863']);
    expect(new GaussianNoise(43).fill(new Float32Array(9))).not.toEqual(whole);
    expect(new GaussianNoise(2 ** 40).fill(new Float32Array(9))).not.toEqual(new GaussianNoise(0).fill(new Float32Array(9)));
  });

  it('is standard normal: mean 0, variance 1, 4.55% beyond ±2', () => {
    const x = new GaussianNoise(7).fill(new Float32Array(200_000));
    const mean = x.reduce((a, v) => a + v, 0) / x.length;
    const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
    const tails = x.reduce((a, v) => a + (Math.abs(v) > 2 ? 1 : 0), 0) / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1)).toBeLessThan(0.015);
    expect(Math.abs(tails - 0.0455)).toBeLessThan(0.002);
  });

  it('uniformInt covers both ends of Peekaboo\'s U{20, …, 980} and nothing outside', () => {
    const g = new GaussianNoise(3);
    const seen = new Set<number>();
    for (let i = 0; i < 20_000; i++) seen.add(g.uniformInt(20, 980));
    expect(Math.min(...seen)).toBe(20);
    expect(Math.max(...seen)).toBe(980);
    expect(seen.size).toBe(961);
  });

  it('refuses seeds that are not whole, negative or beyond 2^53 − 1', () => {
    for (const s of [-1, 1.5, 2 ** 53, NaN]) expect(() => new GaussianNoise(s)).toThrow('a seed must be an integer from 0 to 9007199254740991');
  });
});

/** An ε model for data ~ N(μ, s²) per value: the exact E[ε | x_t] = σ_t (x − α_t μ)/(α_t² s² + σ_t²). */
function gaussianModel(mu: number[], sd: number[]) {
  const exact = (a: number) => Float32Array.from(mu, (m, i) => Math.sqrt(a) * m + Math.sqrt(a * sd[i]! ** 2 + 1 - a) * Z[i]!);
  const eps = (x: Float32Array, a: number) => Float32Array.from(x, (v, i) => (Math.sqrt(1 - a) * (v - Math.sqrt(a) * mu[i]!)) / (a * sd[i]! ** 2 + 1 - a));
  return { exact, eps };
}
const toy = new GaussianNoise(11);
const MU = Array.from({ length: 64 }, () => 0.8 * toy.normal());
const SDEV = Array.from({ length: 64 }, () => 0.2 + toy.uniform());
/** The probability-flow ODE keeps (x − α_t μ)/√(α_t² s² + σ_t²) of each value fixed: it is this z all the way. */
const Z = Array.from({ length: 64 }, () => toy.normal());

/** Samples from the toy model's exact x at the first timestep until `stopAt`; the max error against the exact x there. */
function toyError(s: Scheduler, n: number, stopAt: number): number {
  const { exact, eps } = gaussianModel(MU, SDEV);
  s.setTimesteps(n);
  const acp = s.schedule.alphasCumprod;
  let x: Float32Array = exact(acp[s.timesteps[0]!]!);
  for (const t of s.timesteps) {
    if (t === stopAt) return maxDiff(x, exact(acp[t]!));
    x = s.step(eps(x, acp[t]!), t, x).prevSample;
  }
  throw new Error(`${stopAt} is not one of the timesteps`);
}

describe('DPM-Solver++ 2M (no golden: diffusers\' formulas and an exact solution)', () => {
  /**
   * diffusers' DPMSolverMultistepScheduler.step for dpmsolver++/midpoint, written out as it computes it:
   * σ = √((1 − ᾱ)/ᾱ), α_t = 1/√(σ² + 1), σ_t = σ·α_t, λ = log α_t − log σ_t; the data prediction
   * x0 = (x − σ_t ε)/α_t; h = λ_t − λ_s. First order (the first step, and the last one when it ends at σ = 0):
   * x_t = (σ_t/σ_s)x − α_t(e^−h − 1)·x0. Second order: r0 = h_0/h with h_0 = λ_s0 − λ_s1, D0 = m0,
   * D1 = (m0 − m1)/r0, x_t = (σ_t/σ_s0)x − α_t(e^−h − 1)·D0 − ½α_t(e^−h − 1)·D1.
   */
  function reference(acp: Float32Array, ts: readonly number[], outputs: Float32Array[], x: Float32Array): Float32Array[] {
    const sig = ts.map((t) => Math.sqrt((1 - acp[t]!) / acp[t]!)).concat(0); // final_sigmas_type "zero"
    const alphaT = (s: number) => 1 / Math.sqrt(s * s + 1);
    const lam = (s: number) => (s === 0 ? Infinity : Math.log(alphaT(s)) - Math.log(s * alphaT(s)));
    const out: Float32Array[] = [];
    let m1: number[] | undefined;
    let sample = Array.from(x);
    ts.forEach((_, i) => {
      const [ss0, st] = [sig[i]! * alphaT(sig[i]!), sig[i + 1]! * alphaT(sig[i + 1]!)];
      const at = alphaT(sig[i + 1]!), as0 = alphaT(sig[i]!);
      const m0 = sample.map((v, k) => (v - ss0 * outputs[i]![k]!) / as0);
      const h = lam(sig[i + 1]!) - lam(sig[i]!);
      const last = i === ts.length - 1;
      if (!m1 || last) sample = sample.map((v, k) => (st / ss0) * v - at * (Math.exp(-h) - 1) * m0[k]!);
      else {
        const r0 = (lam(sig[i]!) - lam(sig[i - 1]!)) / h;
        const p = m1;
        sample = sample.map((v, k) => (st / ss0) * v - at * (Math.exp(-h) - 1) * m0[k]! - 0.5 * at * (Math.exp(-h) - 1) * ((m0[k]! - p[k]!) / r0));
      }
      m1 = m0;
      out.push(Float32Array.from(sample));
    });
    return out;
  }

  it('follows diffusers\' update step by step over 20 and 25 steps (SD config, leading spacing)', () => {
    for (const n of [20, 25]) {
      const s = new DPMSolverMultistepScheduler({ ...SD, timestep_spacing: 'leading' });
      s.setTimesteps(n);
      const noise = new GaussianNoise(n);
      const outputs = s.timesteps.map(() => noise.fill(new Float32Array(32)));
      const x0 = noise.fill(new Float32Array(32));
      const want = reference(s.schedule.alphasCumprod, s.timesteps, outputs, x0);
      let x = x0;
      s.timesteps.forEach((t, i) => {
        x = s.step(outputs[i]!, t, x).prevSample;
        // Random ε makes x0 = (x − σ ε)/α reach |x| ≈ 20 at the noisy end: 1e-6 relative is a few float32 ulps.
        expect(maxDiff(x, want[i]!), `step ${i}`).toBeLessThan(1e-6 * Math.max(1, ...want[i]!.map(Math.abs)));
      });
    }
  });

  it('at first order it is DDIM at η = 0 (same grid: trailing, ending at ᾱ_0)', () => {
    const cfg = { ...SD, timestep_spacing: 'trailing' };
    const dpm = new DPMSolverMultistepScheduler({ ...cfg, solver_order: 1, final_sigmas_type: 'sigma_min' });
    const ddim = new DDIMScheduler(cfg);
    dpm.setTimesteps(25);
    ddim.setTimesteps(25);
    expect(dpm.timesteps).toEqual(ddim.timesteps);
    const noise = new GaussianNoise(5);
    let a = noise.fill(new Float32Array(32)), b = a;
    for (const t of ddim.timesteps) {
      const e = noise.fill(new Float32Array(32));
      a = dpm.step(e, t, a).prevSample;
      b = ddim.step(e, t, b).prevSample;
      expect(maxDiff(a, b), `t=${t}`).toBeLessThan(1e-5);
    }
  });

  it('converges at second order on Gaussian data where DDIM converges at first, and is closer at every step count', () => {
    // Compared at t = 199, a point of every trailing grid here. Below it the steps in λ stop shrinking with n (the
    // last step of any trailing grid spans t 2N/n → N/n, h ≈ ½·log 2), so no solver shows its order there.
    const cfg = { ...SD, timestep_spacing: 'trailing' };
    const steps = [10, 20, 25, 50, 100];
    const ddim = steps.map((n) => toyError(new DDIMScheduler(cfg), n, 199));
    const dpm = steps.map((n) => toyError(new DPMSolverMultistepScheduler(cfg), n, 199));
    for (let i = 1; i < steps.length; i++) {
      expect(ddim[i]!, `DDIM ${steps[i]} steps`).toBeLessThan(ddim[i - 1]!);
      expect(dpm[i]!, `DPM++ ${steps[i]} steps`).toBeLessThan(dpm[i - 1]!);
    }
    steps.forEach((n, i) => expect(dpm[i]!, `${n} steps`).toBeLessThan(ddim[i]! / 4));
    // Observed order from 50 to 100 steps: error ∝ n^−order.
    const order = (e: number[]) => Math.log2(e[3]! / e[4]!);
    expect(order(dpm)).toBeGreaterThan(1.7);
    expect(order(ddim)).toBeGreaterThan(0.8);
    expect(order(ddim)).toBeLessThan(1.2);
  });

  it('ends on x0 at σ = 0; the first step and that last one are first order', () => {
    const s = new DPMSolverMultistepScheduler(SD);
    s.setTimesteps(3);
    const e = new Float32Array([0.5, -1]);
    let x: Float32Array = new Float32Array([1, 2]);
    for (const t of s.timesteps.slice(0, -1)) x = s.step(e, t, x).prevSample;
    const last = s.step(e, s.timesteps[2]!, x);
    expect(last.prevSample).toEqual(last.predOriginalSample);
    const a = s.schedule.alphaCumprod(s.timesteps[2]!);
    expect(last.predOriginalSample![0]).toBeCloseTo((x[0]! - Math.sqrt(1 - a) * 0.5) / Math.sqrt(a), 5);
  });

  it('refuses steps out of order or after the last', () => {
    const s = new DPMSolverMultistepScheduler(SD);
    const x = new Float32Array(4);
    expect(() => s.step(x, 999, x)).toThrow('setTimesteps must be called before step');
    s.setTimesteps(2);
    expect(() => s.step(x, 500, x)).toThrow('step 1 must be at timestep 999, not 500');
    s.step(x, 999, x);
    s.step(x, 500, x);
    expect(() => s.step(x, 500, x)).toThrow('all 2 steps are done; call setTimesteps to sample again');
  });
});

describe('DDIM', () => {
  it('η > 0 adds η·σ_t·z to the η = 0 update with its direction shrunk to √(1 − ᾱ_prev − σ²) (DDIM eq. 12, 16)', () => {
    const s0 = new DDIMScheduler(SD), s = new DDIMScheduler(SD, { eta: 0.7 });
    s0.setTimesteps(50);
    s.setTimesteps(50);
    const x = new GaussianNoise(1).fill(new Float32Array(16)), e = new GaussianNoise(2).fill(new Float32Array(16));
    const noise = new CountingNoise();
    const t = 501;
    const out = s.step(e, t, x, noise);
    expect(noise.draws).toBe(1);
    const a = s.schedule.alphaCumprod(t), ap = s.schedule.alphaCumprod(t - 20);
    const std = 0.7 * Math.sqrt(((1 - ap) / (1 - a)) * (1 - a / ap));
    x.forEach((xi, i) => {
      const x0 = (xi - Math.sqrt(1 - a) * e[i]!) / Math.sqrt(a);
      expect(out.prevSample[i]).toBeCloseTo(Math.sqrt(ap) * x0 + Math.sqrt(1 - ap - std * std) * e[i]! + std * Math.sin(1 + i), 5);
    });
    expect(s0.step(e, t, x).predOriginalSample).toEqual(out.predOriginalSample);
  });

  it('at η = 1 its variance is DDPM\'s posterior variance, except at the end (ᾱ_0 against 1)', () => {
    const ddim = new DDIMScheduler(SD, { eta: 1 }), ddpm = new DDPMScheduler(SD);
    ddim.setTimesteps(20);
    ddpm.setTimesteps(20);
    for (const t of ddim.timesteps.slice(0, -1)) expect(ddim.variance(t)).toBeCloseTo(ddpm.variance(t), 12);
    expect(ddpm.variance(1)).toBe(1e-20);
    expect(ddim.variance(1)).toBeGreaterThan(1e-4);
  });

  it('a seeded η > 0 run repeats exactly with the same seed and differs with another', () => {
    const run = (seed: number) => {
      const s = new DDIMScheduler(SD, { eta: 1 });
      const g = new GaussianNoise(seed);
      s.setTimesteps(10);
      let x = g.fill(new Float32Array(64));
      for (const t of s.timesteps) x = s.step(Float32Array.from(x, (v) => 0.5 * v), t, x, g).prevSample;
      return x;
    };
    expect(run(9)).toEqual(run(9));
    expect(maxDiff(run(9), run(10))).toBeGreaterThan(0.1);
    expect(() => new DDIMScheduler(SD, { eta: 1 }).step(new Float32Array(2), 1, new Float32Array(2))).toThrow('setTimesteps must be called before step');
    const s = new DDIMScheduler(SD, { eta: 1 });
    s.setTimesteps(10);
    expect(() => s.step(new Float32Array(2), 901, new Float32Array(2))).toThrow('DDIM with eta > 0 needs a noise source');
  });

  it('clip_sample clamps x0 to ±clip_sample_range; ε stays the model\'s', () => {
    const s = new DDIMScheduler({ ...SD, clip_sample: true, clip_sample_range: 0.5 });
    s.setTimesteps(50);
    const x = new Float32Array([3, -3, 0.1]), e = new Float32Array([0, 0, 0]);
    const out = s.step(e, 501, x);
    expect(Array.from(out.predOriginalSample!)).toEqual([0.5, -0.5, Math.fround(x[2]! / Math.sqrt(s.schedule.alphaCumprod(501)))]);
    expect(out.prevSample[0]).toBeCloseTo(Math.sqrt(s.schedule.alphaCumprod(481)) * 0.5, 6);
  });

  it('refuses a model output of another size than the sample', () => {
    const s = new DDIMScheduler(SD);
    s.setTimesteps(10);
    expect(() => s.step(new Float32Array(8), 901, new Float32Array(4))).toThrow('8 model output values for a sample of 4');
  });
});

describe('DDPM', () => {
  it('draws noise at every t > 0 and none at t = 0 (linspace ends there)', () => {
    const s = new DDPMScheduler({ ...SD, timestep_spacing: 'linspace' });
    s.setTimesteps(5);
    expect(s.timesteps.at(-1)).toBe(0);
    const noise = new CountingNoise();
    let x: Float32Array = new Float32Array(4).fill(1);
    for (const t of s.timesteps) x = s.step(new Float32Array(4), t, x, noise).prevSample;
    expect(noise.draws).toBe(4);
    expect(() => s.step(new Float32Array(4), 999, x)).toThrow('DDPM needs a noise source');
  });

  it('fixed_large uses the step\'s β = 1 − ᾱ_t/ᾱ_prev; fixed_small_log steps as fixed_small', () => {
    const large = new DDPMScheduler({ ...SD, variance_type: 'fixed_large' });
    const small = new DDPMScheduler(SD), log = new DDPMScheduler({ ...SD, variance_type: 'fixed_small_log' });
    for (const s of [large, small, log]) s.setTimesteps(20);
    const a = small.schedule.alphaCumprod(501), ap = small.schedule.alphaCumprod(451);
    expect(large.variance(501)).toBeCloseTo(1 - a / ap, 12);
    expect(small.variance(501)).toBeCloseTo(((1 - ap) / (1 - a)) * (1 - a / ap), 12);
    const x = new GaussianNoise(4).fill(new Float32Array(8)), e = new GaussianNoise(5).fill(new Float32Array(8));
    expect(log.step(e, 501, x, new CountingNoise()).prevSample).toEqual(small.step(e, 501, x, new CountingNoise()).prevSample);
  });
});

describe('PNDM', () => {
  it('refuses calls out of order and after the last', () => {
    const s = new PNDMScheduler(SD);
    s.setTimesteps(2);
    const x = new Float32Array(4);
    expect([...s.timesteps]).toEqual([501, 1, 1]);
    expect(() => s.step(x, 1, x)).toThrow('call 1 must be at timestep 501, not 1');
    for (const t of [501, 1, 1]) s.step(x, t, x);
    expect(() => s.step(x, 1, x)).toThrow('all 3 calls are done; call setTimesteps to sample again');
  });

  it('keeps its own copy of the history: a caller reusing its buffers does not change later steps', () => {
    const run = (reuse: boolean) => {
      const s = new PNDMScheduler(SD);
      s.setTimesteps(10);
      const buf = new Float32Array(8);
      let x = new GaussianNoise(8).fill(new Float32Array(8));
      s.timesteps.forEach((t, i) => {
        const e = reuse ? buf : new Float32Array(8);
        e.set(Float32Array.from(x, (v, k) => 0.3 * v + Math.cos(i + k)));
        const next = s.step(e, t, x).prevSample;
        if (reuse) x.set(next);
        else x = next;
      });
      return x;
    };
    expect(run(true)).toEqual(run(false));
  });
});

describe('v_prediction: the same model predicting v = α_t·ε − σ_t·x0 samples the same', () => {
  const cfg = { ...SD, prediction_type: 'v_prediction' };
  const { eps } = gaussianModel(MU, SDEV);
  const asV = (e: Float32Array, x: Float32Array, a: number) =>
    Float32Array.from(e, (ei, i) => Math.sqrt(a) * ei - Math.sqrt(1 - a) * ((x[i]! - Math.sqrt(1 - a) * ei) / Math.sqrt(a)));

  const pairs: [string, () => Scheduler, () => Scheduler][] = [
    ['DDIM', () => new DDIMScheduler(SD), () => new DDIMScheduler(cfg)],
    ['DDPM', () => new DDPMScheduler(SD), () => new DDPMScheduler(cfg)],
    ['DPM-Solver++', () => new DPMSolverMultistepScheduler(SD), () => new DPMSolverMultistepScheduler(cfg)],
  ];
  for (const [name, epsSched, vSched] of pairs) {
    it(name, () => {
      const a = epsSched(), b = vSched();
      a.setTimesteps(20);
      b.setTimesteps(20);
      let xa = new GaussianNoise(6).fill(new Float32Array(64)), xb = xa;
      const [na, nb] = [new CountingNoise(), new CountingNoise()];
      for (const t of a.timesteps) {
        const acp = a.schedule.alphaCumprod(t);
        xa = a.step(eps(xa, acp), t, xa, na).prevSample;
        xb = b.step(asV(eps(xb, acp), xb, acp), t, xb, nb).prevSample;
      }
      expect(maxDiff(xa, xb)).toBeLessThan(1e-4);
    });
  }

  it('PNDM (its first call; later calls combine v before turning it into ε, as diffusers)', () => {
    const a = new PNDMScheduler(SD), b = new PNDMScheduler(cfg);
    a.setTimesteps(20);
    b.setTimesteps(20);
    const x = new GaussianNoise(6).fill(new Float32Array(64));
    const t = a.timesteps[0]!, acp = a.schedule.alphaCumprod(t);
    const e = eps(x, acp);
    expect(maxDiff(a.step(e, t, x).prevSample, b.step(asV(e, x, acp), t, x).prevSample)).toBeLessThan(1e-5);
  });
});

describe('guidance', () => {
  const g = new GaussianNoise(12);
  const [u, c, im] = [0, 1, 2].map(() => g.fill(new Float32Array(16))) as [Float32Array, Float32Array, Float32Array];

  it('scale 0 is the unconditional prediction, scale 1 the conditional one', () => {
    expect(classifierFreeGuidance(u, c, 0)).toEqual(u);
    expect(classifierFreeGuidance(u, c, 1)).toEqual(c);
  });

  it('image and text guidance with equal scales is classifier-free guidance of the full prediction', () => {
    expect(maxDiff(imageTextGuidance({ full: c, image: im, uncond: u }, { image: 3, text: 3 }), classifierFreeGuidance(u, c, 3))).toBeLessThan(1e-5);
  });

  it('score distillation: no gradient when the guided prediction is the noise; else (1 − ᾱ_t)·(ε̂ − ε)', () => {
    const s = new DDIMScheduler(SD).schedule;
    expect(Array.from(scoreDistillationGradient(u, u, 500, s))).toEqual(Array(16).fill(0));
    const grad = scoreDistillationGradient(c, u, 20, s);
    expect(grad[3]).toBeCloseTo((1 - s.alphaCumprod(20)) * (c[3]! - u[3]!), 6);
  });

  it('refuses predictions of different sizes', () => {
    expect(() => classifierFreeGuidance(u, new Float32Array(3), 7.5)).toThrow('classifier-free guidance: the predictions differ in size (16, 3)');
    expect(() => imageTextGuidance({ full: c, image: im, uncond: new Float32Array(2) }, { image: 1.5, text: 7 })).toThrow('differ in size');
  });
});
