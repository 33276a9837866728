// ODISE's released files read as weight sources: the label checkpoint (`odise_label_coco_50e-*.pth`: the trainable
// heads only, detectron2's `{"model": state_dict}`), SD 1.3's Lightning `.ckpt` (through the LDM key map) and OpenAI's
// TorchScript `ViT-L-14-336px.pt` (its data.pkl read as a state dict; nothing in the archive is run). Each reader
// checks every tensor's name and shape before anything is built and refuses a wrong file naming the file and the key.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { openAiTextSource, SD15_CLIP_CONFIG, type ClipTextConfig } from '../models/clip';
import { VIT_L14_336_CONFIG, type ClipVisionConfig } from '../models/clipVisionConfig';
import { openAiVisionSource } from '../models/clipVisionWeights';
import {
  decoderWeightShapes, ODISE_DECODER_CONFIG, ODISE_PIXEL_DECODER_CONFIG, pixelDecoderWeightShapes, type DecoderConfig, type PixelDecoderConfig,
} from '../models/mask2former';
import { clipWeightShapes, conv, lin, norm, unetWeightShapes, vaeWeightShapes } from '../models/shapes';
import { SD15_UNET_CONFIG, type UNetConfig } from '../models/unetConfig';
import { SD15_VAE_CONFIG, type VaeConfig } from '../models/vae';
import { fileSource, openSingleFile, TorchFile, type TensorFile, type WeightSource } from '../weights';
import { checkShapes, noteUnread, openWeightsFile } from './checkpoint';
import { asBundleError, BundleError } from './errors';

type Shapes = Map<string, number[]>;

/** The heads' architecture: what the label model's configs build (configs/common/models/odise_with_label.py). */
export interface OdiseHeadsConfig {
  pixelDecoder: PixelDecoderConfig;
  decoder: DecoderConfig;
  /** Channels of the backbone's taps in its order: VAE encoder ×2, UNet ×4, VAE decoder ×2 (feature_dims). */
  featureDims: number[];
  /** Channels of each bottleneck projection's output (FeatureExtractorBackbone's projection_dim). */
  projectionDim: number;
  /** CLIP's image and text embedding width (ViT-L-14-336: 768). */
  clipDim: number;
  /** SD's text context, [tokens, width] (77 × 768). */
  context: [number, number];
  /** SD's time embedding width (1280). */
  timeEmbedDim: number;
}

export const ODISE_LABEL_HEADS: OdiseHeadsConfig = {
  pixelDecoder: ODISE_PIXEL_DECODER_CONFIG,
  decoder: ODISE_DECODER_CONFIG,
  featureDims: [512, 512, 2560, 1920, 960, 640, 512, 512],
  projectionDim: 512,
  clipDim: 768,
  context: [77, 768],
  timeEmbedDim: 1280,
};

/** The implicit captioner (ldm.py:624-670): `clip_project` and `time_embed_project` are PositionalLinear, the gates tanh'd. */
export function captionerWeightShapes(c: OdiseHeadsConfig): Shapes {
  const m: Shapes = new Map();
  const [tokens, width] = c.context;
  lin(m, 'clip_project.linear', width, c.clipDim);
  m.set('clip_project.positional_embedding', [1, tokens, width]);
  m.set('alpha_cond', [1, tokens, width]);
  lin(m, 'time_embed_project.linear', c.timeEmbedDim, c.clipDim);
  m.set('time_embed_project.positional_embedding', [1, 1, c.timeEmbedDim]);
  m.set('alpha_cond_time_embed', [c.timeEmbedDim]);
  return m;
}

/**
 * The eight bottleneck projections (feature_extractor.py:53-66): detectron2's BottleneckBlock in → P/4 → P/4 → P,
 * convolutions without bias, each with GroupNorm under `.norm`, a 1×1 shortcut only where in ≠ P.
 */
