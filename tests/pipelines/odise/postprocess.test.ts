// Mask2Former's inference after classification as ODISE runs it: torch's bilinear taps, the panoptic rules (void
// and score threshold, the overlap test, stuff merged, things never), the instances' top-k, a hand-made scene whose
// panoptic map, segments (area, bbox) and instance masks are known, and band-by-band runs that equal one run.
import { afterAll, describe, expect, it } from 'vitest';
import { decode } from '../../../src/shared/masks';
import type { FloatTensor } from '../../../src/core/pipelines/odise/classify';
import { releaseMathSessions } from '../../../src/core/pipelines/common/inference';
import { instanceCandidates, keptQueries, panopticSegments, queryClasses } from '../../../src/core/pipelines/odise/panoptic';
import { postprocessImage, type PostprocessOptions } from '../../../src/core/pipelines/odise/postprocess';
import { linearTaps } from '../../../src/core/pipelines/odise/resample';
import { SafetensorsFile } from '../../../src/core/ml/weights';
import { golden } from '../../ml/weights.helpers';

afterAll(() => releaseMathSessions());

/** mask_cls rows whose softmax puts `p` on `label` and spreads the rest evenly (K classes + void). */
function maskCls(rows: [label: number, p: number][], K: number): FloatTensor {
  const data = new Float32Array(rows.length * (K + 1));
  rows.forEach(([label, p], q) => {
    for (let c = 0; c <= K; c++) data[q * (K + 1) + c] = Math.log(c === label ? p : (1 - p) / K);
  });
  return { data, dims: [rows.length, K + 1] };
}

const LABEL: Omit<PostprocessOptions, 'isThing'> = { objectMaskThreshold: 0, overlapThreshold: 0.8, testTopk: 100 };

describe('torch bilinear taps', () => {
  it('upsamples with half-pixel centres clamped at the borders, as F.interpolate(align_corners=False)', () => {
    const t = linearTaps(2, 4);
    expect(Array.from(t.index0)).toEqual([0, 0, 0, 1]);
    expect(Array.from(t.index1)).toEqual([1, 1, 1, 1]);
    expect(Array.from(t.weight1)).toEqual([0, 0.25, 0.75, 0.25]);
    expect(Array.from(t.weight0)).toEqual([1, 0.75, 0.25, 0.75]);
  });

  it('downsamples with two taps (no antialiasing), copies at equal sizes, and gives any range of outputs', () => {
    const d = linearTaps(5, 2);
    expect([...d.index0, ...d.index1]).toEqual([0, 3, 1, 4]);
    expect(Array.from(d.weight1)).toEqual([0.75, 0.25]);
    const same = linearTaps(3, 3);
    expect([...same.index0, ...same.index1, ...same.weight0, ...same.weight1]).toEqual([0, 1, 2, 0, 1, 2, 1, 1, 1, 0, 0, 0]);
    const part = linearTaps(60, 90, 30, 33);
    const whole = linearTaps(60, 90);
    expect(Array.from(part.weight1)).toEqual(Array.from(whole.weight1.subarray(30, 33)));
    expect(() => linearTaps(0, 4)).toThrow('cannot resize 0 positions to 4');
    expect(() => linearTaps(4, 4, 2, 5)).toThrow('positions [2, 5) are not within 0..4');
  });
});

