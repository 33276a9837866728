// A CLIP image tower → a bundle's `image_encoder` component (image_encoder.onnx): Ref LDM-Seg's Alpha-CLIP ViT-L/14,
// ODISE's CLIP ViT-L/14-336. Sources: a transformers folder (config.json + model.safetensors or pytorch_model.bin: a
// CLIPVisionModelWithProjection, a whole CLIPModel, or a diffusers pipeline folder holding image_encoder/), or one
// weights file in openai's layout (openai's ViT-*.pt, open_clip's `visual.*`, Alpha-CLIP's visual state dict), as
// .safetensors or a PyTorch file read without running anything. Everything is checked before anything is built.
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { buildClipVisionEncoder } from '../models/clipVision';
import { clipVisionWeightShapes, parseClipVisionConfig, type ClipVisionConfig } from '../models/clipVisionConfig';
import { isOpenAiVisionLayout, openAiVisionSource } from '../models/clipVisionWeights';
import { externalDataLocations } from '../runtime/modelSize';
import { MappedSource, type MappedEntry, type TensorFile, type WeightSource } from '../weights';
import { checkShapes, componentWeights, noteUnread, openWeightsFile, parseConfig, readJson } from './checkpoint';
import { BundleError } from './errors';
import { fileEntry } from './hash';
import { ComponentSchema, type BundleComponent, type BundleDType } from './schema';
import { tensorSpecs } from './schema';

/** Alpha-CLIP's checkpoints (SunzeY/AlphaCLIP): "research use only"; its code is Apache-2.0. */
export const ALPHA_CLIP_LICENCE = 'Alpha-CLIP checkpoints: research use only';

export const IMAGE_ENCODER_FILE = 'image_encoder.onnx';

/** 'alpha-clip' is openai's layout with Alpha-CLIP's alpha convolution (an `alpha` input). */
export type ImageEncoderLayout = 'transformers' | 'openai' | 'alpha-clip';

export interface ImageEncoderOptions {
  /** Weights and compute in float16 (inputs and outputs stay float32). */
  dtype?: BundleDType;
  /** openai's layout does not record it: attention heads (default width / 64, openai's rule; open_clip towers vary). */
  heads?: number;
  /** openai's layout: the MLP activation (default quick_gelu, openai's and Alpha-CLIP's; open_clip's own towers use gelu). */
  hiddenAct?: ClipVisionConfig['hidden_act'];
}

export interface ImageEncoderSource {
  layout: ImageEncoderLayout;
  /** Absolute path of the folder or file. */
  path: string;
  config: ClipVisionConfig;
  /** Under transformers' names. */
  weights: WeightSource;
  /** Every file read (config, weights), for the bundle's source fingerprint. */
  files: string[];
  warnings: string[];
  close(): void;
}

export interface ImageEncoderConversion {
  component: BundleComponent;
  sourceFiles: string[];
  warnings: string[];
}

/** Opens and checks a CLIP image tower; throws BundleError naming the problem. */
export function openImageEncoder(source: string, opts: ImageEncoderOptions = {}): ImageEncoderSource {
  const path = resolve(source);
  if (!existsSync(path)) throw new BundleError(`source not found: ${path}`);
  return statSync(path).isDirectory() ? openFolder(path) : openFile(path, opts);
}

/** Opens `path` and hands it to `fn`; closes it if `fn` throws. */
function withFile<T>(path: string, fn: (file: TensorFile) => T): T {
  const file = openWeightsFile(path);
  try {
    return fn(file);
  } catch (e) {
    file.close();
    throw e;
  }
}

