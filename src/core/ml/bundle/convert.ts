// convertCheckpoint: diffusers folder or SD 1.x single file -> a model bundle folder (bundle.json + ONNX +
// tokenizer, and a CLIP image tower when given); convertRefLdmSeg: the same from Ref LDM-Seg's released files. Everything is written into a hidden temporary sibling and renamed into place at the end, so a
// failure (bad weights, full disk, a cancelled run) never leaves a partial bundle where a bundle is expected.
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { GraphBuilder } from '../graph';
import type { WeightSource } from '../weights';
import { buildClipTextEncoder, buildGroundingModule, buildUNet, buildVaeDecoder, buildVaeEncoder, groundingModuleSource, type UNetConfig } from '../models';
import { openTensorFile } from '../weights';
import { externalDataLocations } from '../runtime/modelSize';
import { BundleError } from './errors';
import { fileEntry } from './hash';
import { openCheckpoint, type CheckpointSource, type ConfigOverrides } from './checkpoint';
import { openImageEncoder, writeImageEncoder, type ImageEncoderOptions, type ImageEncoderSource } from './imageEncoder';
import { openRefLdmSeg, type RefLdmSegFiles } from './refLdmSeg';
import {
  BUNDLE_FILE, BUNDLE_FORMAT_VERSION, BundleManifestSchema, UNKNOWN_LICENCE,
  type BundleComponent, type BundleDType, type BundleManifest, type BundleTokenizer,
} from './schema';
import { saveSharingWeights } from './sharedWeights';
import { loadTokenizer, tokenizerPaths } from './tokenizerFiles';
import { tensorSpecs } from './schema';

export interface ConvertOptions {
  /** Store weights and compute in float16 (inputs and outputs stay float32). */
  fp16?: boolean;
  /** Bundle name (default: the source's base name). */
  name?: string;
  /** The weights' licence, as the user states it (default: unknown); DiffLabel cannot tell it from the file. */
  licence?: string;
  /** CLIP tokenizer (folder with vocab.json + merges.txt, or a bpe .txt.gz); required for single files. */
  tokenizer?: string;
  /** Architecture configs for a single-file checkpoint (default SD 1.5). */
  configs?: ConfigOverrides;
  /** UNet variants to build beside the UNet, sharing its weights file: what the pipelines declare (none by default). */
  variants?: readonly UNetVariant[];
  /** Latent size the variants are built for (default: the UNet config's sample_size, 64 for SD 1.5). */
  variantLatentSize?: number;
  /** A CLIP image tower for the `image_encoder` component: transformers folder, openai/open_clip weights or Alpha-CLIP's .pth. */
  imageEncoder?: string;
  /** How to read an image tower in openai's layout, which does not record its head count or activation. */
  imageEncoderOptions?: Omit<ImageEncoderOptions, 'dtype'>;
  /**
   * Grounded diffusion's released grounding module (`grounding_module.pth`, or the same names in safetensors): the
   * `grounding_module` component (ml/models/grounding), for the UNet's widths, float32 whatever `fp16` says.
   */
  groundingModule?: string;
  /** Replace an existing bundle at outDir (it is swapped out only after the new one is complete). */
  overwrite?: boolean;
  /** Called before each step: (steps done, steps total, what runs now). Throwing aborts the conversion. */
  onProgress?: (done: number, total: number, step: string) => void;
}

export interface ConvertResult {
  dir: string;
  manifest: BundleManifest;
}

const plain = (c: object) => JSON.parse(JSON.stringify(c)) as Record<string, unknown>;

/** Files of a written model: the .onnx and every external data file it references. */
async function modelFiles(dir: string, file: string) {
  const paths = [file, ...externalDataLocations(join(dir, file))];
  return Promise.all(paths.map((p) => fileEntry(dir, join(dir, p))));
}

