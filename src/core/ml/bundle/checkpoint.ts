// Opening a conversion source: a diffusers pipeline folder (any subset of unet/, vae/, text_encoder/,
// tokenizer/; safetensors or PyTorch .bin weights) or an original SD 1.x single file (.safetensors, or a PyTorch
// .ckpt/.pt/.pth/.bin read without running it). Everything is checked before anything is built:
// configs parse, weights match the shapes the configs imply, a tokenizer is present when a text encoder is.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import {
  clipWeightShapes, parseClipTextConfig, parseUNetConfig, parseVaeConfig, SD15_CLIP_CONFIG, SD15_UNET_CONFIG,
  SD15_VAE_CONFIG, unetWeightShapes, vaeWeightShapes, checkWeights,
  type ClipTextConfig, type UNetConfig, type VaeConfig,
} from '../models';
import { fileSource, LDM_PREFIX, openSingleFile, openTensorFile, TorchFile, weightsFormat, type TensorFile, type WeightSource } from '../weights';
import { parseJson } from '../../json';
import { asBundleError, BundleError } from './errors';
import { findTokenizerFiles, requireTokenizerFiles, type TokenizerFiles } from './tokenizerFiles';

export interface SourceComponent<C> {
  config: C;
  weights: WeightSource;
}

export interface CheckpointSource {
  kind: 'diffusers' | 'single-file';
  /** Absolute path of the folder or file. */
  path: string;
  /** Folder the source files are relative to. */
  root: string;
  unet?: SourceComponent<UNetConfig> & { sampleSize: number };
  vae?: SourceComponent<VaeConfig>;
  textEncoder?: SourceComponent<ClipTextConfig>;
  tokenizer?: TokenizerFiles;
  /** Every file read (weights, configs, tokenizer), for the source fingerprint. */
  files: string[];
  warnings: string[];
  /** Closes the weight files. */
  close(): void;
}

/** Raw config.json objects replacing the SD 1.5 defaults of a single-file checkpoint (keys: diffusers folder names). */
export interface ConfigOverrides {
  unet?: unknown;
  vae?: unknown;
  text_encoder?: unknown;
}

export interface OpenOptions {
  /** Folder with vocab.json + merges.txt, or openai's bpe .txt.gz (folder or file). Overrides the source's own. */
  tokenizer?: string;
  configs?: ConfigOverrides;
}

const MAX_LISTED = 25;
const listProblems = (ps: string[]) => (ps.length > MAX_LISTED ? [...ps.slice(0, MAX_LISTED), `… and ${ps.length - MAX_LISTED} more`] : ps);

/** Missing weights and wrong shapes are errors; unexpected extra weights only warnings (the graph ignores them). */
export function checkShapes(what: string, expected: Map<string, number[]>, w: WeightSource, warnings: string[], hint = ''): void {
  const problems = checkWeights(expected, w);
  const bad = problems.filter((p) => !p.startsWith('unexpected '));
  const extra = problems.filter((p) => p.startsWith('unexpected ') && !p.endsWith('embeddings.position_ids'));
  if (bad.length) throw new BundleError(`${what} does not match its config${hint}`, listProblems(bad));
  if (extra.length) warnings.push(`${what}: ${extra.length} weights the architecture does not use (${extra.slice(0, 3).map((p) => p.slice(11)).join(', ')}${extra.length > 3 ? ', …' : ''})`);
}