export function projectionWeightShapes(c: OdiseHeadsConfig): Shapes {
  const m: Shapes = new Map();
  const P = c.projectionDim;
  const b = P / 4;
  c.featureDims.forEach((inp, i) => {
    const p = `${i}.0`;
    const layer = (name: string, out: number, cin: number, k: number) => {
      conv(m, `${p}.${name}`, out, cin, k, false);
      norm(m, `${p}.${name}.norm`, out);
    };
    layer('conv1', b, inp, 1);
    layer('conv2', b, b, 3);
    layer('conv3', P, b, 1);
    if (inp !== P) layer('shortcut', P, inp, 1);
  });
  return m;
}

/** CategoryEmbed (odise.py:1219-1241): `text_proj` CLIP → mask-embedding width, the learned null (background) embedding. */
export function classificationWeightShapes(c: OdiseHeadsConfig): Shapes {
  const m: Shapes = new Map();
  const projection = c.decoder.post_mask_embed?.projection_dim ?? c.decoder.mask_dim;
  lin(m, 'text_proj', projection, c.clipDim);
  m.set('null_embed', [1, c.clipDim]);
  return m;
}

export interface OdiseCheckpoint {
  /** Mask2Former's weights under the names `buildPixelDecoder` / `buildMaskDecoder` read (no prefix). */
  heads: { pixelDecoder: WeightSource; decoder: WeightSource };
  /**
   * The backbone's trained parts: `captioner` (clip_project.*, alpha_cond, time_embed_project.*,
   * alpha_cond_time_embed) and `projections` (`<i>.0.conv1.weight`, … for tap i in feature_dims order).
   */
  feature: { captioner: WeightSource; projections: WeightSource };
  /** `text_proj.{weight,bias}` and `null_embed` [1, clipDim]; the logit scale is the decoder's `post_mask_embed.logit_scale`. */
  classification: WeightSource;
  warnings: string[];
  close(): void;
}

/** Where each part lives in the checkpoint's state dict (detectron2 module names). */
const PARTS = {
  pixelDecoder: 'sem_seg_head.pixel_decoder.',
  decoder: 'sem_seg_head.predictor.',
  captioner: 'backbone.feature_extractor.',
  projections: 'backbone.feature_projections.',
  classification: 'category_head.',
} as const;
/** Saved by training but not used at inference: SetCriterion's class weights. */
const TRAINING_ONLY = /^criterion\./;

/**
 * ODISE's label checkpoint: fvcore's Checkpointer saves `{"model": state_dict, …}` (a file without `model` is the
 * state dict itself, as the Checkpointer accepts). Only the heads are in it (ODISE's feature extractor and CLIP
 * adapter save empty state dicts); SD and CLIP come from their own files.
 */
export function readOdiseCheckpoint(path: string, config: OdiseHeadsConfig = ODISE_LABEL_HEADS): OdiseCheckpoint {
  const file = openWeightsFile(existing(path, 'ODISE checkpoint'));
  try {
    const warnings: string[] = [];
    noteUnread(file, path, warnings);
    const root = file.keys().some((k) => k.startsWith('model.')) ? 'model.' : '';
    const part = (p: string) => fileSource(file, root + p, path);
    const check = (what: string, shapes: Shapes, w: WeightSource) => checkShapes(`${path}: ${what} (${root}${what})`, shapes, w, warnings);
    const heads = { pixelDecoder: part(PARTS.pixelDecoder), decoder: part(PARTS.decoder) };
    const feature = { captioner: part(PARTS.captioner), projections: part(PARTS.projections) };
    const classification = part(PARTS.classification);
    if (!classification.keys().length && file.keys().some((k) => k.startsWith(`${root}word_head.`)))
      throw new BundleError(`${path} is ODISE's caption model (it has word_head.*, no category_head.*): only the label model (odise_label_coco_50e) is supported`);
    check(PARTS.pixelDecoder, pixelDecoderWeightShapes(config.pixelDecoder), heads.pixelDecoder);
    check(PARTS.decoder, decoderWeightShapes(config.decoder), heads.decoder);
    check(PARTS.captioner, captionerWeightShapes(config), feature.captioner);
    check(PARTS.projections, projectionWeightShapes(config), feature.projections);
    check(PARTS.classification, classificationWeightShapes(config), classification);
    const known = Object.values(PARTS).map((p) => root + p);
    const other = file.keys().filter((k) => k.startsWith(root) && !known.some((p) => k.startsWith(p)) && !TRAINING_ONLY.test(k.slice(root.length)));
    if (other.length)
      throw new BundleError(`${path}: ${other.length} weights ODISE's label model does not have (${other.slice(0, 3).join(', ')}${other.length > 3 ? ', …' : ''}): not an ODISE label checkpoint`);
    return { heads, feature, classification, warnings, close: () => file.close() };
  } catch (e) {
    file.close();
    throw e;
  }
}

