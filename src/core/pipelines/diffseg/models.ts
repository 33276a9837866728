// The models DiffSeg needs, behind one small interface: encode an image to a latent, and get the per-resolution
// self-attention maps of the UNet for that latent. Implemented from a model bundle folder (a converted SD
// checkpoint, or the fixture bundle from fixture.ts: same loading path) through ml/runtime sessions.
import { join, resolve } from 'node:path';
import { assertContained, BundleError, readManifest, type BundleManifest } from '../../ml/bundle';
import { loadTokenizer } from '../../ml/bundle/tokenizerFiles';
import type { InferenceHost, RunOptions } from '../../ml/runtime';
import type { ClipTokenizer } from '../../ml/tokenizer';
import { sharedInferenceHost } from '../common/inference';
import type { AttentionByResolution } from './aggregate';
import { ensureFixtureBundle } from './fixture';

/** side → row-major [side², side²] head- and layer-averaged self-attention (query rows sum to 1). */
export type AttentionMaps = AttentionByResolution;

export interface DiffSegModels {
  /** Shown to the user and stored on runs (bundle name). */
  name: string;
  /** Identity for caches: changes when the bundle is rebuilt. */
  id: string;
  /** Multiply the encoder mean by this before the UNet (0.18215 for SD 1.x). */
  scalingFactor: number;
  /** image [1,3,512,512] in [-1,1] -> latent mean [1,4,64,64] (no sampling). `run`: cancel signal, queue priority. */
  encode(rgb512: Float32Array, run?: RunOptions): Promise<Float32Array>;
  /** scaled latent [1,4,64,64] -> attention maps at 64, 32, 16, 8 (UNet once at t = 300, empty prompt). */
  attention(latentScaled: Float32Array, run?: RunOptions): Promise<AttentionMaps>;
  /** How many encode / attention calls ran (caches are tested against these). */
  readonly stats: { encode: number; attention: number };
  dispose(): Promise<void>;
}

export const DIFFSEG_TIMESTEP = 300;
export const DIFFSEG_IMAGE_SIZE = 512;
export const DIFFSEG_LATENT_SIZE = 64;

/** What DiffSeg reads from a bundle ('tokenizer': the bundle's tokenizer, for the empty prompt). */
export const DIFFSEG_COMPONENTS = ['vae_encoder', 'unet_diffseg', 'text_encoder', 'tokenizer'] as const;
const MODEL_COMPONENTS = DIFFSEG_COMPONENTS.filter((k) => k !== 'tokenizer');

/** Empty-prompt embeddings, once per bundle (key: bundle dir + createdAt). */
const emptyPromptCache = new Map<string, Promise<Float32Array>>();

export class BundleModels implements DiffSegModels {
  readonly name: string;
  readonly id: string;
  readonly scalingFactor: number;
  readonly stats = { encode: 0, attention: 0 };
  private readonly keys: { vae: string; unet: string; text: string };
  private readonly outputs: { side: number; output: string }[];
  private readonly contextDims: number[];
  private registered: Promise<void> | null = null;
  private tok: ClipTokenizer | undefined;

  constructor(readonly dir: string, readonly manifest: BundleManifest, private readonly host: InferenceHost) {
    const c = manifest.components;
    const missing = MODEL_COMPONENTS.filter((k) => !Object.hasOwn(c, k));
    if (missing.length || !manifest.tokenizer)
      throw new BundleError(`model bundle ${dir} cannot run DiffSeg: it lacks ${[...missing, ...(manifest.tokenizer ? [] : ['tokenizer'])].join(', ')} (convert the checkpoint again with the DiffSeg variant)`);
    const sa = c.unet_diffseg!.selfAttention ?? [];
    if (!sa.length) throw new BundleError(`model bundle ${dir}: unet_diffseg lists no self-attention outputs`);
    this.outputs = sa.map((s) => {
      if (s.height !== s.width) throw new BundleError(`model bundle ${dir}: self-attention ${s.output} is ${s.height}×${s.width}; DiffSeg needs square maps`);
      return { side: s.height, output: s.output };
    });
    if (!this.outputs.some((o) => o.side === DIFFSEG_LATENT_SIZE))
      throw new BundleError(`model bundle ${dir}: the DiffSeg UNet is built for another latent size (needs ${DIFFSEG_LATENT_SIZE}×${DIFFSEG_LATENT_SIZE}, i.e. 512×512 images)`);
    const ctx = c.unet_diffseg!.inputs.find((i) => i.name === 'encoder_hidden_states');
    if (!ctx) throw new BundleError(`model bundle ${dir}: unet_diffseg has no encoder_hidden_states input`);
    this.contextDims = ctx.shape.map((d, i) => (typeof d === 'number' ? d : i === 0 ? 1 : 77));
    this.name = manifest.name;
    this.id = `${manifest.name}@${manifest.createdAt}`;
    this.scalingFactor = manifest.vaeScalingFactor ?? 0.18215;
    const base = `diffseg:${resolve(dir)}:${manifest.createdAt}`;
    this.keys = { vae: `${base}:vae_encoder`, unet: `${base}:unet_diffseg`, text: `${base}:text_encoder` };
  }

  private register(): Promise<void> {
    const c = this.manifest.components;
    this.registered ??= Promise.all([
      this.host.register(this.keys.vae, join(this.dir, c.vae_encoder!.model)),
      this.host.register(this.keys.unet, join(this.dir, c.unet_diffseg!.model)),
      this.host.register(this.keys.text, join(this.dir, c.text_encoder!.model)),
    ]).then(() => undefined);
    return this.registered;
  }

