// The models of the prototype mode: DiffSeg's, from any SD 1.x bundle: the VAE encoder, the empty prompt, and DiffSeg's
// UNet variant, which gives the self-attention maps and the UNet features (diffseg/variant.ts FEATURE_TAP) in one pass.
import { join, resolve } from 'node:path';
import { BundleError, type BundleManifest } from '../../ml/bundle';
import type { InferenceHost, RunOptions } from '../../ml/runtime';
import { DIFFSEG_COMPONENTS, DIFFSEG_LATENT_SIZE, DIFFSEG_TIMESTEP, emptyPromptEmbedding, type AttentionMaps } from '../diffseg/models';
import { DIFFSEG_UNET, FEATURE_TAP } from '../diffseg/variant';

/** What the prototype mode reads from a bundle: DiffSeg's components. */
export const PROTOTYPE_COMPONENTS = DIFFSEG_COMPONENTS;
const UNET = DIFFSEG_UNET.key;

/** Why a bundle holding DiffSeg's components cannot serve the prototype mode (converted before its UNet gave features), or null. */
export function noFeatures(manifest: BundleManifest): string | null {
  return manifest.components[UNET]?.outputs.some((o) => o.name === FEATURE_TAP)
    ? null
    : `model bundle ${manifest.name} was converted before the prototype mode: its ${UNET} has no ${FEATURE_TAP} output (convert the checkpoint again with \`npx difflabel models convert\`)`;
}

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

export class BundleModels implements PrototypeModels {
  readonly name: string;
  readonly id: string;
  readonly scalingFactor: number;
  private readonly keys: { vae: string; unet: string; text: string };
  private readonly maps: { side: number; output: string }[];
  private readonly features: { channels: number; side: number };
  private readonly contextDims: number[];
  private registered: Promise<void> | null = null;

  constructor(readonly dir: string, readonly manifest: BundleManifest, private readonly host: InferenceHost) {
    const unet = manifest.components[UNET];
    if (!unet || !manifest.components['vae_encoder'] || !manifest.components['text_encoder'] || !manifest.tokenizer)
      throw new BundleError(`model bundle ${dir} cannot run the prototype mode: it lacks one of ${PROTOTYPE_COMPONENTS.join(', ')} (convert the checkpoint again)`);
    const refused = noFeatures(manifest);
    if (refused) throw new BundleError(refused);
    this.maps = (unet.selfAttention ?? []).map((s) => ({ side: s.height, output: s.output }));
    if (!this.maps.some((m) => m.side === DIFFSEG_LATENT_SIZE))
      throw new BundleError(`model bundle ${dir}: its ${UNET} gives no ${DIFFSEG_LATENT_SIZE}² self-attention (it needs 512² images)`);
    const [, channels, h, w] = unet.outputs.find((o) => o.name === FEATURE_TAP)?.shape ?? [];
    if (typeof channels !== 'number' || typeof h !== 'number' || h !== w)
      throw new BundleError(`model bundle ${dir}: its ${UNET} has no square ${FEATURE_TAP} output of known size`);
    this.features = { channels, side: h };
    const ctx = unet.inputs.find((i) => i.name === 'encoder_hidden_states');
    if (!ctx) throw new BundleError(`model bundle ${dir}: ${UNET} has no encoder_hidden_states input`);
    this.contextDims = ctx.shape.map((d, i) => (typeof d === 'number' ? d : i === 0 ? 1 : 77));
    this.name = manifest.name;
    this.id = `${manifest.name}@${manifest.createdAt}`;
    this.scalingFactor = manifest.vaeScalingFactor ?? 0.18215;
    const base = `prototype:${resolve(dir)}:${manifest.createdAt}`;
    this.keys = { vae: `${base}:vae_encoder`, unet: `${base}:${UNET}`, text: `${base}:text_encoder` };
  }

  private register(): Promise<void> {
    const c = this.manifest.components;
    this.registered ??= Promise.all([
      this.host.register(this.keys.vae, join(this.dir, c['vae_encoder']!.model)),
      this.host.register(this.keys.unet, join(this.dir, c[UNET]!.model)),
      this.host.register(this.keys.text, join(this.dir, c['text_encoder']!.model)),
    ]).then(() => undefined);
    return this.registered;
  }

  async encode(rgb512: Float32Array, run: RunOptions = {}): Promise<Float32Array> {
    await this.register();
    const n = 8 * DIFFSEG_LATENT_SIZE;
    const out = await this.host.run(this.keys.vae, { image: { data: rgb512, dims: [1, 3, n, n] } }, ['latent_mean'], run);
    return out['latent_mean']!.data as Float32Array;
  }

  async pass(latentScaled: Float32Array, run: RunOptions = {}) {
    await this.register();
    const ctx = await emptyPromptEmbedding(this.host, this.keys.text, this.dir, this.manifest, run.priority);
    const L = DIFFSEG_LATENT_SIZE;
    const out = await this.host.run(
      this.keys.unet,
      {
        sample: { data: latentScaled, dims: [1, 4, L, L] },
        timestep: { data: Float32Array.of(DIFFSEG_TIMESTEP), dims: [1] },
        // A copy: the worker host transfers (detaches) input buffers, and the embedding is reused.
        encoder_hidden_states: { data: ctx.slice(), dims: this.contextDims },
      },
      [...this.maps.map((m) => m.output), FEATURE_TAP],
      run,
    );
    const maps: AttentionMaps = new Map(this.maps.map((m) => [m.side, out[m.output]!.data as Float32Array]));
    return { maps, features: { data: out[FEATURE_TAP]!.data as Float32Array, ...this.features } };
  }

  async dispose(): Promise<void> {
    if (this.registered) await Promise.all(Object.values(this.keys).map((k) => this.host.release(k).catch(() => undefined)));
  }
}