export function readJson(path: string): Record<string, unknown> {
  return asBundleError(`cannot read ${path}`, () => {
    const v = parseJson(readFileSync(path, 'utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  });
}

/** Reads a config as `parse` does, naming the file in the error. */
export function parseConfig<C>(file: string, raw: unknown, parse: (j: unknown) => C): C {
  return asBundleError(file, () => parse(raw));
}

export function openWeightsFile(path: string): TensorFile {
  const what = asBundleError(`cannot read ${path}`, () => weightsFormat(path)) === 'torch' ? 'PyTorch checkpoint' : 'safetensors file';
  return asBundleError(`${path} is not a readable ${what}`, () => openTensorFile(path));
}

/** A PyTorch file's content that was not loaded is said, not hidden: what it names that was not run, what was left out. */
export function noteUnread(file: TensorFile, label: string, warnings: string[]): void {
  if (!(file instanceof TorchFile)) return;
  const list = (xs: string[]) => `${xs.slice(0, 5).join(', ')}${xs.length > 5 ? `, … (${xs.length} in all)` : ''}`;
  if (file.foreignGlobals.length) warnings.push(`${label} refers to Python code that was not run (read as inert data): ${list(file.foreignGlobals)}`);
  if (file.skipped.length) warnings.push(`${label}: tensors of types the converter cannot read were left out: ${list(file.skipped)}`);
}

/**
 * The weights file of a diffusers component folder: safetensors preferred (no pickle to read), full precision over
 * an .fp16 variant; `stems` are the safetensors and the PyTorch file names (transformers saves model.safetensors
 * but pytorch_model.bin).
 */
export function componentWeights(dir: string, stems: { safetensors: string; torch: string }): string {
  const names = [`${stems.safetensors}.safetensors`, `${stems.safetensors}.fp16.safetensors`, `${stems.torch}.bin`, `${stems.torch}.fp16.bin`];
  for (const f of names) if (existsSync(join(dir, f))) return join(dir, f);
  if (readdirSync(dir).some((f) => /\.(safetensors|bin)\.index\.json$/.test(f)))
    throw new BundleError(`${dir}: sharded weights (*.index.json) are not supported; save the component unsharded`);
  throw new BundleError(`${dir}: no weights (${names[0]} or ${names[2]})`);
}

function openDiffusers(dir: string, opts: OpenOptions): CheckpointSource {
  const opened: TensorFile[] = [];
  try {
    return openDiffusersInner(dir, opts, opened);
  } catch (e) {
    opened.forEach((f) => f.close());
    throw e;
  }
}

function openDiffusersInner(dir: string, opts: OpenOptions, opened: TensorFile[]): CheckpointSource {
  const src: CheckpointSource = { kind: 'diffusers', path: dir, root: dir, files: [], warnings: [], close: () => opened.forEach((f) => f.close()) };
  const sub = (n: string) => join(dir, n);
  const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();
  const component = <C>(name: string, stems: { safetensors: string; torch: string }, parse: (j: unknown) => C, shapes: (c: C) => Map<string, number[]>) => {
    const d = sub(name);
    if (!isDir(d)) return undefined;
    const cfgPath = join(d, 'config.json');
    if (!existsSync(cfgPath)) throw new BundleError(`${name}/config.json is missing in ${dir}`);
    const raw = readJson(cfgPath);
    const config = parseConfig(`${name}/config.json`, raw, parse);
    const wPath = componentWeights(d, stems);
    const file = openWeightsFile(wPath);
    opened.push(file);
    noteUnread(file, `${name}/${basename(wPath)}`, src.warnings);
    const weights = fileSource(file, '', wPath);
    checkShapes(`${name} weights (${basename(wPath)})`, shapes(config), weights, src.warnings);
    src.files.push(cfgPath, wPath);
    return { config, weights, raw };
  };
  const diffusers = { safetensors: 'diffusion_pytorch_model', torch: 'diffusion_pytorch_model' };
  const unet = component('unet', diffusers, parseUNetConfig, unetWeightShapes);
  if (unet) src.unet = { config: unet.config, weights: unet.weights, sampleSize: typeof unet.raw['sample_size'] === 'number' ? unet.raw['sample_size'] : 64 };
  src.vae = component('vae', diffusers, parseVaeConfig, vaeWeightShapes);
  src.textEncoder = component('text_encoder', { safetensors: 'model', torch: 'pytorch_model' }, parseClipTextConfig, clipWeightShapes);
  if (!src.unet && !src.vae && !src.textEncoder)
    throw new BundleError(`${dir} holds no model components: expected a diffusers pipeline folder with unet/, vae/ and/or text_encoder/ (each with config.json and its weights)`);
  src.tokenizer = opts.tokenizer ? requireTokenizerFiles(opts.tokenizer) : (findTokenizerFiles(sub('tokenizer')) ?? undefined);
  return src;
}

function openSingle(file: string, opts: OpenOptions): CheckpointSource {
  const st = openWeightsFile(file);
  try {
    return openSingleInner(file, st, opts);
  } catch (e) {
    st.close();
    throw e;
  }
}

function openSingleInner(file: string, st: TensorFile, opts: OpenOptions): CheckpointSource {
  const keys = st.keys();
  const has = (p: string) => keys.some((k) => k.startsWith(p));
  if (!has(LDM_PREFIX.unet)) {
    const why = has('conditioner.embedders.')
      ? 'it looks like an SDXL checkpoint, which is not supported'
      : has('cond_stage_model.model.')
        ? 'it looks like an SD 2.x checkpoint (OpenCLIP text encoder), which is not supported'
        : `no '${LDM_PREFIX.unet}*' keys (first keys: ${keys.slice(0, 3).join(', ') || 'none'})`;
    throw new BundleError(`unknown checkpoint layout in ${file}: expected an original SD 1.x single-file checkpoint; ${why}`);
  }
  const src: CheckpointSource = { kind: 'single-file', path: file, root: resolve(file, '..'), files: [file], warnings: [], close: () => st.close() };
  noteUnread(st, basename(file), src.warnings);
  const cfg = opts.configs ?? {};
  const hint = cfg.unet || cfg.vae || cfg.text_encoder ? '' : ' (single-file checkpoints are read with the SD 1.5 configs; pass configs for other architectures)';
  const unetCfg = cfg.unet ? parseConfig('unet config', cfg.unet, parseUNetConfig) : SD15_UNET_CONFIG;
  const vaeCfg = cfg.vae ? parseConfig('vae config', cfg.vae, parseVaeConfig) : SD15_VAE_CONFIG;
  const clipCfg = cfg.text_encoder ? parseConfig('text_encoder config', cfg.text_encoder, parseClipTextConfig) : SD15_CLIP_CONFIG;
  const parts = openSingleFile(st, { layersPerBlock: unetCfg.layers_per_block });
  const sampleSize = (cfg.unet as { sample_size?: unknown } | undefined)?.sample_size;
  checkShapes('UNet weights', unetWeightShapes(unetCfg), parts.unet, src.warnings, hint);
  src.unet = { config: unetCfg, weights: parts.unet, sampleSize: typeof sampleSize === 'number' ? sampleSize : 64 };
  if (has(LDM_PREFIX.vae)) {
    checkShapes('VAE weights', vaeWeightShapes(vaeCfg), parts.vae, src.warnings, hint);
    src.vae = { config: vaeCfg, weights: parts.vae };
  } else src.warnings.push(`no VAE weights (${LDM_PREFIX.vae}*) in the checkpoint`);
  if (has(LDM_PREFIX.clip)) {
    checkShapes('text encoder weights', clipWeightShapes(clipCfg), parts.textEncoder, src.warnings, hint);
    src.textEncoder = { config: clipCfg, weights: parts.textEncoder };
  } else src.warnings.push(`no text encoder weights (${LDM_PREFIX.clip}*) in the checkpoint`);
  const ignored = parts.unmapped.filter((k) => !k.startsWith('model_ema.'));
  if (ignored.length) src.warnings.push(`${ignored.length} checkpoint keys not used (${ignored.slice(0, 3).join(', ')}${ignored.length > 3 ? ', …' : ''})`);
  if (opts.tokenizer) src.tokenizer = requireTokenizerFiles(opts.tokenizer);
  return src;
}

/** Opens and validates a conversion source; throws BundleError naming the problem. */
export function openCheckpoint(source: string, opts: OpenOptions = {}): CheckpointSource {
  const path = resolve(source);
  if (!existsSync(path)) throw new BundleError(`source not found: ${path}`);
  const st = statSync(path);
  const src = st.isDirectory() ? openDiffusers(path, opts) : st.isFile() ? openSingle(path, opts) : null;
  if (!src) throw new BundleError(`source is neither a folder nor a file: ${path}`);
  try {
    finish(src);
  } catch (e) {
    src.close();
    throw e;
  }
  return src;
}

function finish(src: CheckpointSource): void {
  const path = src.path;
  if (src.textEncoder && !src.tokenizer)
    throw new BundleError(
      src.kind === 'single-file'
        ? `${path} has a text encoder but a single-file checkpoint carries no tokenizer: pass a CLIP tokenizer (--tokenizer PATH: a folder with vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz)`
        : `${path} has text_encoder/ but no tokenizer/ (vocab.json + merges.txt): add it or pass --tokenizer PATH`,
    );
  if (src.tokenizer) src.files.push(...(src.tokenizer.format === 'vocab-merges' ? [src.tokenizer.vocab, src.tokenizer.merges] : [src.tokenizer.bpe]));
  // Components built separately must agree to work together; mismatches are accepted (fixtures, partial bundles).
  if (src.unet && src.textEncoder && src.unet.config.cross_attention_dim !== src.textEncoder.config.hidden_size)
    src.warnings.push(`UNet cross_attention_dim ${src.unet.config.cross_attention_dim} != text encoder hidden_size ${src.textEncoder.config.hidden_size}: the UNet cannot take this encoder's output`);
  if (src.unet && src.vae && src.unet.config.in_channels !== src.vae.config.latent_channels)
    src.warnings.push(`UNet in_channels ${src.unet.config.in_channels} != VAE latent_channels ${src.vae.config.latent_channels}`);
}
