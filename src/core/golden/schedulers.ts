// diffusers DDIM (50 steps), DDPM (20, Ref LDM-Seg's) and PNDM (50, SD's default) chains, add_noise and the
// guidance combinations, from the case's seeded start sample and stored model outputs (and DDPM's stored noise).
// Each chain runs free from x_T on our own samples, as a pipeline does, so errors accumulate over its steps.
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import {
  classifierFreeGuidance, DDIMScheduler, DDPMScheduler, imageTextGuidance, PNDMScheduler, scoreDistillationGradient, scoreDistillationWeight,
  type NoiseSchedule, type NoiseSource, type PlmsUpdate, type StepOutput,
} from '../ml/schedulers';
import { SafetensorsFile } from '../ml/weights';
import {
  compareTensor, compareValues, exactCheck, int64Tensor, readJsonObject, ReferenceOutputs, type GoldenKind, type OutputCheck,
} from './compare';

// The README's float64 re-run of the same diffusers code ends within 7.2e-6 (DDIM), 3.1e-6 (DDPM) and 5.5e-6
// (PNDM) of the float32 references (|x| ≲ 4); ours computes each step in float64 and keeps float32 samples.
const CHAIN_ATOL = 1e-4;
/** One float32 rounding of values below 4 (add_noise, the variances) is at most 2.4e-7. */
const ROUNDING_ATOL = 1e-6;
/**
 * Guidance reaches |x| ≈ 460 at scale 100, where a float32 ulp is 3e-5. The reference rounds ε_c − ε_u, s·(…) and
 * the sum to float32, we round once: 4 float32 ulps of the largest reference value bound the difference.
 */
const guidanceTolerance = (ref: Float32Array) => 2 ** -21 * ref.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

const Manifest = z.object({
  cases: z.record(z.string(), z.object({
    scheduler_config: z.string(),
    effective_configs: z.object({ ddim: z.string(), ddpm: z.string(), pndm: z.string() }),
  })),
});

export const schedulersKind: GoldenKind = {
  title: 'diffusers DDIM, DDPM and PNDM steps, add_noise and guidance',
  async check(dir, manifest) {
    const cases = Object.values(Manifest.parse(manifest).cases);
    if (cases.length !== 1) throw new Error(`manifest.json describes ${cases.length} cases, expected 1`);
    const c = cases[0]!;
    const sd = readJsonObject(join(dir, c.scheduler_config));
    const config = (k: keyof typeof c.effective_configs) => readJsonObject(join(dir, c.effective_configs[k]));
    const file = (name: string, prefix: string) => new ReferenceOutputs(SafetensorsFile.open(join(dir, name)), prefix);

    const ddim = new DDIMScheduler(config('ddim'));
    const ddpm = new DDPMScheduler(config('ddpm'));
    const pndm = new PNDMScheduler(config('pndm'));
    const s = ddim.schedule;
    const common = file('common.safetensors', 'common/');
    const tables = { betas: s.betas, alphas: s.alphas, alphas_cumprod: s.alphasCumprod, final_alpha_cumprod: [s.alphasCumprod[0]!] };
    for (const [k, v] of Object.entries(tables)) common.add(exactValues(`common/${k}`, v, common.file.readFloat32(k)), k);
    // The chains start from their own files' x_T; the case's is the same sample.
    common.add(exactValues('common/x_T', common.file.readFloat32('x_T'), SafetensorsFile.open(join(dir, 'ddim_50.safetensors')).readFloat32('x_T')), 'x_T');
    common.add(exactValues('common/add_noise_x0', common.file.readFloat32('add_noise_x0'), common.file.readFloat32('x0_target')), 'add_noise_x0');
    return [
      configCheck('ddim', ddim.config, new DDIMScheduler(sd).config),
      configCheck('ddpm', ddpm.config, new DDPMScheduler(sd).config),
      configCheck('pndm', pndm.config, new PNDMScheduler(sd).config),
      ...addNoiseChecks(common, s),
      ...chainChecks(file('ddim_50.safetensors', 'ddim/'), 'ddim', ddim),
      ...chainChecks(file('ddpm_20.safetensors', 'ddpm/'), 'ddpm', ddpm),
      ...chainChecks(file('pndm_50.safetensors', 'pndm/'), 'pndm', pndm),
      ...guidanceChecks(file('guidance.safetensors', 'guidance/'), s),
    ];
  },
};

