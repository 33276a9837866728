// ODISE on one image, from the labeler's vocabulary to panoptic segments (CategoryODISE.forward at test time,
// odise/modeling/meta_arch/odise.py:222-372, with the test mapper's resize): short side to the bundle's size (Pillow's
// bilinear, as detectron2 resizes), padded to the size divisibility, features window by window, the Mask2Former
// heads, MaskCLIP, the vocabulary's text embeddings, classification and panoptic inference.
import { encode, type Rle } from '../../../shared/masks';
import { resizeBilinear } from '../../ml/models/pilResample';
import { odiseNoise } from '../../ml/models/odise/torchNoise';
import type { RunOptions } from '../../ml/runtime';
import type { RgbImage } from '../common/frame';
import { inTrainingVocabulary, type FloatTensor, type Vocabulary } from './classify';
import { captionWindows, ODISE_FEATURE_COMPONENTS, slideFeatures, slidingWindows, windowRunner } from './features';
import { classifyQueries, ODISE_LABEL_SETTINGS, padBatch } from './inference';
import type { OdiseModels } from './models';
import { postprocessImage, type OdiseImageResult } from './postprocess';

/** ODISE's prompt for the CLIP head (PoolingCLIPHead, "a photo of a {}."); the mask classifier reads the names as they are. */
const PHOTO = (name: string) => `a photo of a ${name}.`;

/** detectron2's ResizeShortestEdge.get_output_shape: [height, width] with the short side `short`, the long at most `max`. */
export function shortestEdgeSize(height: number, width: number, short: number, max: number): [number, number] {
  let scale = short / Math.min(height, width);
  let h = height * scale, w = width * scale;
  if (Math.max(h, w) > max) {
    scale = max / Math.max(h, w);
    h *= scale;
    w *= scale;
  }
  return [Math.trunc(h + 0.5), Math.trunc(w + 0.5)];
}

export interface OdiseSegment {
  /** At the image's size. */
  mask: Rle;
  score: number;
  /** Index of its class in the vocabulary. */
  classIndex: number;
}

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw Object.assign(new Error('cancelled'), { name: 'AbortError' });
}

export interface SegmentOptions extends RunOptions {
  /** After each window (the features are most of the cost), then after the heads. */
  onProgress?(done: number, total: number, what: string): void;
  /** Per class, whether it is a thing (instances) or stuff (one segment per class); all things, as ODISE's demo, when not given. */
  isThing?: readonly boolean[];
}

/**
 * Runs `stage`, then releases the sessions of `graphs`, also when it failed or was cancelled. A session keeps the
 * memory of its largest run until it is released (the CPU arena, runtime/sessionManager.ts): with the four window
 * graphs a 1024×1365 photo's process held 7.8 GiB, so nothing may run beside them (docs/odise.md).
 */
async function releasing<T>(models: OdiseModels, graphs: Parameters<OdiseModels['release']>[0], stage: () => Promise<T>): Promise<T> {
  try {
    return await stage();
  } finally {
    await models.release(graphs);
  }
}

/** Mask2Former's pixel and transformer decoders on the averaged features (neither they nor the pixel decoder's maps outlive this call). */
async function maskHeads(models: OdiseModels, features: Record<string, FloatTensor>, run: RunOptions): Promise<Record<string, FloatTensor>> {
  const pd = await releasing(models, ['pixel_decoder'], () =>
    models.run('pixel_decoder', features, ['mask_features', 'multi_scale_features.0', 'multi_scale_features.1', 'multi_scale_features.2'], run));
  return releasing(models, ['transformer_decoder'], () => models.run('transformer_decoder', {
    'x.0': pd['multi_scale_features.0']!, 'x.1': pd['multi_scale_features.1']!, 'x.2': pd['multi_scale_features.2']!, mask_features: pd['mask_features']!,
  }, ['pred_masks', 'mask_embed', 'logit_scale'], run));
}

