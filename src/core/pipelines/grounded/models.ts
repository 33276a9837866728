// The models text-to-image with grounding runs, from one bundle: the text encoder and its tokenizer, a UNet whose
// graph also outputs the grounding module's 25 taps (`unet_grounded`, outputs named by the taps' diffusers modules),
// the VAE decoder, and the grounding module graph (`grounding_module`: the tap inputs and `text_embedding` →
// `mask`, ml/models/grounding). Sessions go through the process's inference host; files load on first use.
import { join, resolve } from 'node:path';
import { assertContained, BundleError, readManifest, type BundleManifest } from '../../ml/bundle';
import { loadTokenizer } from '../../ml/bundle/tokenizerFiles';
import type { ClipTokenizer } from '../../ml/tokenizer';
import type { InferenceHost, RunOptions } from '../../ml/runtime';
import { GROUNDING_SD1_CONFIG, groundingTaps, type GroundingTap } from '../../ml/models/grounding';
import { latentRgbProblem, SD1_LATENT_RGB, type LatentRgbMap } from './latentPreview';
import { BundleModels as DiffSegBundleModels, type DiffSegModels } from '../diffseg/models';

/** What a bundle needs for generation with the grounding module ('tokenizer': the bundle's tokenizer). */
export const GROUNDED_COMPONENTS = ['text_encoder', 'unet_grounded', 'vae_decoder', 'grounding_module', 'tokenizer'] as const;
/** What it needs for attention grounding: no module, DiffSeg's models to snap the heat maps to. */
export const ATTENTION_COMPONENTS = ['text_encoder', 'unet_grounded', 'vae_decoder', 'vae_encoder', 'unet_diffseg', 'tokenizer'] as const;
const MODEL_COMPONENTS = ['text_encoder', 'unet_grounded', 'vae_decoder'] as const;

/** The grounding module's output side: it only grounds 512² images (a 64² latent), as the reference. */
export const GROUNDING_IMAGE_SIZE = 512;

export interface UNetOutput {
  /** [2, 4, h, w]: the unconditional then the conditional prediction. */
  noise: Float32Array;
  /** Tap name (`low.0` …) → [2, C, S, S], when asked. */
  taps?: Map<string, Float32Array>;
  /** Every cross-attention layer's head-averaged map [2, S², L], when asked. */
  crossAttention?: Float32Array[];
}

export class GroundedModels {
  readonly name: string;
  readonly scalingFactor: number;
  readonly tokenizer: ClipTokenizer;
  readonly contextLength: number;
  /** The taps the grounding module reads, with the UNet output each comes from. */
  readonly taps: GroundingTap[];
  /** The UNet's cross-attention outputs (`cross_attn.NN`), in layer order. */
  readonly crossAttentionOutputs: string[];
  /** x̂0 → a preview's RGB: the decoder's `latent_rgb` where the bundle declares one, else SD 1.x's (latentPreview.ts). */
  readonly latentRgb: LatentRgbMap;
  private readonly keys: Record<(typeof MODEL_COMPONENTS)[number] | 'grounding_module', string>;
  private readonly loaded: ((typeof MODEL_COMPONENTS)[number] | 'grounding_module')[];
  private registered: Promise<void> | null = null;
  private diffSegModels: DiffSegModels | undefined;

