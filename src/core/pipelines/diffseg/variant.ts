// The UNet variant DiffSeg needs in a bundle (component 'unet_diffseg'): the UNet whose outputs are the head- and
// layer-averaged self-attention maps, one per feature-map size (`self_attn_mean.64x64`, …), for size×size latents.
// The converter builds it from the UNet's weights (ml/bundle/convert.ts UNetVariant). It also outputs `up_block.1`,
// the second up block's output (32² × 1280 for SD 1.x at a 64² latent), which the 64² self-attention layers after it
// compute anyway: the prototype mode's features (prototype/inference.ts), from the same pass as DiffSeg's maps. And
// every layer's head-averaged cross-attention map (`cross_attn.NN` [1, S², 77]): the vocabulary mode names DiffSeg's
// segments with them (vocabulary/inference.ts), from the same pass too; DiffSeg itself does not ask for them.
import type { UNetVariant } from '../../ml/bundle';
import { buildUNet } from '../../ml/models';

/** The feature output of the DiffSeg UNet variant (unet.ts feature taps). */
export const FEATURE_TAP = 'up_block.1';

export const DIFFSEG_UNET: UNetVariant = {
  key: 'unet_diffseg',
  title: 'DiffSeg UNet variant',
  build({ config, weights, dtype, size }) {
    const built = buildUNet(config, weights, { dtype, selfAttention: 'resolution', features: [FEATURE_TAP], crossAttention: true, omitNoisePred: true, height: size, width: size });
    if (!built.attentionLayers.length) throw new Error('the UNet has no self-attention layers');
    const groups = new Map<string, { output: string; height: number; width: number; layers: number; heads: number[] }>();
    for (const l of built.attentionLayers) {
      if (l.height === null || l.width === null) throw new Error(`the self-attention map size of ${l.module} is not known for ${size}×${size} latents`);
      const key = `${l.height}x${l.width}`;
      const gr = groups.get(key) ?? { output: `self_attn_mean.${key}`, height: l.height, width: l.width, layers: 0, heads: [] };
      gr.layers++;
      gr.heads.push(l.heads);
      groups.set(key, gr);
    }
    return { graph: built.graph, extra: { selfAttention: [...groups.values()] } };
  },
};
