// The noise schedule Peekaboo draws timesteps from: it installs a PNDMScheduler only for its ᾱ and add_noise
// (stable_diffusion.py:44,57,108): scaled-linear β 0.00085 → 0.012 over 1000 steps, whatever the bundle's file says.
// Any scheduler class gives the same ᾱ table from these; DDPM's accepts the config as it is.
import { DDPMScheduler, type NoiseSchedule } from '../../ml/schedulers';

let schedule: NoiseSchedule | null = null;

export function peekabooSchedule(): NoiseSchedule {
  schedule ??= new DDPMScheduler({ beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', num_train_timesteps: 1000 }).schedule;
  return schedule;
}
