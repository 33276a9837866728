// An ODISE bundle from its three released files (odiseSources.ts): the four window graphs (captioner, VAE taps, UNet
// taps, projections), Mask2Former's pixel and transformer decoders, CLIP's tower as MaskCLIP and its text tower with
// text_embeds, open_clip's tokenizer, and the classification constants in a safetensors file. Written into a hidden
// temporary folder and renamed into place, as every converter does.
import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { GraphBuilder } from '../graph';
import { buildClipTextEncoder } from '../models/clip';
import { buildMaskClip } from '../models/maskClip';
import { buildMaskDecoder, buildPixelDecoder } from '../models/mask2former';
import { ODISE_FEATURE_CONFIG, type OdiseFeatureConfig } from '../models/odise/config';
import { buildOdiseCaptioner, buildOdiseProjection, buildOdiseUNet, buildOdiseVae, featureTaps } from '../models/odise/features';
import { encodeSafetensors, type WeightSource } from '../weights';
import { component, partialPrefix, writeBundle, type ConvertResult } from './convert';
import { BundleError } from './errors';
import { fileEntry } from './hash';
import {
  ODISE_LABEL_HEADS, readOdiseCheckpoint, readOdiseClip, readOdiseSd, readOpenAiClip, readTrainingLabels, SD1_CONFIGS,
  type OdiseCheckpoint, type OdiseClip, type OdiseHeadsConfig, type OdiseSd, type SdConfigs,
} from './odiseSources';
import { BUNDLE_FORMAT_VERSION, BundleManifestSchema, type BundleComponent, type BundleManifest } from './schema';
import { loadTokenizer, requireTokenizerFiles, tokenizerPaths, type TokenizerFiles } from './tokenizerFiles';

/** The licences of the three releases (docs/models.md, "ODISE bundles"). */
export const ODISE_LICENCES = { odise: 'CC BY-NC-SA 4.0 (ODISE weights)', sd: 'CreativeML Open RAIL-M', clip: 'MIT (OpenAI CLIP)' } as const;

/** detectron2's ResizeShortestEdge and ImageList divisibility in ODISE's test configs. */
const ODISE_SIZES = { shortSide: 1024, maxSize: 2560, sizeDivisibility: 64 } as const;
/** OpenAI's CLIP stores logit_scale = ln 100, and ODISE clamps exp(logit_scale) at 100: MaskCLIP's scale is 100. */
const CLIP_LOGIT_SCALE = 100;
const CONSTANTS_FILE = 'odise_constants.safetensors';
/** The graphs of an ODISE bundle, in the order they are written (besides them: the tokenizer and the constants). */
export const ODISE_GRAPHS = ['odise_captioner', 'odise_vae', 'unet_odise', 'odise_projection', 'pixel_decoder', 'transformer_decoder', 'mask_clip', 'text_encoder'] as const;

export interface OdiseBundleConfigs {
  heads: OdiseHeadsConfig;
  features: OdiseFeatureConfig;
  sd: SdConfigs;
  /** Attention heads of a CLIP whose width is not openai's 64 per head (tests' tiny towers); ODISE's own CLIP is checked to be ViT-L/14-336. */
  clipHeads?: { vision: number; text: number };
}
export const ODISE_BUNDLE_CONFIGS: OdiseBundleConfigs = { heads: ODISE_LABEL_HEADS, features: ODISE_FEATURE_CONFIG, sd: SD1_CONFIGS };

/** The released files, read. `files` are the paths they came from (fingerprinted into bundle.json). */
export interface OdiseSources {
  checkpoint: OdiseCheckpoint;
  clip: OdiseClip;
  sd: OdiseSd;
  /** open_clip's tokenizer (bpe_simple_vocab_16e6.txt.gz): none of the three files holds one. */
  tokenizer: TokenizerFiles;
  /** The label model's training vocabulary (readTrainingLabels), when given. */
  trainingVocabulary?: string[][];
  files: string[];
}