  async encode(rgb512: Float32Array, run: RunOptions = {}): Promise<Float32Array> {
    await this.register();
    this.stats.encode++;
    const n = DIFFSEG_IMAGE_SIZE;
    const out = await this.host.run(this.keys.vae, { image: { data: rgb512, dims: [1, 3, n, n] } }, ['latent_mean'], run);
    return out['latent_mean']!.data as Float32Array;
  }

  /** The tokenizer's row of `text` through the text encoder: [1, contextLength, width] (the UNet's context). */
  private async embed(text: string, priority: RunOptions['priority']): Promise<Float32Array> {
    await this.register();
    const t = this.manifest.tokenizer!;
    const ids = this.tokenizer.tokenizeInt64(text, { contextLength: t.contextLength, pad: t.pad });
    const out = await this.host.run(this.keys.text, { input_ids: { data: ids, dims: [1, t.contextLength] } }, ['last_hidden_state'], { priority });
    return out['last_hidden_state']!.data as Float32Array;
  }

  /** The bundle's tokenizer, read on first use. */
  get tokenizer(): ClipTokenizer {
    const t = this.manifest.tokenizer!;
    const abs = (q: string | undefined) => join(this.dir, q!);
    this.tok ??= loadTokenizer(t.format === 'vocab-merges' ? { format: 'vocab-merges', vocab: abs(t.vocab), merges: abs(t.merges) } : { format: 'bpe-gz', bpe: abs(t.bpe) });
    return this.tok;
  }

  /** Computed by whichever call needs it first, at that call's priority. */
  private emptyPrompt(priority: RunOptions['priority']): Promise<Float32Array> {
    const key = this.keys.text;
    let p = emptyPromptCache.get(key);
    if (!p) {
      p = this.embed('', priority);
      p.catch(() => emptyPromptCache.delete(key));
      emptyPromptCache.set(key, p);
    }
    return p;
  }

  /** The UNet's context for a prompt other than DiffSeg's empty one (`attentionWith`'s `context`). */
  promptContext(text: string, run: RunOptions = {}): Promise<Float32Array> {
    return this.embed(text, run.priority);
  }

  /** The UNet variant's cross-attention outputs (`cross_attn.NN`), in layer order; none in a bundle converted before them. */
  get crossAttentionOutputs(): string[] {
    return this.manifest.components.unet_diffseg!.outputs.map((o) => o.name).filter((n) => n.startsWith('cross_attn.')).sort();
  }

  async attention(latentScaled: Float32Array, run: RunOptions = {}): Promise<AttentionMaps> {
    return (await this.attentionWith(latentScaled, [], run)).maps;
  }

  /**
   * attention(), and from the same pass the UNet variant's other outputs named (diffseg/variant.ts); `context`: a
   * prompt's (promptContext) instead of the empty one.
   */
  async attentionWith(
    latentScaled: Float32Array, extra: readonly string[], run: RunOptions = {}, context?: Float32Array,
  ): Promise<{ maps: AttentionMaps; outputs: Record<string, { data: Float32Array; dims: readonly number[] }> }> {
    await this.register();
    const ctx = context ?? (await this.emptyPrompt(run.priority));
    this.stats.attention++;
    const L = DIFFSEG_LATENT_SIZE;
    const out = await this.host.run(
      this.keys.unet,
      {
        sample: { data: latentScaled, dims: [1, 4, L, L] },
        timestep: { data: Float32Array.of(DIFFSEG_TIMESTEP), dims: [1] },
        // A copy: the worker host transfers (detaches) input buffers, and the embedding is reused.
        encoder_hidden_states: { data: ctx.slice(), dims: this.contextDims },
      },
      [...this.outputs.map((o) => o.output), ...extra],
      run,
    );
    const maps: AttentionMaps = new Map();
    for (const o of this.outputs) {
      const t = out[o.output]!;
      if (t.data.length !== o.side ** 4) throw new Error(`${o.output}: expected ${o.side ** 4} values, got ${t.data.length}`);
      maps.set(o.side, t.data as Float32Array);
    }
    return { maps, outputs: Object.fromEntries(extra.map((k) => [k, { data: out[k]!.data as Float32Array, dims: out[k]!.dims }])) };
  }

  async dispose(): Promise<void> {
    if (this.registered) await Promise.all(Object.values(this.keys).map((k) => this.host.release(k).catch(() => undefined)));
  }
}

export interface OpenModelsOptions {
  /** Inference host to run on; default: the process's shared worker-thread host. */
  host?: InferenceHost;
}

/**
 * DiffSeg models from a bundle folder: bundle.json is checked, and the files DiffSeg reads must be the bundle's
 * own (no links, external data listed); ONNX files load lazily on first use.
 */
export function openBundleModels(dir: string, opts: OpenModelsOptions = {}): DiffSegModels {
  const manifest = readManifest(dir);
  assertContained(dir, manifest, { keys: MODEL_COMPONENTS, models: true });
  return new BundleModels(dir, manifest, opts.host ?? sharedInferenceHost());
}

/** The fixture (fixture.ts; NOT Stable Diffusion), loaded through the same bundle path. */
export async function openFixtureModels(opts: OpenModelsOptions = {}): Promise<DiffSegModels> {
  return openBundleModels(await ensureFixtureBundle(), opts);
}
