// The four graphs of a Ref LDM-Seg bundle (ml/bundle/refLdmSeg.ts builds them; fixture.ts writes a behaviour
// fixture with the same inputs and outputs), run through the process's inference host, loaded on first use.
import { join, resolve } from 'node:path';
import { BundleError, type BundleManifest } from '../../ml/bundle';
import type { InferenceHost, RunOptions } from '../../ml/runtime';

/** What Ref LDM-Seg reads from a bundle. */
export const REFLDMSEG_COMPONENTS = ['unet', 'image_encoder', 'vae_encoder', 'vae_decoder'] as const;
type Key = (typeof REFLDMSEG_COMPONENTS)[number];

export type RefLdmSegVariant = 'f' | 'n';

export interface RefLdmSegModels {
  readonly name: string;
  readonly variant: RefLdmSegVariant;
  /** 0.18215 for SD 1.x. */
  readonly scalingFactor: number;
  /** Alpha-CLIP: pixels [k,3,S,S] in [−1,1], alpha [k,1,S,S] → last_hidden_state [k,1+N,D] (before ln_post); S, D. */
  readonly encoderSize: number;
  encodeSupport(pixels: Float32Array, alpha: Float32Array, shots: number, run: RunOptions): Promise<{ tokens: Float32Array; width: number }>;
  /** image [1,3,256,256] in [−1,1] → the posterior's mean and std [1,4,32,32]. */
  encodeImage(image: Float32Array, run: RunOptions): Promise<{ mean: Float32Array; std: Float32Array }>;
  /** sample [B,C,h,w], one timestep, context [B,T,D], mask [B,T] (1 = attend) → noise_pred [B,4,h,w]. */
  unet(sample: Float32Array, batch: number, timestep: number, context: Float32Array, mask: Float32Array, run: RunOptions): Promise<Float32Array>;
  /** latent [1,4,h,w] (already divided by the scaling factor) → image [1,3,8h,8w]. */
  decode(latent: Float32Array, run: RunOptions): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** The latent side of a 256² input. */
export const LATENT_SIZE = 32;

/**
 * Models of a bundle folder. Inputs are sent as copies: the worker host transfers (detaches) the buffers it is given,
 * and the pipeline reuses its own (the query image, the tokens and mask of every denoising step).
 */
/**
 * Why a bundle is not Ref LDM-Seg's, or null: its UNet is trained for it (bundle.json names the variant), a plain SD
 * bundle with an image encoder holds the same components but cannot serve it.
 */
export function notRefLdmSeg(manifest: BundleManifest): string | null {
  return manifest.refLdmSeg
    ? null
    : `model bundle ${manifest.name} is not a Ref LDM-Seg bundle (its bundle.json names no variant): convert the released weights with \`npx difflabel models convert --refldmseg <mp_rank_00_model_states.pt> --image-encoder <Alpha-CLIP .pth> --vae <SD 1.5>\``;
}

export class BundleModels implements RefLdmSegModels {
  readonly name: string;
  readonly variant: RefLdmSegVariant;
  readonly scalingFactor: number;
  readonly encoderSize: number;
  private readonly inChannels: number;
  private readonly keys: Record<Key, string>;
  private registered: Promise<void> | null = null;

  constructor(readonly dir: string, readonly manifest: BundleManifest, private readonly host: InferenceHost) {
    const c = manifest.components;
    const refused = notRefLdmSeg(manifest);
    if (refused || !manifest.refLdmSeg) throw new BundleError(refused!);
    this.variant = manifest.refLdmSeg.variant;
    const input = (k: Key, name: string) => c[k]?.inputs.find((i) => i.name === name);
    for (const [k, name] of [['unet', 'encoder_attention_mask'], ['image_encoder', 'alpha']] as const)
      if (!input(k, name)) throw new BundleError(`model bundle ${dir}: its ${k} has no ${name} input, which Ref LDM-Seg needs`);
    const sample = input('unet', 'sample')!.shape[1];
    this.inChannels = typeof sample === 'number' ? sample : this.variant === 'n' ? 8 : 4;
    if (this.inChannels !== (this.variant === 'n' ? 8 : 4))
      throw new BundleError(`model bundle ${dir}: a Ref LDM-Seg -${this.variant} UNet takes ${this.variant === 'n' ? 8 : 4} channels, this one ${this.inChannels}`);
    const size = input('image_encoder', 'pixel_values')!.shape[2];
    this.encoderSize = typeof size === 'number' ? size : 224;
    this.name = manifest.name;
    this.scalingFactor = manifest.vaeScalingFactor ?? 0.18215;
    const base = `refldmseg:${resolve(dir)}:${manifest.createdAt}`;
    this.keys = Object.fromEntries(REFLDMSEG_COMPONENTS.map((k) => [k, `${base}:${k}`])) as Record<Key, string>;
  }

  private register(): Promise<void> {
    this.registered ??= Promise.all(REFLDMSEG_COMPONENTS.map((k) => this.host.register(this.keys[k], join(this.dir, this.manifest.components[k]!.model)))).then(() => undefined);
    return this.registered;
  }

  async encodeSupport(pixels: Float32Array, alpha: Float32Array, shots: number, run: RunOptions) {
    await this.register();
    const S = this.encoderSize;
    const out = await this.host.run(this.keys.image_encoder, { pixel_values: { data: pixels.slice(), dims: [shots, 3, S, S] }, alpha: { data: alpha.slice(), dims: [shots, 1, S, S] } }, ['last_hidden_state'], run);
    const t = out['last_hidden_state']!;
    return { tokens: t.data as Float32Array, width: t.dims[2]! };
  }

  async encodeImage(image: Float32Array, run: RunOptions) {
    await this.register();
    const out = await this.host.run(this.keys.vae_encoder, { image: { data: image.slice(), dims: [1, 3, 256, 256] } }, ['latent_mean', 'latent_std'], run);
    return { mean: out['latent_mean']!.data as Float32Array, std: out['latent_std']!.data as Float32Array };
  }

  async unet(sample: Float32Array, batch: number, timestep: number, context: Float32Array, mask: Float32Array, run: RunOptions) {
    await this.register();
    const T = mask.length / batch;
    const out = await this.host.run(
      this.keys.unet,
      {
        sample: { data: sample.slice(), dims: [batch, this.inChannels, LATENT_SIZE, LATENT_SIZE] },
        timestep: { data: Float32Array.of(timestep), dims: [1] },
        encoder_hidden_states: { data: context.slice(), dims: [batch, T, context.length / (batch * T)] },
        encoder_attention_mask: { data: mask.slice(), dims: [batch, T] },
      },
      ['noise_pred'],
      run,
    );
    return out['noise_pred']!.data as Float32Array;
  }

  async decode(latent: Float32Array, run: RunOptions) {
    await this.register();
    const out = await this.host.run(this.keys.vae_decoder, { latent: { data: latent.slice(), dims: [1, 4, LATENT_SIZE, LATENT_SIZE] } }, ['sample'], run);
    return out['sample']!.data as Float32Array;
  }

  async dispose(): Promise<void> {
    if (this.registered) await Promise.all(Object.values(this.keys).map((k) => this.host.release(k).catch(() => undefined)));
  }
}