export async function component(dir: string, file: string, g: GraphBuilder, config: object, save: (path: string) => void, extra: Partial<BundleComponent> = {}): Promise<BundleComponent> {
  const inputs = tensorSpecs(g.inputs);
  const outputs = tensorSpecs(g.outputs);
  save(join(dir, file));
  return { model: file, files: await modelFiles(dir, file), inputs, outputs, config: plain(config), ...extra };
}

/**
 * A graph built from the UNet's weights that a pipeline needs in the bundle (e.g. one whose outputs are attention
 * maps). Pipelines declare them; the converter builds each one it is given right after the UNet, into the component
 * `key`, reading the UNet's external weights file instead of writing them again. ml/ knows no pipeline: the caller
 * (the CLI) passes the declarations in.
 */
export interface UNetVariant {
  /** The component's key, e.g. 'unet_diffseg'. */
  key: string;
  /** What it is, in progress lines and warnings ("<title> not built: <reason>"). */
  title: string;
  /** The graph for `size`×`size` latents; throws with the reason when it cannot be built for this UNet. */
  build(unet: { config: UNetConfig; weights: WeightSource; dtype: BundleDType; size: number }): { graph: GraphBuilder; extra?: Partial<BundleComponent> };
}

/** A bundle's default name: the source's base name without a checkpoint extension. */
export function sourceName(source: string): string {
  return basename(resolve(source)).replace(/\.(safetensors|ckpt|pt|pth|bin)$/i, '');
}

/**
 * The start of the name of the hidden temporary folder a conversion to `outDir` in this process writes into: a
 * conversion stopped from outside (its worker thread ended) leaves it, and whoever stopped it removes it.
 */
export function partialPrefix(outDir: string): string {
  return `.${basename(resolve(outDir))}.partial-${process.pid}-`;
}

export async function convertCheckpoint(source: string, outDir: string, opts: ConvertOptions = {}): Promise<ConvertResult> {
  return convertSource(() => openCheckpoint(source, { tokenizer: opts.tokenizer, configs: opts.configs }), outDir, opts);
}

/**
 * A Ref LDM-Seg bundle (refLdmSeg.ts): its UNet from the DeepSpeed model states, the SD 1.5 VAE and the Alpha-CLIP
 * tower as `image_encoder`; bundle.json records the variant (f or n) the UNet's conv_in says.
 */
export async function convertRefLdmSeg(files: RefLdmSegFiles, outDir: string, opts: Omit<ConvertOptions, 'imageEncoder' | 'tokenizer'> = {}): Promise<ConvertResult> {
  return convertSource(() => openRefLdmSeg(files, { configs: opts.configs }), outDir, { ...opts, imageEncoder: files.imageEncoder, requireAlpha: true });
}

async function convertSource(open: () => CheckpointSource, outDir: string, opts: ConvertOptions & { requireAlpha?: boolean }): Promise<ConvertResult> {
  const out = resolve(outDir);
  if (existsSync(out) && !opts.overwrite) throw new BundleError(`output folder already exists: ${out} (remove it or pass overwrite / --force)`);
  const src = open();
  let tower: ImageEncoderSource | undefined;
  try {
    tower = opts.imageEncoder ? openImageEncoder(opts.imageEncoder, opts.imageEncoderOptions) : undefined;
    // Ref LDM-Seg conditions its UNet on Alpha-CLIP tokens: a plain CLIP tower has no input for the support mask.
    if (tower && opts.requireAlpha && tower.layout !== 'alpha-clip')
      throw new BundleError(`${tower.path} is a CLIP image tower without conv1_alpha.weight (${tower.layout} layout), not Alpha-CLIP's visual state dict: Ref LDM-Seg needs Alpha-CLIP`);
  } catch (e) {
    tower?.close();
    src.close();
    throw e;
  }
  const close = () => {
    src.close();
    tower?.close();
  };
  return writeBundle(out, (tmp) => build(src, tower, tmp, opts), close, src.path);
}

