// The UNet variant the prototype mode needs in a bundle (component 'unet_prototype'): DiffSeg's self-attention means
// for the query's segments, and the output of the second up block (32² × 1280 for SD 1.x at a 64² latent, the
// features DIFT matches across images with) from the same pass. Built by the converter from any SD 1.x UNet.
import type { UNetVariant } from '../../ml/bundle';
import { selfAttentionUNet } from '../diffseg/variant';

/** The feature output (unet.ts feature taps): up_block.1 is the 32² level, past the coarse 16² semantics. */
export const FEATURE_TAP = 'up_block.1';

export const PROTOTYPE_UNET: UNetVariant = {
  key: 'unet_prototype',
  title: 'Prototype UNet variant',
  build: (unet) => selfAttentionUNet(unet, [FEATURE_TAP]),
};