export interface OdiseClip {
  visual: { config: ClipVisionConfig; weights: WeightSource };
  text: { config: ClipTextConfig; projectionDim: number; weights: WeightSource };
  /** Whether the file was a TorchScript archive (OpenAI's release) rather than a plain state dict. */
  torchScript: boolean;
  warnings: string[];
  close(): void;
}

/** What ODISE loads (open_clip "ViT-L-14-336", pretrained "openai"): the towers' configs the file must imply. */
const ODISE_CLIP = { vision: VIT_L14_336_CONFIG, text: { hidden_size: 768, num_hidden_layers: 12, vocab_size: 49408, max_position_embeddings: 77 }, projectionDim: 768 };

/**
 * A CLIP model in openai's layout: OpenAI's TorchScript release (`ViT-*.pt`: data.pkl's module attributes are the
 * state dict's names, `visual.*`, `transformer.*`, `token_embedding.weight`, …; fp16) or the same names in a plain
 * state dict. Both towers under transformers' names; `heads` only for towers whose heads are not openai's width / 64.
 */
export function readOpenAiClip(path: string, heads: { vision?: number; text?: number } = {}): OdiseClip {
  const file = openWeightsFile(existing(path, 'CLIP model'));
  try {
    const warnings: string[] = [];
    const torchScript = file instanceof TorchFile && file.torchScript;
    // A TorchScript archive names its module classes (`__torch__.*`); they are types, not code that was skipped.
    if (!torchScript) noteUnread(file, path, warnings);
    if (!file.has('visual.conv1.weight') || !file.has('token_embedding.weight'))
      throw new BundleError(`${path} is not a CLIP model in openai's layout (no ${file.has('visual.conv1.weight') ? 'token_embedding.weight' : 'visual.conv1.weight'})`);
    const visual = asBundleError(path, () => openAiVisionSource(file, path, { heads: heads.vision }));
    const text = asBundleError(path, () => openAiTextSource(file, path, { heads: heads.text }));
    return { visual, text, torchScript, warnings, close: () => file.close() };
  } catch (e) {
    file.close();
    throw e;
  }
}

/** OpenAI's CLIP ViT-L/14 at 336 px (`ViT-L-14-336px.pt`), the one ODISE loads; any other CLIP is refused. */
export function readOdiseClip(path: string): OdiseClip {
  const clip = readOpenAiClip(path);
  try {
    const v = clip.visual.config;
    const want = ODISE_CLIP.vision;
    if (v.hidden_size !== want.hidden_size || v.num_hidden_layers !== want.num_hidden_layers || v.patch_size !== want.patch_size || v.image_size !== want.image_size || v.projection_dim !== want.projection_dim)
      throw new BundleError(`${path} is a CLIP ViT ${v.hidden_size} wide with ${v.num_hidden_layers} layers and ${v.patch_size}-pixel patches at ${v.image_size} px; ODISE needs ViT-L/14 at 336 px (OpenAI's ViT-L-14-336px.pt)`);
    const t = clip.text.config;
    const mismatch = (Object.keys(ODISE_CLIP.text) as (keyof typeof ODISE_CLIP.text)[]).filter((k) => t[k] !== ODISE_CLIP.text[k]);
    if (mismatch.length || clip.text.projectionDim !== ODISE_CLIP.projectionDim)
      throw new BundleError(`${path}: its text tower (${mismatch.map((k) => `${k} ${t[k]}`).join(', ') || `projection ${clip.text.projectionDim}`}) is not ViT-L-14-336's`);
    return clip;
  } catch (e) {
    clip.close();
    throw e;
  }
}