  constructor(readonly dir: string, readonly manifest: BundleManifest, private readonly host: InferenceHost) {
    const c = manifest.components;
    const missing = [...MODEL_COMPONENTS.filter((k) => !Object.hasOwn(c, k)), ...(manifest.tokenizer ? [] : ['tokenizer'])];
    if (missing.length) throw new BundleError(`model bundle ${dir} cannot generate: it lacks ${missing.join(', ')}`);
    const t = manifest.tokenizer!;
    const abs = (p: string | undefined) => join(dir, p!);
    this.tokenizer = loadTokenizer(t.format === 'vocab-merges' ? { format: 'vocab-merges', vocab: abs(t.vocab), merges: abs(t.merges) } : { format: 'bpe-gz', bpe: abs(t.bpe) });
    this.contextLength = t.contextLength;
    // The tap widths follow the UNet the module was built for; its inputs say which.
    const unetChannels = c.unet_grounded!.config['block_out_channels'];
    this.taps = groundingTaps({ ...GROUNDING_SD1_CONFIG, unet_channels: Array.isArray(unetChannels) ? (unetChannels as number[]) : GROUNDING_SD1_CONFIG.unet_channels });
    const outs = new Set(c.unet_grounded!.outputs.map((o) => o.name));
    const lacking = this.taps.filter((tp) => !outs.has(tp.diffusers)).map((tp) => tp.diffusers);
    if (lacking.length) throw new BundleError(`model bundle ${dir}: unet_grounded lacks the grounding taps ${lacking.slice(0, 3).join(', ')}${lacking.length > 3 ? ` (and ${lacking.length - 3} more)` : ''}`);
    this.crossAttentionOutputs = c.unet_grounded!.outputs.map((o) => o.name).filter((n) => n.startsWith('cross_attn.')).sort();
    // The module's class tokens are the text encoder's hidden states: a module trained with another encoder cannot read them.
    const width = c.grounding_module?.inputs.find((i) => i.name === 'text_embedding')?.shape[2];
    const hidden = c.text_encoder!.config['hidden_size'];
    if (typeof width === 'number' && typeof hidden === 'number' && width !== hidden)
      throw new BundleError(`model bundle ${dir}: the grounding module takes ${width}-wide class tokens, the text encoder gives ${hidden}`);
    const declared = c.vae_decoder!.config['latent_rgb'];
    const mapProblem = declared === undefined ? null : latentRgbProblem(declared, 4);
    if (mapProblem) throw new BundleError(`model bundle ${dir}: vae_decoder's latent_rgb: ${mapProblem}`);
    this.latentRgb = (declared as LatentRgbMap | undefined) ?? SD1_LATENT_RGB;
    this.name = manifest.name;
    this.scalingFactor = manifest.vaeScalingFactor ?? 0.18215;
    const base = `grounded:${resolve(dir)}:${manifest.createdAt}`;
    this.loaded = [...MODEL_COMPONENTS, ...(c.grounding_module ? (['grounding_module'] as const) : [])];
    this.keys = Object.fromEntries(this.loaded.map((k) => [k, `${base}:${k}`])) as GroundedModels['keys'];
  }

  /** Whether the bundle holds the grounding module (else only attention grounding can mask). */
  get hasModule(): boolean {
    return this.loaded.includes('grounding_module');
  }

  private register(): Promise<void> {
    const c = this.manifest.components;
    this.registered ??= Promise.all(this.loaded.map((k) => this.host.register(this.keys[k], join(this.dir, c[k]!.model)))).then(() => undefined);
    return this.registered;
  }

  /** Token ids of `text` as the text encoder takes them ([1, contextLength]). */
  tokenIds(text: string): BigInt64Array {
    const t = this.manifest.tokenizer!;
    return this.tokenizer.tokenizeInt64(text, { contextLength: t.contextLength, pad: t.pad });
  }

  /** The last hidden state of `text`: [contextLength, width] values. */
  async encodeText(text: string, run: RunOptions = {}): Promise<Float32Array> {
    await this.register();
    const out = await this.host.run(this.keys.text_encoder, { input_ids: { data: this.tokenIds(text), dims: [1, this.contextLength] } }, ['last_hidden_state'], run);
    return out['last_hidden_state']!.data as Float32Array;
  }