/** The config we read from SD's scheduler_config.json equals the one diffusers ended up with (defaults filled in). */
function configCheck(name: string, effective: object, fromSd: object): OutputCheck {
  const a = effective as Record<string, unknown>, b = fromSd as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return exactCheck(`${name}/config`, keys, (k) => (JSON.stringify(a[k]) === JSON.stringify(b[k]) ? undefined : `${k}: ${JSON.stringify(b[k])} from the SD config, ${JSON.stringify(a[k])} effective`));
}

function exactValues(name: string, got: ArrayLike<number>, want: ArrayLike<number>): OutputCheck {
  if (got.length !== want.length) return { name, measure: 'mismatches', error: Infinity, tolerance: 0, detail: `${got.length} values, reference ${want.length}` };
  return exactCheck(name, Array.from(want, (_, i) => i), (i) => (Object.is(got[i], want[i]) ? undefined : `[${i}] ${got[i]}, reference ${want[i]}`));
}

const int64s = (f: SafetensorsFile, name: string): number[] => Array.from(int64Tensor(f, name).data as BigInt64Array, Number);

const tensor = (data: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', data, dims);

function addNoiseChecks(ref: ReferenceOutputs, s: NoiseSchedule): OutputCheck[] {
  const f = ref.file;
  const x0 = f.readFloat32('x0_target'), noise = f.readFloat32('add_noise_noise');
  const ts = int64s(f, 'add_noise_timesteps');
  const out = new Float32Array(ts.length * x0.length);
  ts.forEach((t, i) => out.set(s.addNoise(x0, noise, t), i * x0.length));
  ref.add(compareTensor('common/add_noise_out', tensor(out, f.info('add_noise_out').shape), f, 'add_noise_out', ROUNDING_ATOL), 'add_noise_out', 'x0_target', 'add_noise_noise', 'add_noise_timesteps');
  const batch = s.addNoise(x0, noise, int64s(f, 'add_noise_batch_timesteps'));
  ref.add(compareTensor('common/add_noise_batch_out', tensor(batch, f.info('x0_target').shape), f, 'add_noise_batch_out', ROUNDING_ATOL), 'add_noise_batch_out', 'add_noise_batch_timesteps');
  return ref.checks();
}

/** Replays the reference's recorded noise draws, one stored tensor per `fill`, and counts them. */
class RecordedNoise implements NoiseSource {
  draws = 0;
  constructor(private readonly all: Float32Array, private readonly per: number) {}
  fill(out: Float32Array): Float32Array {
    if (out.length !== this.per) throw new Error(`noise of ${out.length} values asked, the recorded draws have ${this.per}`);
    const at = this.draws++ * this.per;
    if (at + this.per > this.all.length) throw new Error(`noise draw ${this.draws} asked, ${this.all.length / this.per} recorded`);
    out.set(this.all.subarray(at, at + this.per));
    return out;
  }
}

/** Runs a scheduler over the file's timesteps from its x_T with its stored model outputs, on our own samples. */
function chainChecks(ref: ReferenceOutputs, name: string, sched: DDIMScheduler | DDPMScheduler | PNDMScheduler): OutputCheck[] {
  const f = ref.file;
  const want = int64s(f, 'timesteps');
  const steps = sched instanceof PNDMScheduler ? want.length - 1 : want.length; // PNDM calls the model n + 1 times
  sched.setTimesteps(steps);
  const ts = sched.timesteps;
  ref.add(exactValues(`${name}/timesteps`, ts, want), 'timesteps');
  ref.add(exactValues(`${name}/timesteps_float32`, ts, f.readFloat32('timesteps_float32')), 'timesteps_float32');

  const x = f.readFloat32('x_T');
  const per = x.length;
  const eps = f.readFloat32('model_outputs');
  const noise = f.has('variance_noise') ? new RecordedNoise(f.readFloat32('variance_noise'), per) : undefined;
  const n = Math.min(ts.length, eps.length / per);
  const prev = new Float32Array(n * per), x0 = new Float32Array(n * per);
  const plmsEps = new Float32Array(n * per), plmsIn = new Float32Array(n * per);
  const plmsT: number[] = [], plmsPrev: number[] = [], drawsPerStep: number[] = [], variances: number[] = [];
  let sample = x;
  for (let i = 0; i < n; i++) {
    const before = noise?.draws ?? 0;
    const out: StepOutput = sched.step(eps.subarray(i * per, (i + 1) * per), ts[i]!, sample, noise);
    drawsPerStep.push((noise?.draws ?? 0) - before);
    sample = out.prevSample;
    prev.set(sample, i * per);
    if (out.predOriginalSample) x0.set(out.predOriginalSample, i * per);
    if (sched instanceof DDPMScheduler) variances.push(sched.variance(ts[i]!));
    if ('plms' in out) {
      const u = out.plms as PlmsUpdate;
      plmsT.push(u.timestep);
      plmsPrev.push(u.prevTimestep);
      plmsEps.set(u.modelOutput, i * per);
      plmsIn.set(u.sample, i * per);
    }
  }
  const dims = (k: string) => f.info(k).shape;
  ref.add(compareTensor(`${name}/prev_samples`, tensor(prev, [n, ...dims('x_T')]), f, 'prev_samples', CHAIN_ATOL), 'prev_samples', 'x_T', 'model_outputs');
  if (f.has('pred_original_samples')) ref.tensor(tensor(x0, [n, ...dims('x_T')]), 'pred_original_samples', CHAIN_ATOL);
  if (noise) {
    // diffusers draws at every t > 0, the last step (t = 1) included.
    ref.add(exactCheck(`${name}/variance_noise draws`, drawsPerStep, (d, i) => (d === 1 ? undefined : `step ${i} (t = ${ts[i]}) drew ${d} times`)), 'variance_noise');
    ref.add(compareValues(`${name}/variances`, tensor(Float32Array.from(variances), [n]), { data: f.readFloat32('variances'), dims: dims('variances') }, ROUNDING_ATOL), 'variances');
  }
  if (f.has('plms_timestep')) {
    ref.add(exactValues(`${name}/plms_timestep`, plmsT, int64s(f, 'plms_timestep')), 'plms_timestep');
    ref.add(exactValues(`${name}/plms_prev_timestep`, plmsPrev, int64s(f, 'plms_prev_timestep')), 'plms_prev_timestep');
    ref.tensor(tensor(plmsEps, [n, ...dims('x_T')]), 'plms_combined_eps', CHAIN_ATOL);
    ref.tensor(tensor(plmsIn, [n, ...dims('x_T')]), 'plms_sample_in', CHAIN_ATOL);
  }
  return ref.checks();
}

function guidanceChecks(ref: ReferenceOutputs, s: NoiseSchedule): OutputCheck[] {
  const f = ref.file;
  const g = (k: string) => f.readFloat32(k);
  const dims = f.info('noise_pred_uncond').shape;
  const uncond = g('noise_pred_uncond'), text = g('noise_pred_text'), image = g('noise_pred_image');
  const cfg75 = classifierFreeGuidance(uncond, text, 7.5);
  ref.add(compareTensor('guidance/cfg_7_5', tensor(cfg75, dims), f, 'cfg_7_5', guidanceTolerance(g('cfg_7_5'))), 'cfg_7_5', 'noise_pred_uncond', 'noise_pred_text');
  const ip2p = imageTextGuidance({ full: text, image, uncond }, { image: 1.5, text: 7 });
  ref.add(compareTensor('guidance/refldmseg_tgs7_igs1_5', tensor(ip2p, dims), f, 'refldmseg_tgs7_igs1_5', guidanceTolerance(g('refldmseg_tgs7_igs1_5'))), 'refldmseg_tgs7_igs1_5', 'noise_pred_image');
  const cfg100 = classifierFreeGuidance(uncond, text, 100);
  ref.tensor(tensor(cfg100, dims), 'cfg_100', guidanceTolerance(g('cfg_100')));
  const [t] = int64s(f, 'sds_t');
  ref.add(exactValues('guidance/sds_w', [Math.fround(scoreDistillationWeight(t!, s))], g('sds_w')), 'sds_w', 'sds_t');
  // From our own cfg_100, as Peekaboo computes it.
  const grad = scoreDistillationGradient(cfg100, g('sds_noise'), t!, s);
  ref.add(compareTensor('guidance/sds_grad', tensor(grad, dims), f, 'sds_grad', guidanceTolerance(g('sds_grad'))), 'sds_grad', 'sds_noise');
  return ref.checks();
}
