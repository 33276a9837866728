// ODISE's open-vocabulary classification of the mask generator's queries (label model, inference;
// odise/modeling/meta_arch/odise.py:181-207, 283-323, 1298-1307, 1469-1536; helper.py:79-109). A vocabulary is a
// list of classes, each a list of synonyms; text embeddings come one per synonym, in that flattened order.
//   1. The mask classifier: logit_scale · cos(mask embedding, text_proj(CLIP text of the raw synonym)), the best
//      synonym per class, plus the same against the learned null embedding: K + 1 logits, the last one "void".
//   2. The CLIP head: 100 · cos(MaskCLIP embedding, CLIP text of "a photo of a {synonym}."), the best synonym.
//   3. Geometric ensemble of the two class distributions, with α for classes seen in training and β for new ones.
//   4. The void probability of 1. put back: log([softmax(3.) · (1 − void), void] + 1e-8), Mask2Former's mask_cls.
// Per-query arithmetic on a few hundred values: TypeScript in float32 steps, as torch computes it.

/** Row-major float32 values and their dims. */
export interface FloatTensor {
  data: Float32Array;
  dims: readonly number[];
}

/** A vocabulary: one entry per class, its synonyms. */
export type Vocabulary = readonly (readonly string[])[];

const f = Math.fround;

/** F.normalize's floor on the norm. */
const NORM_EPS = 1e-12;
/** odise.py:322: added before the log of the merged probabilities. */
const LOG_EPS = 1e-8;
/** MaskCLIP's logit scale: clamp(exp(logit_scale), max=100) (clip.py:247-250). */
const MAX_CLIP_LOGIT_SCALE = 100;

/** The number of synonyms of every class; refuses an empty class or vocabulary (the logits would have no column). */
export function synonymCounts(vocabulary: Vocabulary): number[] {
  if (!vocabulary.length) throw new Error('the vocabulary has no classes');
  return vocabulary.map((names, k) => {
    if (!names.length) throw new Error(`class ${k} of the vocabulary has no names`);
    return names.length;
  });
}

/**
 * Whether each class is "in vocabulary" (PoolingCLIPHead.forward, odise.py:1479-1491): one of its synonyms is among
 * the synonyms the model was trained on (ODISE's label model: the COCO panoptic classes, prompt-engineered).
 */
export function inTrainingVocabulary(vocabulary: Vocabulary, trained: Vocabulary): boolean[] {
  const seen = new Set(trained.flat());
  return vocabulary.map((names) => names.some((n) => seen.has(n)));
}

/** MaskCLIP's logit scale from the CLIP model's `logit_scale` parameter. */
export const clipLogitScale = (param: number): number => Math.min(f(Math.exp(f(param))), MAX_CLIP_LOGIT_SCALE);

/** torch Linear: x [n, in] @ weightᵀ [in, out] + bias (CategoryEmbed's text_proj). */
export function linear(x: FloatTensor, weight: FloatTensor, bias: FloatTensor): FloatTensor {
  const [n, inp] = dims2(x, 'linear input');
  const [out, wIn] = dims2(weight, 'linear weight');
  if (wIn !== inp) throw new Error(`linear: weight [${weight.dims.join(',')}] does not take ${inp} inputs`);
  if (bias.data.length !== out) throw new Error(`linear: ${bias.data.length} biases for ${out} outputs`);
  const y = new Float32Array(n * out);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let j = 0; j < inp; j++) s += x.data[i * inp + j]! * weight.data[o * inp + j]!;
      y[i * out + o] = s + bias.data[o]!;
    }
  }
  return { data: y, dims: [n, out] };
}

/**
 * logit_scale · cos(every row of `embeds` [..., C], every row of `texts` [N, C]), then the best synonym of each class
 * (ensemble_logits_with_labels, "max"): [..., K].
 */
export function synonymLogits(embeds: FloatTensor, texts: FloatTensor, logitScale: number, vocabulary: Vocabulary): FloatTensor {
  const counts = synonymCounts(vocabulary);
  const C = embeds.dims.at(-1)!;
  const [N, tc] = dims2(texts, 'text embeddings');
  if (tc !== C) throw new Error(`text embeddings are ${tc}-dimensional, the mask embeddings ${C}-dimensional`);
  const total = counts.reduce((a, b) => a + b, 0);
  if (N !== total) throw new Error(`${N} text embeddings for the vocabulary's ${total} names`);
  const rows = embeds.data.length / C;
  const m = normalizeRows(embeds.data, C);
  const t = normalizeRows(texts.data, C);
  const scale = f(logitScale);
  const K = counts.length;
  const out = new Float32Array(rows * K);
  for (let r = 0; r < rows; r++) {
    let n = 0;
    for (let k = 0; k < K; k++) {
      let best = -Infinity;
      for (let s = 0; s < counts[k]!; s++, n++) best = Math.max(best, f(scale * dot(m, r, t, n, C)));
      out[r * K + k] = best;
    }
  }
  return { data: out, dims: [...embeds.dims.slice(0, -1), K] };
}

/**
 * The mask classifier's K + 1 logits (cal_pred_logits): the synonym logits against the projected text embeddings,
 * then logit_scale · cos(mask embedding, projected null embedding) as the last, void, class.
 */