export interface OdiseBundleOptions {
  configs?: OdiseBundleConfigs;
  /** Bundle name (default "odise-label"). */
  name?: string;
  /** The bundle's licence (default: ODISE's, the most restrictive of the three). */
  licence?: string;
  /** Short side images are resized to (default ODISE's 1024; smaller for tests). */
  shortSide?: number;
  overwrite?: boolean;
  onProgress?: (done: number, total: number, step: string) => void;
}

/** What `models convert --odise` reads. */
export interface OdiseFiles {
  /** The label checkpoint (odise_label_coco_50e-b67d2efc.pth). */
  checkpoint: string;
  /** SD 1.3 (sd-v1-3.ckpt). */
  sd: string;
  /** OpenAI's ViT-L-14-336px.pt. */
  clip: string;
  /** open_clip's bpe_simple_vocab_16e6.txt.gz. */
  bpe: string;
  /** ODISE's openseg_labels/coco_panoptic_with_prompt_eng.txt: the classes the label model was trained on. */
  trainingLabels?: string;
}

/** Reads the three released files (each checked before anything is built) and writes the bundle. */
export async function convertOdise(files: OdiseFiles, outDir: string, opts: OdiseBundleOptions = {}): Promise<ConvertResult> {
  const tokenizer = requireTokenizerFiles(files.bpe);
  const trainingVocabulary = files.trainingLabels !== undefined ? readTrainingLabels(files.trainingLabels) : undefined;
  const configs = opts.configs ?? ODISE_BUNDLE_CONFIGS;
  const opened: { close(): void }[] = [];
  try {
    const checkpoint = readOdiseCheckpoint(files.checkpoint, configs.heads);
    opened.push(checkpoint);
    const clip = configs.clipHeads ? readOpenAiClip(files.clip, configs.clipHeads) : readOdiseClip(files.clip);
    opened.push(clip);
    const sd = readOdiseSd(files.sd, configs.sd);
    opened.push(sd);
    const paths = [files.checkpoint, files.sd, files.clip, ...tokenizerPaths(tokenizer), ...(files.trainingLabels !== undefined ? [files.trainingLabels] : [])].map((p) => resolve(p));
    return await buildOdiseBundle({ checkpoint, clip, sd, tokenizer, trainingVocabulary, files: paths }, outDir, opts);
  } finally {
    opened.forEach((o) => o.close());
  }
}

/** `w` with `prefix` before every name (the checkpoint's projections are `<i>.0.*`, the graph reads `feature_projections.<i>.0.*`). */
function prefixed(w: WeightSource, prefix: string): WeightSource {
  // A name without the prefix maps to one no source has.
  const inner = (k: string) => (k.startsWith(prefix) ? k.slice(prefix.length) : `\0${k}`);
  return {
    keys: () => w.keys().map((k) => prefix + k),
    has: (k) => w.has(inner(k)),
    shape: (k) => w.shape(inner(k)),
    dtype: (k) => w.dtype(inner(k)),
    read: (k) => w.read(inner(k)),
    ...(w.readF16Bits ? { readF16Bits: (k: string) => w.readF16Bits!(inner(k)) } : {}),
  };
}

/** SD's text encoding of "" (FrozenCLIPEmbedder: HF's tokenizer pads with EOT to 77), which the captioner adds to. */
async function emptyContext(sd: OdiseSd, configs: SdConfigs, tokenizer: TokenizerFiles, scratch: string): Promise<{ data: Float32Array; dims: number[] }> {
  const n = configs.textEncoder.max_position_embeddings;
  const { graph } = buildClipTextEncoder(configs.textEncoder, sd.textEncoder, { batch: 1, seqLen: n });
  const path = join(scratch, 'sd_text_encoder.onnx');
  graph.save(path);
  const session = await ort.InferenceSession.create(path);
  try {
    const ids = loadTokenizer(tokenizer).tokenizeInt64('', { contextLength: n, pad: 'eot' });
    const out = await session.run({ input_ids: new ort.Tensor('int64', ids, [1, n]) }, ['last_hidden_state']);
    const t = out['last_hidden_state']!;
    return { data: t.data as Float32Array, dims: [...t.dims] };
  } finally {
    await session.release();
    rmSync(path, { force: true });
  }
}

