// Diffusion samplers as diffusers' schedulers, built from a bundle's scheduler_config.json (docs/models.md, "Samplers").
import { DDIMScheduler } from './ddim';
import { DDPMScheduler } from './ddpm';
import { DPMSolverMultistepScheduler } from './dpmSolver';
import { PNDMScheduler } from './pndm';
import type { Scheduler } from './schedule';

export { DDIMScheduler, DDIMConfigSchema } from './ddim';
export type { DDIMConfig } from './ddim';
export { DDPMScheduler, DDPMConfigSchema } from './ddpm';
export type { DDPMConfig } from './ddpm';
export { PNDMScheduler, PNDMConfigSchema } from './pndm';
export type { PNDMConfig, PlmsUpdate } from './pndm';
export { DPMSolverMultistepScheduler, DPMSolverConfigSchema } from './dpmSolver';
export type { DPMSolverConfig } from './dpmSolver';
export { NoiseSchedule, torchLinspaceF32 } from './schedule';
export type { NoiseSource, Scheduler, StepOutput, TimestepSpacing } from './schedule';
export { GaussianNoise, MAX_SEED, randomSeed } from './noise';
export { classifierFreeGuidance, imageTextGuidance, scoreDistillationGradient, scoreDistillationWeight } from './guidance';

/** The samplers a user can pick, by the name runs record. */
export const SAMPLERS = ['ddim', 'pndm', 'dpmpp_2m', 'ddpm'] as const;
export type SamplerName = (typeof SAMPLERS)[number];

/**
 * A sampler from a scheduler_config.json of any class (SD 1.x ships PNDM's), as diffusers' `from_config`: the keys
 * the sampler reads are taken, the others ignored, and a key it reads but the file lacks takes its own default.
 * `eta` is DDIM's (0: deterministic).
 */
export function createScheduler(name: SamplerName, config: unknown, options: { eta?: number } = {}): Scheduler {
  switch (name) {
    case 'ddim':
      return new DDIMScheduler(config, options);
    case 'pndm':
      return new PNDMScheduler(config);
    case 'dpmpp_2m':
      return new DPMSolverMultistepScheduler(typeof config === 'object' && config !== null ? { ...config, algorithm_type: 'dpmsolver++', solver_order: 2 } : config);
    case 'ddpm':
      return new DDPMScheduler(config);
  }
}