export function maskClassifierLogits(maskEmbed: FloatTensor, textEmbed: FloatTensor, nullEmbed: FloatTensor, logitScale: number, vocabulary: Vocabulary): FloatTensor {
  const C = maskEmbed.dims.at(-1)!;
  if (nullEmbed.data.length !== C) throw new Error(`the null embedding has ${nullEmbed.data.length} values, the mask embeddings ${C}`);
  const named = synonymLogits(maskEmbed, textEmbed, logitScale, vocabulary);
  const K = vocabulary.length;
  const rows = named.data.length / K;
  const m = normalizeRows(maskEmbed.data, C);
  const v = normalizeRows(nullEmbed.data, C);
  const scale = f(logitScale);
  const out = new Float32Array(rows * (K + 1));
  for (let r = 0; r < rows; r++) {
    out.set(named.data.subarray(r * K, (r + 1) * K), r * (K + 1));
    out[r * (K + 1) + K] = f(scale * dot(m, r, v, 0, C));
  }
  return { data: out, dims: [...named.dims.slice(0, -1), K + 1] };
}

/** The α/β weights of the CLIP head's distribution (PoolingCLIPHead's alpha and beta). */
export interface EnsembleWeights {
  /** For classes in the training vocabulary. */
  alpha: number;
  /** For the others. */
  beta: number;
}

/**
 * The geometric ensemble (normalize_logits=True, odise.py:1506-1523): per class, log(p^(1−w) · q^w) with
 * p = softmax(classifier logits), q = softmax(CLIP logits) over the K classes and w = α for classes in the
 * training vocabulary, β for the others. The reference sums both branches, each multiplied by 0 or 1; that gives
 * NaN (−∞ · 0) for a class whose probability underflows to 0, where this gives −∞ (no chance). Otherwise equal.
 */
export function geometricEnsemble(classifier: FloatTensor, clip: FloatTensor, inVocabulary: readonly boolean[], w: EnsembleWeights): FloatTensor {
  const K = inVocabulary.length;
  if (classifier.dims.at(-1) !== K || clip.dims.at(-1) !== K) throw new Error(`ensemble: ${classifier.dims.at(-1)} and ${clip.dims.at(-1)} classes for ${K} in the vocabulary`);
  if (classifier.data.length !== clip.data.length) throw new Error('ensemble: the classifier and CLIP logits have different shapes');
  const p = softmaxRows(classifier.data, K);
  const q = softmaxRows(clip.data, K);
  const out = new Float32Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const a = inVocabulary[i % K] ? w.alpha : w.beta;
    out[i] = f(Math.log(f(f(p[i]! ** f(1 - a)) * f(q[i]! ** a))));
  }
  return { data: out, dims: classifier.dims };
}

/**
 * Mask2Former's mask_cls with the void class put back (odise.py:304-323): softmax of the ensembled logits [..., K]
 * times 1 − void, and void itself, where void = softmax(classifier logits [..., K+1])[K]; log(· + 1e-8).
 */
export function withVoid(ensembled: FloatTensor, classifier: FloatTensor): FloatTensor {
  const K = ensembled.dims.at(-1)!;
  if (classifier.dims.at(-1) !== K + 1 || classifier.data.length / (K + 1) !== ensembled.data.length / K)
    throw new Error(`void: classifier logits [${classifier.dims.join(',')}] do not go with ensembled logits [${ensembled.dims.join(',')}]`);
  const probs = softmaxRows(ensembled.data, K);
  const full = softmaxRows(classifier.data, K + 1);
  const rows = probs.length / K;
  const out = new Float32Array(rows * (K + 1));
  for (let r = 0; r < rows; r++) {
    const v = full[r * (K + 1) + K]!;
    const keep = f(1 - v);
    for (let k = 0; k < K; k++) out[r * (K + 1) + k] = f(Math.log(f(f(probs[r * K + k]! * keep) + LOG_EPS)));
    out[r * (K + 1) + K] = f(Math.log(f(v + LOG_EPS)));
  }
  return { data: out, dims: [...ensembled.dims.slice(0, -1), K + 1] };
}

/** Softmax over each row of `width` values, in float32 steps (max subtracted first, as torch). */
export function softmaxRows(x: Float32Array, width: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length; r += width) {
    let m = -Infinity;
    for (let i = 0; i < width; i++) m = Math.max(m, x[r + i]!);
    let s = 0;
    for (let i = 0; i < width; i++) s += out[r + i] = f(Math.exp(f(x[r + i]! - m)));
    for (let i = 0; i < width; i++) out[r + i] = f(out[r + i]! / s);
  }
  return out;
}

/** Each row of `width` divided by max(its L2 norm, 1e-12) (F.normalize). */
function normalizeRows(x: Float32Array, width: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length; r += width) {
    let s = 0;
    for (let i = 0; i < width; i++) s += x[r + i]! * x[r + i]!;
    const n = Math.max(Math.sqrt(s), NORM_EPS);
    for (let i = 0; i < width; i++) out[r + i] = x[r + i]! / n;
  }
  return out;
}

function dot(a: Float32Array, i: number, b: Float32Array, j: number, n: number): number {
  let s = 0;
  for (let c = 0; c < n; c++) s += a[i * n + c]! * b[j * n + c]!;
  return s;
}

function dims2(t: FloatTensor, what: string): [number, number] {
  if (t.dims.length !== 2 || t.data.length !== t.dims[0]! * t.dims[1]!) throw new Error(`${what}: [${t.dims.join(',')}] is not a matrix of ${t.data.length} values`);
  return [t.dims[0]!, t.dims[1]!];
}