export async function buildOdiseBundle(src: OdiseSources, outDir: string, opts: OdiseBundleOptions = {}): Promise<ConvertResult> {
  const out = resolve(outDir);
  if (!opts.overwrite && existsSync(out)) throw new BundleError(`output folder already exists: ${out} (remove it or pass overwrite / --force)`);
  const configs = opts.configs ?? ODISE_BUNDLE_CONFIGS;
  const fc = configs.features;
  if (fc.contextDim !== configs.sd.textEncoder.hidden_size)
    throw new BundleError(`the captioner writes a ${fc.contextDim}-wide context, SD's text encoder is ${configs.sd.textEncoder.hidden_size} wide`);
  const scratch = join(resolve(out, '..'), `${partialPrefix(out)}scratch-${Date.now().toString(36)}`);
  const write = async (dir: string): Promise<BundleManifest> => {
    const components: Record<string, BundleComponent> = {};
    const warnings = [...src.checkpoint.warnings, ...src.clip.warnings, ...src.sd.warnings];
    if (!src.trainingVocabulary)
      warnings.push("no training labels (ODISE's openseg_labels/coco_panoptic_with_prompt_eng.txt): every class is weighed as new to the model (β 0.7, never α 0.3)");
    const { checkpoint: ck, clip, sd } = src;
    const latent = fc.window / 2 ** (configs.sd.vae.block_out_channels.length - 1);
    const vae = buildOdiseVae(fc, configs.sd.vae, sd.vae);
    const unet = buildOdiseUNet(fc, configs.sd.unet, sd.unet, latent);
    const taps = featureTaps(fc, vae, unet);
    const widths = taps.map((t) => t.channels);
    if (widths.join() !== configs.heads.featureDims.join())
      throw new BundleError(`the SD checkpoint's taps are ${widths.join(', ')} channels wide, the ODISE checkpoint's projections take ${configs.heads.featureDims.join(', ')}`);
    let manifestFiles: BundleManifest['source']['files'] = [];
    let constantsEntry: Awaited<ReturnType<typeof fileEntry>> | undefined;
    const save = (key: string, graph: GraphBuilder, config: object, licence: string, external: boolean | 'auto' = 'auto') =>
      component(dir, `${key}.onnx`, graph, config, (p) => graph.save(p, { externalData: external }), { licence }).then((c) => void (components[key] = c));
    const steps: [string, () => Promise<void>][] = [
      ['fingerprinting the sources (sha256)', async () => {
        manifestFiles = await Promise.all(src.files.map(async (p) => ({ ...(await fileEntry(resolve(p, '..'), p)), path: p })));
      }],
      ['captioner', () => save('odise_captioner', buildOdiseCaptioner(fc, clip.visual.config, clip.visual.weights, ck.feature.captioner).graph, fc, ODISE_LICENCES.odise)],
      ['VAE taps', () => save('odise_vae', vae.graph, configs.sd.vae, ODISE_LICENCES.sd)],
      ['UNet taps', () => save('unet_odise', unet.graph, configs.sd.unet, ODISE_LICENCES.sd, true)],
      ['projections', () => save('odise_projection', buildOdiseProjection(fc, taps, prefixed(ck.feature.projections, 'feature_projections.')).graph, fc, ODISE_LICENCES.odise)],
      ['pixel decoder', () => save('pixel_decoder', buildPixelDecoder(configs.heads.pixelDecoder, ck.heads.pixelDecoder, { batch: 1 }).graph, configs.heads.pixelDecoder, ODISE_LICENCES.odise)],
      ['transformer decoder', () => save('transformer_decoder', buildMaskDecoder(configs.heads.decoder, ck.heads.decoder, { batch: 1 }).graph, configs.heads.decoder, ODISE_LICENCES.odise)],
      ['MaskCLIP', () => save('mask_clip', buildMaskClip(clip.visual.config, clip.visual.weights).graph, clip.visual.config, ODISE_LICENCES.clip)],
      ['text encoder', () => save('text_encoder', buildClipTextEncoder(clip.text.config, clip.text.weights, { textProjection: true }).graph, clip.text.config, ODISE_LICENCES.clip)],
      ['tokenizer', async () => {
        loadTokenizer(src.tokenizer); // a corrupt file fails here, not at the first run
        mkdirSync(join(dir, 'tokenizer'));
        for (const p of tokenizerPaths(src.tokenizer)) {
          copyFileSync(p, join(dir, 'tokenizer', basename(p)));
          chmodSync(join(dir, 'tokenizer', basename(p)), 0o644);
        }
      }],
      ['classification constants', async () => {
        mkdirSync(scratch);
        const empty = await emptyContext(sd, configs.sd, src.tokenizer, scratch);
        const c = ck.classification;
        const stored = (k: string) => ({ dtype: 'F32' as const, shape: c.shape(k), data: c.read(k) });
        writeFileSync(join(dir, CONSTANTS_FILE), encodeSafetensors({
          'text_proj.weight': stored('text_proj.weight'),
          'text_proj.bias': stored('text_proj.bias'),
          null_embed: stored('null_embed'),
          empty_context: { dtype: 'F32', shape: empty.dims, data: empty.data },
        }));
        constantsEntry = await fileEntry(dir, join(dir, CONSTANTS_FILE));
      }],
    ];
    for (let i = 0; i < steps.length; i++) {
      opts.onProgress?.(i, steps.length, steps[i]![0]);
      await steps[i]![1]();
    }
    opts.onProgress?.(steps.length, steps.length, 'done');
    const bpe = tokenizerPaths(src.tokenizer);
    const manifest = {
      format: 'difflabel-model-bundle' as const,
      formatVersion: BUNDLE_FORMAT_VERSION,
      name: opts.name ?? 'odise-label',
      createdAt: new Date().toISOString(),
      dtype: 'float32' as const,
      licence: opts.licence?.trim() || ODISE_LICENCES.odise,
      source: { path: resolve(src.files[0]!), kind: 'odise' as const, files: manifestFiles },
      components,
      tokenizer: {
        format: src.tokenizer.format,
        ...(src.tokenizer.format === 'vocab-merges'
          ? { vocab: `tokenizer/${basename(src.tokenizer.vocab)}`, merges: `tokenizer/${basename(src.tokenizer.merges)}` }
          : { bpe: `tokenizer/${basename(src.tokenizer.bpe)}` }),
        files: await Promise.all(bpe.map((p) => fileEntry(dir, join(dir, 'tokenizer', basename(p))))),
        pad: 'zero' as const, // open_clip's tokenizer pads with 0
        contextLength: clip.text.config.max_position_embeddings,
      },
      vaeScalingFactor: fc.scalingFactor,
      odise: { shortSide: opts.shortSide ?? ODISE_SIZES.shortSide, maxSize: ODISE_SIZES.maxSize, sizeDivisibility: ODISE_SIZES.sizeDivisibility, window: fc.window, constants: constantsEntry!, clipLogitScale: CLIP_LOGIT_SCALE,
        ...(src.trainingVocabulary ? { trainingVocabulary: src.trainingVocabulary } : {}) },
      warnings,
    };
    const r = BundleManifestSchema.safeParse(manifest);
    if (!r.success) throw new BundleError('internal error: the manifest does not match its schema', r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
    return r.data;
  };
  try {
    return await writeBundle(out, write, () => undefined, src.files[0] ?? 'ODISE');
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