  /** One guided UNet pass: `sample` [1, 4, h, w] twice, against [uncond, cond] `context` ([2, L, D] values). */
  async unet(sample: Float32Array, h: number, w: number, t: number, context: Float32Array, want: { taps?: boolean; crossAttention?: boolean }, run: RunOptions = {}): Promise<UNetOutput> {
    await this.register();
    const pair = new Float32Array(sample.length * 2);
    pair.set(sample);
    pair.set(sample, sample.length);
    const withTaps = want.taps ?? false;
    if (want.crossAttention && !this.crossAttentionOutputs.length) throw new BundleError(`model bundle ${this.dir}: unet_grounded has no cross-attention outputs (convert the checkpoint again)`);
    const names = ['noise_pred', ...(withTaps ? this.taps.map((tp) => tp.diffusers) : []), ...(want.crossAttention ? this.crossAttentionOutputs : [])];
    const out = await this.host.run(
      this.keys.unet_grounded,
      {
        sample: { data: pair, dims: [2, 4, h, w] },
        timestep: { data: Float32Array.of(t), dims: [1] },
        // A copy: the host transfers (detaches) input buffers, and the context serves every step.
        encoder_hidden_states: { data: context.slice(), dims: [2, this.contextLength, context.length / (2 * this.contextLength)] },
      },
      names,
      run,
    );
    const taps = withTaps ? new Map(this.taps.map((tp) => [tp.name, out[tp.diffusers]!.data as Float32Array])) : undefined;
    const crossAttention = want.crossAttention ? this.crossAttentionOutputs.map((n) => out[n]!.data as Float32Array) : undefined;
    return { noise: out['noise_pred']!.data as Float32Array, taps, crossAttention };
  }

  /** latent [1, 4, h, w] (already divided by the scaling factor) → [1, 3, 8h, 8w] in about [-1, 1]. */
  async decode(latent: Float32Array, h: number, w: number, run: RunOptions = {}): Promise<Float32Array> {
    await this.register();
    const out = await this.host.run(this.keys.vae_decoder, { latent: { data: latent, dims: [1, 4, h, w] } }, ['sample'], run);
    return out['sample']!.data as Float32Array;
  }

  /**
   * The grounding module on one image's taps ([2, C, S, S] each, reshaped to [1, 2C, S, S]: uncond channels first, as
   * the reference) and its classes' token embeddings ([n, width]): one 512² mask per class (1 = the object).
   */
  async ground(taps: Map<string, Float32Array>, tokens: Float32Array, classes: number, run: RunOptions = {}): Promise<Uint8Array[]> {
    if (!this.hasModule) throw new BundleError(`model bundle ${this.dir} has no grounding module: use attention grounding`);
    await this.register();
    const feeds: Record<string, { data: Float32Array; dims: number[] }> = {};
    for (const tp of this.taps) feeds[tp.name] = { data: taps.get(tp.name)!, dims: [1, tp.channels, tp.size, tp.size] };
    feeds['text_embedding'] = { data: tokens, dims: [1, classes, tokens.length / classes] };
    const out = await this.host.run(this.keys.grounding_module, feeds, ['mask'], run);
    const mask = out['mask']!.data as Uint8Array;
    const side = GROUNDING_IMAGE_SIZE * GROUNDING_IMAGE_SIZE;
    return Array.from({ length: classes }, (_, i) => Uint8Array.from(mask.subarray(i * side, (i + 1) * side)));
  }

  /** The bundle's DiffSeg models (for attention grounding), opened on first use. */
  diffSeg(): DiffSegModels {
    this.diffSegModels ??= new DiffSegBundleModels(this.dir, this.manifest, this.host);
    return this.diffSegModels;
  }

  async dispose(): Promise<void> {
    if (this.registered) await Promise.all(Object.values(this.keys).map((k) => this.host.release(k).catch(() => undefined)));
    await this.diffSegModels?.dispose();
  }
}

/** The models of the bundle in `dir`; the files it reads must be the bundle's own (no links, external data listed). */
export function openGroundedModels(dir: string, host: InferenceHost): GroundedModels {
  const manifest = readManifest(dir);
  assertContained(dir, manifest, { keys: [...MODEL_COMPONENTS, ...(manifest.components.grounding_module ? ['grounding_module'] : [])], models: true });
  return new GroundedModels(dir, manifest, host);
}
