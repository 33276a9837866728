// The UNet grounded generation samples with (component 'unet_grounded'): the UNet's noise prediction plus the 25 block
// outputs the grounding module reads (ml/models/grounding groundingTaps), named by their diffusers modules, and every
// layer's head-averaged cross-attention map (`cross_attn.NN`, attention grounding), for a guidance pair (batch 2) of
// size×size latents. Sampling asks for the taps on the last step only, for the maps only in attention grounding.
import type { UNetVariant } from '../../ml/bundle';
import { buildUNet } from '../../ml/models';
import { GROUNDING_SD1_CONFIG, groundingTaps } from '../../ml/models/grounding';

export const GROUNDED_UNET: UNetVariant = {
  key: 'unet_grounded',
  title: 'grounded diffusion UNet variant',
  build({ config, weights, dtype, size }) {
    if (config.block_out_channels.length !== 4) throw new Error(`the grounding module reads a 4-level SD 1.x UNet, not one of ${config.block_out_channels.length} levels`);
    if (size !== 64) throw new Error(`the grounding module reads the taps of 64×64 latents (512×512 images), not ${size}×${size}`);
    const taps = groundingTaps({ ...GROUNDING_SD1_CONFIG, unet_channels: config.block_out_channels });
    const built = buildUNet(config, weights, { dtype, batch: 2, height: size, width: size, timesteps: 1, features: taps.map((t) => t.diffusers), crossAttention: true });
    const missing = taps.filter((t) => !built.outputs.includes(t.diffusers));
    if (missing.length) throw new Error(`the UNet has no ${missing.map((t) => t.diffusers).join(', ')} (its blocks are not SD 1.x's)`);
    return { graph: built.graph };
  },
};
