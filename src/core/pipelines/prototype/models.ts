// The models of the prototype mode are DiffSeg's, from any SD 1.x bundle: the VAE encoder, and DiffSeg's UNet variant,
// which gives the self-attention maps and the UNet features (diffseg/variant.ts FEATURE_TAP) in one pass.
import { BundleError, type BundleManifest } from '../../ml/bundle';
import type { InferenceHost, RunOptions } from '../../ml/runtime';
import { BundleModels as DiffSegBundleModels, DIFFSEG_COMPONENTS, type AttentionMaps } from '../diffseg/models';
import { DIFFSEG_UNET, FEATURE_TAP } from '../diffseg/variant';

/** What the prototype mode reads from a bundle: DiffSeg's components. */
export const PROTOTYPE_COMPONENTS = DIFFSEG_COMPONENTS;

/** Row-major [channels, side, side] features of one image's letterbox square. */
export interface Features {
  data: Float32Array;
  channels: number;
  side: number;
}

export interface PrototypeModels {
  readonly name: string;
  /** Identity for caches: changes when the bundle is rebuilt. */
  readonly id: string;
  readonly scalingFactor: number;
  /** image [1,3,512,512] in [−1,1] → latent mean [1,4,64,64] (DiffSeg's input). */
  encode(rgb512: Float32Array, run?: RunOptions): Promise<Float32Array>;
  /** scaled latent [1,4,64,64] → DiffSeg's attention maps and the features of the same UNet pass (t = 300, empty prompt). */
  pass(latentScaled: Float32Array, run?: RunOptions): Promise<{ maps: AttentionMaps; features: Features }>;
  dispose(): Promise<void>;
}

/** Why a bundle holding DiffSeg's components cannot serve the prototype mode (converted before its UNet gave features), or null. */
export function noFeatures(manifest: BundleManifest): string | null {
  return manifest.components[DIFFSEG_UNET.key]?.outputs.some((o) => o.name === FEATURE_TAP)
    ? null
    : `model bundle ${manifest.name} was converted before the prototype mode: its ${DIFFSEG_UNET.key} has no ${FEATURE_TAP} output (convert the checkpoint again with \`npx difflabel models convert\`)`;
}

/** The prototype mode's models of a bundle, through DiffSeg's (same sessions: a DiffSeg session on it shares them). */
export function bundleModels(dir: string, manifest: BundleManifest, host: InferenceHost): PrototypeModels {
  const refused = noFeatures(manifest);
  if (refused) throw new BundleError(refused);
  const m = new DiffSegBundleModels(dir, manifest, host);
  return {
    name: m.name, id: m.id, scalingFactor: m.scalingFactor,
    encode: (x, run) => m.encode(x, run),
    pass: async (latent, run) => {
      const { maps, outputs } = await m.attentionWith(latent, [FEATURE_TAP], run);
      const f = outputs[FEATURE_TAP]!;
      if (f.dims.length !== 4 || f.dims[2] !== f.dims[3]) throw new Error(`${FEATURE_TAP} is [${f.dims.join(',')}], not [1,C,s,s]`);
      return { maps, features: { data: f.data, channels: f.dims[1]!, side: f.dims[2]! } };
    },
    dispose: () => m.dispose(),
  };
}
