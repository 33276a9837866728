// convertCheckpoint: diffusers folder or SD 1.x single file -> a model bundle folder (bundle.json + ONNX +
// tokenizer). Everything is written into a hidden temporary sibling and renamed into place at the end, so a
// failure (bad weights, full disk, a cancelled run) never leaves a partial bundle where a bundle is expected.
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { GraphBuilder, Value } from '../graph';
import type { WeightSource } from '../weights';
import { buildClipTextEncoder, buildUNet, buildVaeDecoder, buildVaeEncoder, type UNetConfig } from '../models';
import { externalDataLocations } from '../runtime/modelSize';
import { BundleError } from './errors';
import { fileEntry } from './hash';
import { openCheckpoint, type CheckpointSource, type ConfigOverrides } from './checkpoint';
import {
  BUNDLE_FILE, BUNDLE_FORMAT_VERSION, BundleManifestSchema,
  type BundleComponent, type BundleDType, type BundleManifest, type BundleTokenizer, type TensorSpec,
} from './schema';
import { saveSharingWeights } from './sharedWeights';
import { loadTokenizer, tokenizerPaths } from './tokenizerFiles';

export interface ConvertOptions {
  /** Store weights and compute in float16 (inputs and outputs stay float32). */
  fp16?: boolean;
  /** Bundle name (default: the source's base name). */
  name?: string;
  /** CLIP tokenizer (folder with vocab.json + merges.txt, or a bpe .txt.gz); required for single files. */
  tokenizer?: string;
  /** Architecture configs for a single-file checkpoint (default SD 1.5). */
  configs?: ConfigOverrides;
  /** UNet variants to build beside the UNet, sharing its weights file: what the pipelines declare (none by default). */
  variants?: readonly UNetVariant[];
  /** Latent size the variants are built for (default: the UNet config's sample_size, 64 for SD 1.5). */
  variantLatentSize?: number;
  /** Replace an existing bundle at outDir (it is swapped out only after the new one is complete). */
  overwrite?: boolean;
  /** Called before each step: (steps done, steps total, what runs now). Throwing aborts the conversion. */
  onProgress?: (done: number, total: number, step: string) => void;
}

export interface ConvertResult {
  dir: string;
  manifest: BundleManifest;
}

const specs = (vs: readonly Value[]): TensorSpec[] => vs.map((v) => ({ name: v.name, dtype: v.dtype, shape: v.shape ? [...v.shape] : [] }));
const plain = (c: object) => JSON.parse(JSON.stringify(c)) as Record<string, unknown>;

/** Files of a written model: the .onnx and every external data file it references. */
async function modelFiles(dir: string, file: string) {
  const paths = [file, ...externalDataLocations(join(dir, file))];
  return Promise.all(paths.map((p) => fileEntry(dir, join(dir, p))));
}

async function component(dir: string, file: string, g: GraphBuilder, config: object, save: (path: string) => void, extra: Partial<BundleComponent> = {}): Promise<BundleComponent> {
  const inputs = specs(g.inputs);
  const outputs = specs(g.outputs);
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

export async function convertCheckpoint(source: string, outDir: string, opts: ConvertOptions = {}): Promise<ConvertResult> {
  const out = resolve(outDir);
  if (existsSync(out) && !opts.overwrite) throw new BundleError(`output folder already exists: ${out} (remove it or pass overwrite / --force)`);
  const src = openCheckpoint(source, { tokenizer: opts.tokenizer, configs: opts.configs });
  mkdirSync(dirname(out), { recursive: true });
  const tmp = join(dirname(out), `.${basename(out)}.partial-${process.pid}-${Date.now().toString(36)}`);
  try {
    mkdirSync(tmp);
    const manifest = await build(src, tmp, opts);
    writeFileSync(join(tmp, BUNDLE_FILE), JSON.stringify(manifest, null, 2) + '\n');
    src.close();
    if (existsSync(out)) {
      const old = `${tmp}.old`;
      renameSync(out, old);
      renameSync(tmp, out);
      rmSync(old, { recursive: true, force: true });
    } else renameSync(tmp, out);
    return { dir: out, manifest };
  } catch (e) {
    src.close();
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof BundleError) throw e;
    throw new BundleError(`conversion of ${src.path} failed: ${(e as Error).message}`);
  }
}

async function build(src: CheckpointSource, dir: string, opts: ConvertOptions): Promise<BundleManifest> {
  const dtype: BundleDType = opts.fp16 ? 'float16' : 'float32';
  const variants = src.unet ? (opts.variants ?? []) : [];
  const steps: [string, () => Promise<void>][] = [];
  const components: Record<string, BundleComponent> = {};
  let sourceFiles: BundleManifest['source']['files'] = [];
  let tokenizer: BundleTokenizer | undefined;
  const warnings = [...src.warnings];

  steps.push(['fingerprinting the source (sha256)', async () => {
    sourceFiles = await Promise.all(src.files.map(async (p) => {
      const e = await fileEntry(src.root, p);
      return e.path.startsWith('../') ? { ...e, path: p } : e; // a --tokenizer from elsewhere: keep its absolute path
    }));
  }]);
  const te = src.textEncoder;
  if (te) steps.push(['text encoder', async () => {
    const { graph } = buildClipTextEncoder(te.config, te.weights, { dtype });
    components.text_encoder = await component(dir, 'text_encoder.onnx', graph, te.config, (p) => graph.save(p));
  }]);
  const un = src.unet;
  if (un) steps.push(['UNet', async () => {
    const { graph } = buildUNet(un.config, un.weights, { dtype });
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
    name: opts.name ?? basename(src.path).replace(/\.(safetensors|ckpt|pt|pth|bin)$/i, ''),
    createdAt: new Date().toISOString(),
    dtype,
    source: { path: src.path, kind: src.kind, files: sourceFiles },
    components,
    ...(tokenizer ? { tokenizer } : {}),
    ...(vae ? { vaeScalingFactor: vae.config.scaling_factor } : {}),
    warnings,
  };
  // Validate what we write with the same schema readers use (a converter bug must not produce an unreadable bundle).
  const r = BundleManifestSchema.safeParse(manifest);
  if (!r.success) throw new BundleError('internal error: the manifest does not match its schema', r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  return r.data;
}
