// ODISE's inference around its graphs (CategoryODISE.forward, eval: odise/modeling/meta_arch/odise.py:222-372): the
// image batches, the settings of the released configs, and the classification of the mask generator's queries from
// its mask embeddings and MaskCLIP's (models/maskClip.ts). postprocess.ts turns the result into segments.
import {
  geometricEnsemble, linear, maskClassifierLogits, synonymLogits, withVoid, type EnsembleWeights, type FloatTensor, type Vocabulary,
} from './classify';

export interface OdiseSettings extends EnsembleWeights {
  objectMaskThreshold: number;
  overlapThreshold: number;
  testTopk: number;
}

/**
 * The label model (configs/common/models/odise_with_label.py:31-32, mask_generator_with_label.py:91-103): the CLIP
 * head weighs 0.3 for classes seen in training and 0.7 for new ones.
 */
export const ODISE_LABEL_SETTINGS: Readonly<OdiseSettings> = { alpha: 0.3, beta: 0.7, objectMaskThreshold: 0, overlapThreshold: 0.8, testTopk: 100 };
/** The caption model (odise_with_caption.py:31-32, = PoolingCLIPHead's defaults). */
export const ODISE_CAPTION_SETTINGS: Readonly<OdiseSettings> = { ...ODISE_LABEL_SETTINGS, alpha: 0.35, beta: 0.65 };
/** What demo/demo.py:316-318 sets on either model: the caption weights and no overlap test. */
export const ODISE_DEMO_SETTINGS: Readonly<OdiseSettings> = { ...ODISE_CAPTION_SETTINGS, overlapThreshold: 0 };

export interface PaddedBatch extends FloatTensor {
  /** [height, width] of each image inside the batch. */
  sizes: [number, number][];
}

/**
 * ImageList.from_tensors: images [C, H, W] divided by `divisor` (ODISE: pixel mean 0, std 255) at the top left of a
 * zero batch [B, C, H', W'], H' and W' the largest sizes rounded up to `divisibility` (the backbone's input: 64 in
 * ODISE; the CLIP head's: 1, no rounding).
 */
export function padBatch(images: readonly FloatTensor[], divisibility: number, divisor: number): PaddedBatch {
  if (!images.length) throw new Error('no images to batch');
  if (!(Number.isInteger(divisibility) && divisibility > 0)) throw new RangeError(`size divisibility ${divisibility} is not a positive integer`);
  const C = images[0]!.dims[0]!;
  const sizes = images.map((im, i): [number, number] => {
    const [c, h, w] = im.dims as [number, number, number];
    if (im.dims.length !== 3 || c !== C || im.data.length !== c * h * w) throw new Error(`image ${i} is [${im.dims.join(',')}], expected [${C}, H, W]`);
    return [h, w];
  });
  const up = (n: number) => Math.ceil(n / divisibility) * divisibility;
  const H = up(Math.max(...sizes.map((s) => s[0]))), W = up(Math.max(...sizes.map((s) => s[1])));
  const data = new Float32Array(images.length * C * H * W);
  const d = Math.fround(divisor);
  images.forEach((im, b) => {
    const [h, w] = sizes[b]!;
    for (let c = 0; c < C; c++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) data[((b * C + c) * H + y) * W + x] = Math.fround(im.data[(c * h + y) * w + x]! / d);
  });
  return { data, dims: [images.length, C, H, W], sizes };
}

/** What ODISE's checkpoint holds for classification: category_head.{text_proj.weight, text_proj.bias, null_embed}. */
export interface CategoryHead {
  textProjWeight: FloatTensor;
  textProjBias: FloatTensor;
  /** [1, D] in CLIP's text space (the embedding of "" at initialisation, then learned). */
  nullEmbed: FloatTensor;
}

export interface ClassifyInputs {
  vocabulary: Vocabulary;
  /** Per class: one of its synonyms is in the model's training vocabulary (classify.ts' inTrainingVocabulary). */
  inVocabulary: readonly boolean[];
  /** CLIP text embeddings [N, D] of every synonym as it is (CategoryEmbed: no prompt), in vocabulary order. */
  nameEmbeds: FloatTensor;
  /** CLIP text embeddings [N, D] of "a photo of a {synonym}." (PoolingCLIPHead). */
  photoEmbeds: FloatTensor;
  categoryHead: CategoryHead;
  /** The mask generator's mask embeddings [B, Q, P] and logit scale (PooledMaskEmbed). */
  maskEmbed: FloatTensor;
  logitScale: number;
  /** MaskCLIP's mask embeddings [B, Q, D] and logit scale (classify.ts' clipLogitScale of the CLIP model's). */
  clipMaskEmbed: FloatTensor;
  clipLogitScale: number;
}

export interface ClassifyResult {
  /** The mask classifier's K + 1 logits [B, Q, K+1] (pred_logits after cal_pred_logits). */
  classifier: FloatTensor;
  /** MaskCLIP's logits [B, Q, K] (mask_pred_open_logits). */
  clip: FloatTensor;
  /** The geometric ensemble [B, Q, K]. */
  ensembled: FloatTensor;
  /** Log-probabilities [B, Q, K+1] with void last: what semantic, panoptic and instance inference read. */
  maskCls: FloatTensor;
}

/** The classification of every query (odise.py:283-323), for the label model's heads. */
export function classifyQueries(x: ClassifyInputs, weights: EnsembleWeights): ClassifyResult {
  const { textProjWeight: w, textProjBias: b } = x.categoryHead;
  const text = linear(x.nameEmbeds, w, b);
  const nul = linear(x.categoryHead.nullEmbed, w, b);
  const classifier = maskClassifierLogits(x.maskEmbed, text, nul, x.logitScale, x.vocabulary);
  const K = x.vocabulary.length;
  if (x.inVocabulary.length !== K) throw new Error(`${x.inVocabulary.length} in-vocabulary flags for ${K} classes`);
  const named = dropLast(classifier);
  const clip = synonymLogits(x.clipMaskEmbed, x.photoEmbeds, x.clipLogitScale, x.vocabulary);
  if (clip.data.length !== named.data.length) throw new Error(`MaskCLIP embedded [${x.clipMaskEmbed.dims.join(',')}] masks, the mask generator [${x.maskEmbed.dims.join(',')}]`);
  const ensembled = geometricEnsemble(named, clip, x.inVocabulary, weights);
  return { classifier, clip, ensembled, maskCls: withVoid(ensembled, classifier) };
}

/** logits[..., :-1]. */
export function dropLast(t: FloatTensor): FloatTensor {
  const width = t.dims.at(-1)!;
  const rows = t.data.length / width;
  const out = new Float32Array(rows * (width - 1));
  for (let r = 0; r < rows; r++) out.set(t.data.subarray(r * width, r * width + width - 1), r * (width - 1));
  return { data: out, dims: [...t.dims.slice(0, -1), width - 1] };
}