function openFolder(dir: string): ImageEncoderSource {
  const root = [dir, join(dir, 'image_encoder')].find((d) => existsSync(join(d, 'config.json')));
  if (!root) throw new BundleError(`${dir} is not a CLIP image tower folder: no config.json (nor image_encoder/config.json)`);
  const cfgPath = join(root, 'config.json');
  const config = parseConfig(cfgPath, readJson(cfgPath), parseClipVisionConfig);
  const wPath = componentWeights(root, { safetensors: 'model', torch: 'pytorch_model' });
  return withFile(wPath, (file) => {
    const warnings: string[] = [];
    noteUnread(file, basename(wPath), warnings);
    // A whole CLIPModel holds the text tower too: only the image tower's weights are read.
    const map = new Map<string, MappedEntry>();
    for (const k of file.keys()) if (k.startsWith('vision_model.') || k.startsWith('visual_projection.')) map.set(k, { src: k });
    const weights = new MappedSource(file, map, wPath);
    checkShapes(`image encoder weights (${basename(wPath)})`, clipVisionWeightShapes(config), weights, warnings);
    return { layout: 'transformers', path: dir, config, weights, files: [cfgPath, wPath], warnings, close: () => file.close() };
  });
}

function openFile(path: string, opts: ImageEncoderOptions): ImageEncoderSource {
  return withFile(path, (file) => {
    if (!isOpenAiVisionLayout(file)) {
      throw new BundleError(file.keys().some((k) => k.startsWith('vision_model.'))
        ? `${path} holds transformers weights (vision_model.*): convert its folder, with config.json`
        : `${path} holds no CLIP image tower: expected openai/open_clip weights (visual.conv1.weight), Alpha-CLIP's visual state dict (conv1.weight, conv1_alpha.weight), or a transformers folder`);
    }
    const warnings: string[] = [];
    noteUnread(file, basename(path), warnings);
    let tower: { config: ClipVisionConfig; weights: WeightSource };
    try {
      tower = openAiVisionSource(file, path, { heads: opts.heads, hidden_act: opts.hiddenAct });
    } catch (e) {
      throw new BundleError((e as Error).message);
    }
    checkShapes(`image encoder weights (${basename(path)})`, clipVisionWeightShapes(tower.config), tower.weights, warnings);
    const layout = tower.config.alpha_channel ? 'alpha-clip' : 'openai';
    return { layout, path, ...tower, files: [path], warnings, close: () => file.close() };
  });
}


/**
 * Writes `image_encoder.onnx` (+ external data when over 2 GB) into `bundleDir` and returns its bundle.json
 * component: inputs `pixel_values` [batch,3,S,S] (and `alpha` [batch,1,S,S] for Alpha-CLIP), outputs
 * `last_hidden_state` (before ln_post) and `image_embeds`; its config is the tower's plus `layout`. On failure
 * nothing is left in `bundleDir`.
 */
export async function convertImageEncoder(source: string, bundleDir: string, opts: ImageEncoderOptions = {}): Promise<ImageEncoderConversion> {
  const src = openImageEncoder(source, opts);
  try {
    mkdirSync(bundleDir, { recursive: true });
    return { component: await writeImageEncoder(src, bundleDir, opts.dtype ?? 'float32'), sourceFiles: src.files, warnings: src.warnings };
  } finally {
    src.close();
  }
}

/** convertImageEncoder for a tower already opened (and checked) by openImageEncoder; the caller closes it. */
export async function writeImageEncoder(src: ImageEncoderSource, bundleDir: string, dtype: BundleDType): Promise<BundleComponent> {
  const file = join(bundleDir, IMAGE_ENCODER_FILE);
  try {
    const { graph } = buildClipVisionEncoder(src.config, src.weights, { dtype });
    graph.save(file);
    const files = await Promise.all([file, ...externalDataLocations(file).map((p) => join(bundleDir, p))].map((p) => fileEntry(bundleDir, p)));
    return ComponentSchema.parse({
      model: IMAGE_ENCODER_FILE, files, inputs: tensorSpecs(graph.inputs), outputs: tensorSpecs(graph.outputs), config: { ...src.config, layout: src.layout },
      // Only Alpha-CLIP's tower has an alpha patch embedding, and its checkpoints are released for research use only.
      ...(src.config.alpha_channel ? { licence: ALPHA_CLIP_LICENCE } : {}),
    });
  } catch (e) {
    rmSync(file, { force: true });
    rmSync(`${file}.data`, { force: true });
    if (e instanceof BundleError) throw e;
    throw new BundleError(`conversion of ${src.path} failed: ${(e as Error).message}`);
  }
}