describe('panoptic and instance decisions', () => {
  // Queries: 0 thing 0, 1 stuff 1, 2 void, 3 stuff 1 again, 4 thing 0 again, 5 stuff 2 that wins too little of its mask.
  const K = 3;
  const isThing = [true, false, false];
  const c = queryClasses(maskCls([[0, 0.9], [1, 0.8], [3, 0.95], [1, 0.7], [0, 0.6], [2, 0.9]], K).data, K);
  const areas = (won: number[], own: number[], both: number[]) => ({ won: Float64Array.from(won), own: Float64Array.from(own), both: Float64Array.from(both) });

  it('considers queries that are not void and score above the threshold, in query order', () => {
    expect(Array.from(c.labels)).toEqual([0, 1, 3, 1, 0, 2]);
    expect(keptQueries(c, K, 0)).toEqual([0, 1, 3, 4, 5]);
    expect(keptQueries(c, K, 0.75)).toEqual([0, 1, 5]);
  });

  it('merges stuff of one class into its first segment, never things, and skips queries that win too little of their mask', () => {
    const r = panopticSegments([0, 1, 3, 4, 5], c, areas([10, 20, 0, 5, 8, 7], [10, 20, 0, 5, 8, 10], [10, 20, 0, 5, 8, 7]), isThing, 0.8);
    expect(Array.from(r.segmentOfQuery)).toEqual([1, 2, 0, 2, 3, 0]);
    expect(r.segments.map((s) => [s.id, s.categoryId, s.isThing])).toEqual([[1, 0, true], [2, 1, false], [3, 0, true]]);
    expect(r.segments[1]!.score).toBeCloseTo(0.8, 6); // the first query's score, not the merged one's
    // With the demo's threshold 0, query 5's 70 % is enough; a query with no pixel of its own is still skipped.
    const demo = panopticSegments([0, 1, 3, 4, 5], c, areas([10, 20, 0, 5, 0, 7], [10, 20, 0, 5, 8, 10], [10, 20, 0, 5, 0, 7]), isThing, 0);
    expect(Array.from(demo.segmentOfQuery)).toEqual([1, 2, 0, 2, 0, 3]);
  });

  it('takes the top-k (query, class) pairs, highest first, and keeps thing classes', () => {
    const pairs = instanceCandidates(c, K, 3, isThing);
    expect(pairs.map((p) => [p.query, p.categoryId])).toEqual([[0, 0]]); // top 3: (0,0) .9, (5,2) .9, (1,1) .8
    const all = instanceCandidates(c, K, 100, isThing);
    expect(all).toHaveLength(6); // every query's class 0, fewer pairs than k
    expect(all[0]).toMatchObject({ query: 0, categoryId: 0 });
    expect(all[0]!.classScore).toBeCloseTo(0.9, 6);
    expect(all[1]).toMatchObject({ query: 4, categoryId: 0 });
  });
});

