// ODISE's classification of the mask generator's queries on hand-made numbers: the best synonym per class, the void
// class from the null embedding, the geometric ensemble's α for trained classes and β for new ones (and −∞, not
// NaN, when a probability underflows), the void probability put back, and which classes count as trained.
import { describe, expect, it } from 'vitest';
import {
  clipLogitScale, geometricEnsemble, inTrainingVocabulary, linear, maskClassifierLogits, softmaxRows, synonymLogits, synonymCounts, withVoid,
  type FloatTensor,
} from '../../../src/core/pipelines/odise/classify';
import { classifyQueries, dropLast, ODISE_CAPTION_SETTINGS, ODISE_DEMO_SETTINGS, ODISE_LABEL_SETTINGS, padBatch } from '../../../src/core/pipelines/odise/inference';

const t = (dims: number[], values: number[]): FloatTensor => ({ data: Float32Array.from(values), dims });
const close = (got: ArrayLike<number>, want: number[], digits = 5) => want.forEach((w, i) => expect(got[i], `entry ${i}`).toBeCloseTo(w, digits));

describe('synonym logits', () => {
  it('scales the cosine by the logit scale and keeps each class\'s best synonym', () => {
    // One query along x; class 0's synonyms at 90° and 45°, class 1's at 180°. Lengths do not matter.
    const r = synonymLogits(t([1, 1, 2], [3, 0]), t([3, 2], [0, 2, 5, 5, -1, 0]), 10, [['a', 'b'], ['c']]);
    expect(r.dims).toEqual([1, 1, 2]);
    close(r.data, [10 * Math.SQRT1_2, -10]);
  });

  it('puts the null embedding\'s logit last, as the void class', () => {
    const r = maskClassifierLogits(t([2, 2], [1, 0, 0, 1]), t([2, 2], [1, 0, 0, 1]), t([1, 2], [1, 1]), 2, [['x'], ['y']]);
    expect(r.dims).toEqual([2, 3]);
    close(r.data, [2, 0, Math.SQRT2, 0, 2, Math.SQRT2]);
  });

  it('refuses text embeddings that do not match the vocabulary, and empty classes', () => {
    expect(() => synonymLogits(t([1, 2], [1, 0]), t([2, 2], [1, 0, 0, 1]), 1, [['a', 'b'], ['c']])).toThrow("2 text embeddings for the vocabulary's 3 names");
    expect(() => synonymLogits(t([1, 2], [1, 0]), t([1, 3], [1, 0, 0]), 1, [['a']])).toThrow('text embeddings are 3-dimensional, the mask embeddings 2-dimensional');
    expect(() => synonymCounts([['a'], []])).toThrow('class 1 of the vocabulary has no names');
    expect(() => synonymCounts([])).toThrow('the vocabulary has no classes');
  });
});

describe('geometric ensemble and void', () => {
  const p = [0.7, 0.2, 0.1];
  const q = [0.1, 0.3, 0.6];
  const logits = (v: number[]) => t([1, 3], v.map(Math.log));

  it('weighs the CLIP distribution by α for classes seen in training and by β for new ones', () => {
    const r = geometricEnsemble(logits(p), logits(q), [true, false, true], ODISE_LABEL_SETTINGS);
    const want = (k: number, w: number) => Math.log(p[k]! ** (1 - w) * q[k]! ** w);
    close(r.data, [want(0, 0.3), want(1, 0.7), want(2, 0.3)]);
  });

  it('gives −∞, not NaN, to a class whose probability underflows to 0', () => {
    // softmax(0, −200) underflows to exactly 0 in float32: the reference's sum of both branches is −∞ · 0 = NaN there.
    const r = geometricEnsemble(t([1, 2], [0, -200]), t([1, 2], [0, 0]), [true, false], ODISE_LABEL_SETTINGS);
    expect(r.data[0]).toBeCloseTo(0.3 * Math.log(0.5), 5); // p = 1, q = 0.5, α = 0.3
    expect(r.data[1]).toBe(-Infinity);
    const cls = withVoid(r, t([1, 3], [0, -200, -50]));
    expect(Array.from(cls.data).every((v) => !Number.isNaN(v))).toBe(true);
    expect(cls.data[1]).toBeCloseTo(Math.log(1e-8), 4);
  });

  it('puts the classifier\'s void probability back: mask_cls = log([softmax(ensemble)·(1 − void), void] + 1e-8)', () => {
    const ens = t([1, 2], [1, 0]);
    const classifier = t([1, 3], [0.5, 0.1, 1.2]);
    const v = softmaxRows(classifier.data, 3)[2]!;
    const e = softmaxRows(ens.data, 2);
    const r = withVoid(ens, classifier);
    close(r.data, [Math.log(e[0]! * (1 - v) + 1e-8), Math.log(e[1]! * (1 - v) + 1e-8), Math.log(v + 1e-8)]);
    expect(Array.from(r.data).reduce((s, x) => s + Math.exp(x), 0)).toBeCloseTo(1, 6);
  });

  it('keeps the released configurations\' weights and thresholds', () => {
    expect(ODISE_LABEL_SETTINGS).toEqual({ alpha: 0.3, beta: 0.7, objectMaskThreshold: 0, overlapThreshold: 0.8, testTopk: 100 });
    expect(ODISE_CAPTION_SETTINGS).toMatchObject({ alpha: 0.35, beta: 0.65, overlapThreshold: 0.8 });
    expect(ODISE_DEMO_SETTINGS).toMatchObject({ alpha: 0.35, beta: 0.65, overlapThreshold: 0 });
  });
});