/**
 * Writes a bundle into a hidden temporary sibling of `out` (`write` returns its manifest), then renames it into place
 * (an existing bundle is swapped out only then); `close` releases the sources whatever happens. A failure removes
 * the temporary folder and is a BundleError naming `source`.
 */
export async function writeBundle(out: string, write: (tmp: string) => Promise<BundleManifest>, close: () => void, source: string): Promise<ConvertResult> {
  mkdirSync(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `${partialPrefix(out)}${Date.now().toString(36)}`);
  try {
    mkdirSync(tmp);
    const manifest = await write(tmp);
    writeFileSync(join(tmp, BUNDLE_FILE), JSON.stringify(manifest, null, 2) + '\n');
    close();
    if (existsSync(out)) {
      const old = `${tmp}.old`;
      renameSync(out, old);
      renameSync(tmp, out);
      rmSync(old, { recursive: true, force: true });
    } else renameSync(tmp, out);
    return { dir: out, manifest };
  } catch (e) {
    close();
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof BundleError) throw e;
    throw new BundleError(`conversion of ${source} failed: ${(e as Error).message}`);
  }
}

async function build(src: CheckpointSource, tower: ImageEncoderSource | undefined, dir: string, opts: ConvertOptions): Promise<BundleManifest> {
  const dtype: BundleDType = opts.fp16 ? 'float16' : 'float32';
  const variants = src.unet ? (opts.variants ?? []) : [];
  const steps: [string, () => Promise<void>][] = [];
  const components: Record<string, BundleComponent> = {};
  let sourceFiles: BundleManifest['source']['files'] = [];
  let tokenizer: BundleTokenizer | undefined;
  const warnings = [...src.warnings, ...(tower?.warnings ?? [])];

  steps.push(['fingerprinting the source (sha256)', async () => {
    sourceFiles = await Promise.all([...src.files, ...(tower?.files ?? []), ...(opts.groundingModule ? [resolve(opts.groundingModule)] : [])].map(async (p) => {
      const e = await fileEntry(src.root, p);
      return e.path.startsWith('../') ? { ...e, path: p } : e; // a --tokenizer or an image tower from elsewhere: keep its absolute path
    }));
  }]);
  const te = src.textEncoder;
  if (te) steps.push(['text encoder', async () => {
    const { graph } = buildClipTextEncoder(te.config, te.weights, { dtype });
    components.text_encoder = await component(dir, 'text_encoder.onnx', graph, te.config, (p) => graph.save(p));
  }]);
  const un = src.unet;
  if (un) steps.push(['UNet', async () => {
    // Ref LDM-Seg's UNet takes the support mask, over 256 tokens per shot.
    const { graph } = buildUNet(un.config, un.weights, src.refLdmSeg ? { dtype, encoderAttentionMask: true, textLength: 'tokens' } : { dtype });
    // Always external when variants are built, so they can point at the same weights file.
    components.unet = await component(dir, 'unet.onnx', graph, un.config, (p) => graph.save(p, { externalData: variants.length ? true : 'auto' }));
  }]);
  for (const v of un ? variants : []) steps.push([v.title, async () => {
    const size = opts.variantLatentSize ?? un!.sampleSize;
    let built: ReturnType<UNetVariant['build']>;
    try {
      built = v.build({ config: un!.config, weights: un!.weights, dtype, size });
    } catch (e) {
      // A variant only adds a pipeline's outputs: a UNet it cannot be built for still converts without it.
      warnings.push(`${v.title} not built: ${(e as Error).message}`);
      return;
    }
    components[v.key] = await component(dir, `${v.key}.onnx`, built.graph, { ...un!.config, sample_size: size },
      (p) => saveSharingWeights(built.graph, p, join(dir, 'unet.onnx')), { sharesWeightsWith: 'unet', ...built.extra });
  }]);
  const grounding = opts.groundingModule;
  if (grounding) steps.push(['grounding module', async () => {
    if (!un) throw new BundleError(`${grounding}: a grounding module reads a UNet's features, and ${src.path} has no UNet`);
    const file = openTensorFile(grounding);
    try {
      const { config, weights } = groundingModuleSource(file, basename(grounding), { unetChannels: un.config.block_out_channels });
      const { graph } = buildGroundingModule(config, weights, { batch: 1 });
      components.grounding_module = await component(dir, 'grounding_module.onnx', graph, config, (p) => graph.save(p));
    } finally {
      file.close();
    }
  }]);
  const vae = src.vae;
  if (vae) {
    steps.push(['VAE encoder', async () => {
      const { graph } = buildVaeEncoder(vae.config, vae.weights, { dtype });
      components.vae_encoder = await component(dir, 'vae_encoder.onnx', graph, vae.config, (p) => graph.save(p));
    }]);
    steps.push(['VAE decoder', async () => {
      const { graph } = buildVaeDecoder(vae.config, vae.weights, { dtype });
      components.vae_decoder = await component(dir, 'vae_decoder.onnx', graph, vae.config, (p) => graph.save(p));
    }]);
  }
  if (tower) steps.push(['image encoder', async () => {
    components.image_encoder = await writeImageEncoder(tower, dir, dtype);
  }]);
  const tk = src.tokenizer;
  if (tk) steps.push(['tokenizer', async () => {
    const tok = loadTokenizer(tk);
    if (te && tok.vocabSize > te.config.vocab_size)
      warnings.push(`tokenizer has ${tok.vocabSize} tokens but the text encoder's vocab_size is ${te.config.vocab_size}: ids above ${te.config.vocab_size - 1} cannot be embedded`);
    mkdirSync(join(dir, 'tokenizer'));
    const copied = tokenizerPaths(tk).map((p) => {
      const to = join(dir, 'tokenizer', basename(p));
      copyFileSync(p, to);
      chmodSync(to, 0o644); // sources may be read-only; the bundle's copy must stay replaceable
      return to;
    });
    const rel = (p: string) => `tokenizer/${basename(p)}`;
    tokenizer = {
      format: tk.format,
      ...(tk.format === 'vocab-merges' ? { vocab: rel(tk.vocab), merges: rel(tk.merges) } : { bpe: rel(tk.bpe) }),
      files: await Promise.all(copied.map((p) => fileEntry(dir, p))),
      pad: 'eot',
      contextLength: te?.config.max_position_embeddings ?? 77,
    };
  }]);

  for (let i = 0; i < steps.length; i++) {
    const [label, run] = steps[i]!;
    opts.onProgress?.(i, steps.length, label);
    await run();
  }
  opts.onProgress?.(steps.length, steps.length, 'done');

  const manifest = {
    format: 'difflabel-model-bundle' as const,
    formatVersion: BUNDLE_FORMAT_VERSION,
    // DeepSpeed names every model-states file mp_rank_00_model_states.pt: a Ref LDM-Seg bundle is named by its variant.
    name: opts.name ?? (src.refLdmSeg ? `ref-ldm-seg-${src.refLdmSeg.variant}` : sourceName(src.path)),
    createdAt: new Date().toISOString(),
    dtype,
    licence: opts.licence?.trim() || UNKNOWN_LICENCE,
    source: { path: src.path, kind: src.kind, files: sourceFiles },
    components,
    ...(tokenizer ? { tokenizer } : {}),
    ...(vae ? { vaeScalingFactor: vae.config.scaling_factor } : {}),
    ...(src.refLdmSeg ? { refLdmSeg: src.refLdmSeg } : {}),
    warnings,
  };
  // Validate what we write with the same schema readers use (a converter bug must not produce an unreadable bundle).
  const r = BundleManifestSchema.safeParse(manifest);
  if (!r.success) throw new BundleError('internal error: the manifest does not match its schema', r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  return r.data;
}