export interface SdConfigs {
  unet: UNetConfig;
  vae: VaeConfig;
  textEncoder: ClipTextConfig;
}
/** Every SD 1.x checkpoint (1.3 included) has SD 1.5's architecture. */
export const SD1_CONFIGS: SdConfigs = { unet: SD15_UNET_CONFIG, vae: SD15_VAE_CONFIG, textEncoder: SD15_CLIP_CONFIG };

export interface OdiseSd {
  unet: WeightSource;
  vae: WeightSource;
  textEncoder: WeightSource;
  warnings: string[];
  close(): void;
}

/**
 * SD 1.3 (`sd-v1-3.ckpt`, a Lightning checkpoint over 4 GB: ZIP64; its `state_dict` holds `model.diffusion_model.*`,
 * `first_stage_model.*`, `cond_stage_model.transformer.*`, and `model_ema.*`, which ODISE does not load) through the
 * LDM key map, checked against SD 1.x's architecture (`configs`: another architecture, for tests).
 */
export function readOdiseSd(path: string, configs: SdConfigs = SD1_CONFIGS): OdiseSd {
  const file: TensorFile = openWeightsFile(existing(path, 'Stable Diffusion checkpoint'));
  try {
    const warnings: string[] = [];
    noteUnread(file, path, warnings);
    const sd = openSingleFile(file, { layersPerBlock: configs.unet.layers_per_block });
    const unused = sd.unmapped.filter((k) => !k.startsWith('model_ema.'));
    if (unused.length) warnings.push(`${path}: ${unused.length} weights outside the UNet, VAE and text encoder were not read (${unused.slice(0, 3).join(', ')}${unused.length > 3 ? ', …' : ''})`);
    checkShapes(`${path}: the UNet (model.diffusion_model.*)`, unetWeightShapes(configs.unet), sd.unet, warnings);
    checkShapes(`${path}: the VAE (first_stage_model.*)`, vaeWeightShapes(configs.vae), sd.vae, warnings);
    checkShapes(`${path}: the text encoder (cond_stage_model.transformer.*)`, clipWeightShapes(configs.textEncoder), sd.textEncoder, warnings);
    return { unet: sd.unet, vae: sd.vae, textEncoder: sd.textEncoder, warnings, close: () => file.close() };
  } catch (e) {
    file.close();
    throw e;
  }
}

function existing(path: string, what: string): string {
  if (!existsSync(path)) throw new BundleError(`${what} ${path} does not exist`);
  if (!statSync(path).isFile()) throw new BundleError(`${what} ${path} is not a file`);
  return path;
}

/**
 * The label model's training vocabulary, from ODISE's `openseg_labels/coco_panoptic_with_prompt_eng.txt`: one
 * `id:name,synonym,…` per line, `invalid_class_id` lines skipped (get_openseg_labels, odise/data/build.py). A class of
 * the user's vocabulary that shares a synonym with it is weighed as seen in training (α) rather than new (β).
 */
export function readTrainingLabels(path: string): string[][] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new BundleError(`${path}: cannot read the training labels (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const classes: string[][] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    const m = /^\s*(\d+)\s*:(.*)$/.exec(line);
    const names = m?.[2]!.split(',').map((n) => n.trim());
    if (!m || !names || names.some((n) => !n)) throw new BundleError(`${path}:${i + 1}: expected "id:name,synonym,…" (ODISE's openseg_labels format), found ${JSON.stringify(line.slice(0, 80))}`);
    if (names.length === 1 && names[0] === 'invalid_class_id') return;
    classes.push(names);
  });
  if (!classes.length) throw new BundleError(`${path}: no classes in the training labels`);
  return classes;
}