/** Panoptic inference of `rgb` over `vocabulary`, each stage's sessions released before the next stage loads its own. */
export async function odisePanoptic(models: OdiseModels, rgb: RgbImage, vocabulary: Vocabulary, o: SegmentOptions = {}): Promise<OdiseImageResult> {
  const run: RunOptions = { signal: o.signal, priority: o.priority };
  const s = models.settings;
  const [h, w] = shortestEdgeSize(rgb.height, rgb.width, s.shortSide, s.maxSize);
  const resized = resizeBilinear({ data: rgb.data, width: rgb.width, height: rgb.height, channels: 3 }, w, h);
  const planes = new Float32Array(3 * h * w);
  for (let i = 0; i < h * w; i++) for (let c = 0; c < 3; c++) planes[c * h * w + i] = resized.data[i * 3 + c]!;
  const image: FloatTensor = { data: planes, dims: [3, h, w] };
  const padded = padBatch([image], s.sizeDivisibility, 255);
  const latent = Number(models.manifest.components['unet_odise']!.inputs.find((i) => i.name === 'sample')!.shape[2]);
  // The captioner's CLIP tower (~1.2 GB) runs on every window first and goes before the VAE and UNet load.
  const captions = await releasing(models, ['odise_captioner'], () =>
    captionWindows(padded, s.window, models.featureRunner(run), models.constants.emptyContext, () => checkAborted(o.signal)));
  const runner = windowRunner(models.featureRunner(run), s.window, models.constants.emptyContext, { data: odiseNoise(4, latent), dims: [1, 4, latent, latent] }, captions);
  const windows = slidingWindows(padded.dims[2]!, padded.dims[3]!, s.window).length;
  const dec = await maskHeads(models, await releasing(models, ODISE_FEATURE_COMPONENTS, () => slideFeatures(padded, s.window, runner, (done) => {
    checkAborted(o.signal); // between windows: a window's graphs run to the end
    o.onProgress?.(done, windows + 1, `window ${done}/${windows}`);
  })), run);
  const masks = dec['pred_masks']!;
  const clip = await releasing(models, ['mask_clip'], () => models.run('mask_clip', { images: padBatch([image], 1, 255), pred_masks: masks }, ['mask_embed'], run));
  const flat = vocabulary.flat();
  const [nameEmbeds, photoEmbeds] = await releasing(models, ['text_encoder'], async () => [await models.textEmbeds(flat, run), await models.textEmbeds(flat.map(PHOTO), run)]);
  checkAborted(o.signal);
  // Without the training labels in the bundle every class counts as new (β).
  const trained = s.trainingVocabulary;
  const { maskCls } = classifyQueries({
    vocabulary, inVocabulary: trained ? inTrainingVocabulary(vocabulary, trained) : vocabulary.map(() => false), nameEmbeds, photoEmbeds, categoryHead: models.constants.categoryHead,
    maskEmbed: dec['mask_embed']!, logitScale: dec['logit_scale']!.data[0]!, clipMaskEmbed: clip['mask_embed']!, clipLogitScale: s.clipLogitScale,
  }, ODISE_LABEL_SETTINGS);
  const [, Q, mh, mw] = masks.dims as [number, number, number, number];
  const result = await postprocessImage({ data: masks.data, dims: [Q, mh, mw] }, { data: maskCls.data, dims: [Q, vocabulary.length + 1] }, {
    padded: [padded.dims[2]!, padded.dims[3]!], image: [h, w], output: [rgb.height, rgb.width],
  }, { ...ODISE_LABEL_SETTINGS, isThing: o.isThing ?? vocabulary.map(() => true), panoptic: true });
  o.onProgress?.(windows + 1, windows + 1, 'classified');
  return result;
}

/** One segment per panoptic segment: its pixels of the id map, its score and class. */
export function panopticSegments(result: OdiseImageResult): OdiseSegment[] {
  const { height: H, width: W } = result;
  const { ids, segments } = result.panoptic!;
  return segments.map((seg) => {
    const mask = new Uint8Array(H * W);
    for (let i = 0; i < ids.length; i++) if (ids[i] === seg.id) mask[i] = 1;
    return { mask: encode(mask, H, W), score: seg.score, classIndex: seg.categoryId };
  });
}