describe('vocabulary and inputs', () => {
  it('counts a class as trained when one of its synonyms is a trained synonym, spelled exactly', () => {
    const trained = [['person', 'child', 'man'], ['car', 'cars'], ['grass']];
    expect(inTrainingVocabulary([['kid', 'child'], ['lion'], ['Grass'], ['cars']], trained)).toEqual([true, false, false, true]);
  });

  it('applies text_proj as torch\'s Linear and MaskCLIP\'s scale as clamp(exp(s), max=100)', () => {
    const y = linear(t([1, 2], [1, 2]), t([3, 2], [1, 0, 0, 1, 1, 1]), t([3], [0.5, 0, -1]));
    expect(Array.from(y.data)).toEqual([1.5, 2, 2]);
    expect(clipLogitScale(Math.log(100))).toBe(100);
    expect(clipLogitScale(Math.log(50))).toBeCloseTo(50, 4);
    expect(clipLogitScale(10)).toBe(100);
  });

  it('pads a batch as ImageList.from_tensors: divided by 255, top left, zeros, sizes rounded up to the divisibility', () => {
    const a = t([1, 2, 3], [255, 0, 51, 102, 153, 204]);
    const b = t([1, 1, 1], [255]);
    const r = padBatch([a, b], 4, 255);
    expect(r.dims).toEqual([2, 1, 4, 4]);
    expect(r.sizes).toEqual([[2, 3], [1, 1]]);
    close(r.data, [1, 0, 0.2, 0, 0.4, 0.6, 0.8, 0, ...Array(8).fill(0), 1, ...Array(15).fill(0)], 6);
    expect(padBatch([a, b], 1, 255).dims).toEqual([2, 1, 2, 3]);
    expect(() => padBatch([a, t([2, 1, 1], [1, 2])], 1, 255)).toThrow('image 1 is [2,1,1], expected [1, H, W]');
  });

  it('classifies every query from both heads, checking that they saw the same masks', () => {
    const x = {
      vocabulary: [['a'], ['b']], inVocabulary: [true, false],
      nameEmbeds: t([2, 2], [1, 0, 0, 1]), photoEmbeds: t([2, 2], [1, 0, 0, 1]),
      categoryHead: { textProjWeight: t([2, 2], [1, 0, 0, 1]), textProjBias: t([2], [0, 0]), nullEmbed: t([1, 2], [-1, -1]) },
      maskEmbed: t([1, 2, 2], [1, 0.1, 0.1, 1]), logitScale: 10, clipMaskEmbed: t([1, 2, 2], [1, 0.2, 0.3, 1]), clipLogitScale: 100,
    };
    const r = classifyQueries(x, ODISE_LABEL_SETTINGS);
    expect(r.maskCls.dims).toEqual([1, 2, 3]);
    expect(dropLast(r.classifier).dims).toEqual([1, 2, 2]);
    // Query 0 is "a", query 1 "b", by both heads; the null embedding points away from both.
    expect(r.maskCls.data[0]).toBeGreaterThan(r.maskCls.data[1]!);
    expect(r.maskCls.data[4]).toBeGreaterThan(r.maskCls.data[3]!);
    expect(() => classifyQueries({ ...x, clipMaskEmbed: t([1, 1, 2], [1, 0]) }, ODISE_LABEL_SETTINGS)).toThrow('MaskCLIP embedded [1,1,2] masks, the mask generator [1,2,2]');
    expect(() => classifyQueries({ ...x, inVocabulary: [true] }, ODISE_LABEL_SETTINGS)).toThrow('1 in-vocabulary flags for 2 classes');
  });
});
