// The UNet variant DiffSeg needs in a bundle (component 'unet_diffseg'): the UNet whose outputs are the head- and
// layer-averaged self-attention maps, one per feature-map size (`self_attn_mean.64x64`, …), for size×size latents.
// The converter builds it from the UNet's weights (ml/bundle/convert.ts UNetVariant).
import type { UNetVariant } from '../../ml/bundle';
import { buildUNet } from '../../ml/models';

/** The self-attention-means UNet without a noise head, plus the feature taps named (unet.ts `features`). */
export function selfAttentionUNet({ config, weights, dtype, size }: Parameters<UNetVariant['build']>[0], features: string[] = []): ReturnType<UNetVariant['build']> {
  const built = buildUNet(config, weights, { dtype, selfAttention: 'resolution', features, omitNoisePred: true, height: size, width: size });
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
}

export const DIFFSEG_UNET: UNetVariant = {
  key: 'unet_diffseg',
  title: 'DiffSeg UNet variant',
  build: (unet) => selfAttentionUNet(unet),
};