describe('postprocessImage', () => {
  // An 8×8 scene at the output size: a thing square top left (query 0), stuff on the right half (query 1) and bottom
  // left (query 2, same stuff class: merged), a second thing (query 3) inside query 0's square but scoring less, and
  // a void query (4) covering everything.
  const S = 8;
  const rect = (y0: number, y1: number, x0: number, x1: number) => (y: number, x: number) => y >= y0 && y < y1 && x >= x0 && x < x1;
  const shapes = [rect(0, 4, 0, 4), rect(0, 8, 4, 8), rect(4, 8, 0, 4), rect(1, 3, 1, 3), rect(0, 8, 0, 8)];
  const logits: FloatTensor = { data: new Float32Array(shapes.length * S * S), dims: [shapes.length, S, S] };
  shapes.forEach((inside, q) => {
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) logits.data[(q * S + y) * S + x] = inside(y, x) ? 6 : -6;
  });
  const cls = maskCls([[0, 0.9], [1, 0.8], [1, 0.85], [0, 0.5], [2, 0.99]], 2);
  const sizes = { padded: [S, S], image: [S, S], output: [S, S] } as const;
  const options: PostprocessOptions = { ...LABEL, isThing: [true, false], semantic: true, panoptic: true, instances: true };

  it('paints the known panoptic map, with each segment\'s area and bbox, and the instances\' masks', async () => {
    const r = await postprocessImage(logits, cls, sizes, options);
    const ids = Array.from({ length: S * S }, (_, i) => (shapes[0]!(Math.floor(i / S), i % S) ? 1 : 2));
    expect(Array.from(r.panoptic!.ids)).toEqual(ids);
    expect(r.panoptic!.segments.map(({ score: _, ...s }) => s)).toEqual([
      { id: 1, categoryId: 0, isThing: true, area: 16, bbox: [0, 0, 4, 4] },
      { id: 2, categoryId: 1, isThing: false, area: 48, bbox: [0, 0, 8, 8] },
    ]);
    // Semantic: the class with the most probability · sigmoid; instances: thing-class pairs, masks where logit > 0.
    expect(r.semantic!.labels[0]).toBe(0);
    expect(r.semantic!.labels[S * S - 1]).toBe(1);
    expect(r.semantic!.scores).toBeUndefined();
    const things = r.instances!.filter((x) => x.query === 0 || x.query === 3);
    expect(things.map((x) => [x.query, x.categoryId])).toEqual([[0, 0], [3, 0]]);
    expect(Array.from(decode(things[1]!.mask))).toEqual(Array.from({ length: S * S }, (_, i) => (shapes[3]!(Math.floor(i / S), i % S) ? 1 : 0)));
    // Mean sigmoid inside the mask is sigmoid(6).
    expect(things[0]!.score).toBeCloseTo(0.9 / (1 + Math.exp(-6)), 5);
  });

  it('gives an empty map when every query is void or below the threshold, as the reference returns early', async () => {
    const r = await postprocessImage(logits, cls, sizes, { ...options, objectMaskThreshold: 0.995 });
    expect(r.panoptic!.segments).toEqual([]);
    expect(r.panoptic!.ids.every((v) => v === 0)).toBe(true);
  });

  it('refuses mask_cls of another query or class count, an image larger than its padded batch, and bad band rows or top-k', async () => {
    await expect(postprocessImage(logits, maskCls([[0, 0.9]], 2), sizes, options)).rejects.toThrow('mask_cls [1,3] does not match 5 queries and 2 classes (+ void)');
    await expect(postprocessImage(logits, cls, { ...sizes, image: [S + 1, S] }, options)).rejects.toThrow('the image 9×8 does not fit in the padded 8×8');
    await expect(postprocessImage(logits, cls, { ...sizes, output: [0, S] }, options)).rejects.toThrow('image sizes must be positive integers');
    await expect(postprocessImage(logits, cls, sizes, { ...options, bandRows: 2.5 })).rejects.toThrow('band rows must be a positive integer, not 2.5');
    await expect(postprocessImage(logits, cls, sizes, { ...options, testTopk: 0 })).rejects.toThrow('test_topk_per_image must be a positive integer, not 0');
  });

  it('gives the same results band by band as in one run (golden image 0: 16×24 masks → 64×96 → 60×90 → 90×135)', async () => {
    const dir = golden('odise_inference_O');
    const inp = SafetensorsFile.open(`${dir}/inputs.safetensors`);
    const out = SafetensorsFile.open(`${dir}/outputs_label_cfg.safetensors`);
    const masks: FloatTensor = { data: inp.readFloat32('head.pred_masks').subarray(0, 10 * 16 * 24), dims: [10, 16, 24] };
    const mc: FloatTensor = { data: out.readFloat32('img0.mask_cls_final'), dims: [10, 7] };
    const o: PostprocessOptions = { ...LABEL, isThing: [true, true, true, false, false, false], semantic: true, semanticScores: true, panoptic: true, instances: true, maskLogits: true };
    const gsizes = { padded: [64, 96], image: [60, 90], output: [90, 135] } as const;
    const whole = await postprocessImage(masks, mc, gsizes, o);
    const banded = await postprocessImage(masks, mc, gsizes, { ...o, bandRows: 7 });
    expect(whole.panoptic!.segments).toHaveLength(3);
    // Instance scores sum each band's sigmoids in float32 first: equal to float32 rounding.
    const scores = (r: typeof whole) => r.instances!.map((x) => x.score);
    scores(banded).forEach((s, i) => expect(Math.abs(s - scores(whole)[i]!)).toBeLessThanOrEqual(1e-6 * scores(whole)[i]!));
    const withoutScores = (r: typeof whole) => ({ ...r, instances: r.instances!.map(({ score: _, ...x }) => x) });
    expect(withoutScores(banded)).toEqual(withoutScores(whole));
  });
});
