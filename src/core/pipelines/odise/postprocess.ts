// From one image's mask logits and mask_cls to Mask2Former's semantic, panoptic and instance results
// (ODISE odise.py:325-372, detectron2 v0.6 sem_seg_postprocess, mask2former/maskformer_model.py:280-380).
// The masks are resized as the reference resizes them (bilinear to the padded size, cropped to the image, bilinear to
// the output size) and everything per pixel runs in one ONNX graph over a band of output rows at a time, so a large
// photo never needs its [Q, H, W] masks at once; the per-query decisions are panoptic.ts'.
import * as ort from 'onnxruntime-node';
import { GraphBuilder, type Value } from '../../ml/graph';
import { shapeOf, sizeOf } from '../../ml/models/mask2former/sizes';
import { encode, type Rle } from '../../../shared/masks';
import { f32, i64, mathSession } from '../common/inference';
import type { FloatTensor } from './classify';
import { linearTaps, type LinearTaps } from './resample';
import { instanceCandidates, keptQueries, panopticSegments, queryClasses, type InstanceCandidate, type QueryAreas } from './panoptic';

/** [height, width]. */
export type Size2 = readonly [number, number];

export interface ImageSizes {
  /** The padded batch the masks are a map of (ImageList.from_tensors with the model's size divisibility). */
  padded: Size2;
  /** The image inside it, at the size the model saw (top left). */
  image: Size2;
  /** The size the results are wanted at (the request's height and width: the original image's). */
  output: Size2;
}

export interface PostprocessOptions {
  /** Per class of the vocabulary: a thing (instances, never merged) or stuff. */
  isThing: readonly boolean[];
  /** Queries need a class score above this to be considered for panoptic segments (ODISE: 0). */
  objectMaskThreshold: number;
  /** The share of a query's own mask it must win to become a segment (ODISE: 0.8; its demo: 0). */
  overlapThreshold: number;
  /** How many (query, class) pairs instance inference considers (test_topk_per_image; ODISE: 100). */
  testTopk: number;
  semantic?: boolean;
  /** With `semantic`, also the class scores per pixel (sem_seg, [K, H, W]). */
  semanticScores?: boolean;
  panoptic?: boolean;
  instances?: boolean;
  /** Also the resized mask logits (mask_pred after sem_seg_postprocess, [Q, H, W]). */
  maskLogits?: boolean;
  /** Output rows per graph run; by default as many as keep a [Q, rows, W] float tensor at 64 MB. */
  bandRows?: number;
}

export interface PanopticSegment {
  /** The value of its pixels in `ids`. */
  id: number;
  /** Index of its class in the vocabulary. */
  categoryId: number;
  isThing: boolean;
  /** The class score of the query that made it. */
  score: number;
  area: number;
  /** COCO [x, y, width, height] of its pixels. */
  bbox: [number, number, number, number];
}

export interface OdiseInstance {
  query: number;
  categoryId: number;
  /** Class score · mean sigmoid inside the mask. */
  score: number;
  /** mask logit > 0 at the output size. */
  mask: Rle;
}

export interface OdiseImageResult {
  height: number;
  width: number;
  /** Per pixel the class with the highest semantic score; `scores` [K, H, W] when asked for. */
  semantic?: { labels: Int32Array; scores?: Float32Array };
  /** Segment id per pixel (row-major, 0 = no segment) and the segments in id order. */
  panoptic?: { ids: Int32Array; segments: PanopticSegment[] };
  instances?: OdiseInstance[];
  maskLogits?: Float32Array;
}

/** 64 MB of float32. */
const BAND_VALUES = 1 << 24;
/** maskformer_model.py:377: added to the mask area in the instance mask score. */
const AREA_EPS = Math.fround(1e-6);
const f = Math.fround;

interface GraphParts {
  semantic: boolean;
  semanticScores: boolean;
  panoptic: boolean;
  instances: boolean;
  masks: boolean;
}

/**
 * One band of output rows. The taps (resample.ts) come as [2, n] index and weight pairs: `raw_rows` picks the mask
 * rows the band needs, `cols1`/`rows1` resize them to the padded size's columns below the image width and the
 * image rows needed, `cols2`/`rows2` to the output width and the band's rows (columns first, as torch).
 */
function buildBand(p: GraphParts): GraphBuilder {
  const g = new GraphBuilder('odise_postprocess');
  const taps = (name: string, axis: 1 | 2, n: string) => {
    const index = g.input(name, 'int64', [2, n]);
    const weight = g.input(`${name}_weight`, 'float32', axis === 1 ? [2, n, 1] : [2, n]);
    const pair = (v: Value) => g.split(v, [1, 1], 0).map((h) => g.squeeze(h, [0]));
    const [i0, i1] = pair(index) as [Value, Value];
    const [w0, w1] = pair(weight) as [Value, Value];
    return (x: Value) => g.add(g.mul(g.gather(x, i0, axis), w0), g.mul(g.gather(x, i1, axis), w1));
  };
  const logits = g.input('mask_logits', 'float32', ['queries', 'mask_height', 'mask_width']);
  const raw = g.gather(logits, g.input('raw_rows', 'int64', ['raw']), 1);
  const image = taps('rows1', 1, 'rows')(taps('cols1', 2, 'image_width')(raw));
  const masks = taps('rows2', 1, 'band')(taps('cols2', 2, 'width')(image)); // [Q, band, W]
  if (p.masks) g.output(masks, 'masks');
  const sig = g.sigmoid(masks);
  const count = (b: Value) => g.reduceSum(g.cast(b, 'float32'), [1, 2], false);
  if (p.semantic) {
    // einsum('qc,qhw->chw') with the class probabilities given as [K, Q].
    const probs = g.input('class_probs', 'float32', ['classes', 'queries']);
    const sem = g.reshape(g.matmul(probs, g.reshape(sig, [0, -1])), shapeOf(g, [sizeOf(g, probs, 0), sizeOf(g, sig, 1), sizeOf(g, sig, 2)]));
    if (p.semanticScores) g.output(sem, 'sem_seg');
    g.output(g.cast(g.argMax(sem, 0, false), 'int32'), 'sem_label');
  }
  if (p.panoptic) {
    // Queries not kept score −1, below any kept query's score · sigmoid (≥ 0), so the argmax is over the kept ones.
    const scores = g.input('pan_scores', 'float32', ['queries', 1, 1]);
    const keep = g.input('pan_keep', 'bool', ['queries', 1, 1]);
    const won = g.argMax(g.whereOp(keep, g.mul(sig, scores), -1), 0, true); // [1, band, W]
    const own = (x: Value) => g.op('GreaterOrEqual', [x, g.scalar(0.5)], {}, { outputs: [{ dtype: 'bool', shape: x.shape }] })[0]!;
    g.output(g.cast(g.squeeze(won, [0]), 'int32'), 'pan_query');
    g.output(g.squeeze(own(g.op('GatherElements', [sig, won], { axis: 0 }, { outputs: [{ dtype: 'float32', shape: won.shape }] })[0]!), [0]), 'pan_fg');
    g.output(count(own(sig)), 'own_area');
  }
  if (p.instances) {
    const queries = g.input('inst_queries', 'int64', ['instances']);
    const m = g.gather(masks, queries, 0);
    const inside = g.greater(m, 0);
    g.output(inside, 'inst_masks');
    g.output(count(inside), 'inst_area');
    g.output(g.reduceSum(g.mul(g.gather(sig, queries, 0), g.cast(inside, 'float32')), [1, 2], false), 'inst_sigmoid');
  }
  return g;
}

const sessionFor = (p: GraphParts) => mathSession(`odise-postprocess|${Object.values(p).map(Number).join('')}`, () => buildBand(p));

/** Taps [from, to) of `t`, indices less `offset`, as the graph's [2, n] index and weight inputs (weights [2, n, 1] for rows). */
function tapFeeds(name: string, t: LinearTaps, from: number, to: number, offset: number, rows: boolean): Record<string, ort.Tensor> {
  const n = to - from;
  const index = new Array<number>(2 * n);
  const weight = new Float32Array(2 * n);
  for (let k = 0; k < n; k++) {
    index[k] = t.index0[from + k]! - offset;
    index[n + k] = t.index1[from + k]! - offset;
    weight[k] = t.weight0[from + k]!;
    weight[n + k] = t.weight1[from + k]!;
  }
  return { [name]: i64(index, [2, n]), [`${name}_weight`]: f32(weight, rows ? [2, n, 1] : [2, n]) };
}

const range = (t: LinearTaps, from: number, to: number): [number, number] => [t.index0[from]!, t.index1[to - 1]!];

function checkSizes(s: ImageSizes, Q: number, h: number, w: number): void {
  const ok = (v: Size2) => v.every((d) => Number.isInteger(d) && d > 0);
  if (!ok(s.padded) || !ok(s.image) || !ok(s.output)) throw new RangeError(`image sizes must be positive integers: ${JSON.stringify(s)}`);
  if (s.image[0] > s.padded[0] || s.image[1] > s.padded[1]) throw new RangeError(`the image ${s.image.join('×')} does not fit in the padded ${s.padded.join('×')}`);
  if (!(Q > 0 && h > 0 && w > 0)) throw new RangeError(`no masks to post-process ([${Q}, ${h}, ${w}])`);
}

/**
 * Semantic, panoptic and instance inference for one image: `maskLogits` [Q, h, w] (the mask generator's, a map of
 * the padded batch), `maskCls` [Q, K+1] (log-probabilities with void last, classify.ts' withVoid).
 */
export async function postprocessImage(maskLogits: FloatTensor, maskCls: FloatTensor, sizes: ImageSizes, o: PostprocessOptions): Promise<OdiseImageResult> {
  const [Q, h, w] = maskLogits.dims as [number, number, number];
  if (maskLogits.dims.length !== 3 || maskLogits.data.length !== Q * h * w) throw new Error(`mask logits [${maskLogits.dims.join(',')}] are not [Q, h, w]`);
  checkSizes(sizes, Q, h, w);
  const positive = (v: number | undefined, what: string) => {
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new RangeError(`${what} must be a positive integer, not ${v}`);
  };
  positive(o.bandRows, 'band rows');
  positive(o.testTopk, 'test_topk_per_image');
  const K = o.isThing.length;
  if (maskCls.dims.length !== 2 || maskCls.dims[0] !== Q || maskCls.dims[1] !== K + 1)
    throw new Error(`mask_cls [${maskCls.dims.join(',')}] does not match ${Q} queries and ${K} classes (+ void)`);
  const [Hp, Wp] = sizes.padded;
  const [Hi, Wi] = sizes.image;
  const [H, W] = sizes.output;
  const classes = queryClasses(maskCls.data, K);
  const kept = keptQueries(classes, K, o.objectMaskThreshold);
  const candidates = o.instances ? instanceCandidates(classes, K, o.testTopk, o.isThing) : [];
  const instQueries = [...new Set(candidates.map((c) => c.query))];
  const parts: GraphParts = {
    semantic: o.semantic ?? false, semanticScores: (o.semantic ?? false) && (o.semanticScores ?? false),
    panoptic: (o.panoptic ?? false) && kept.length > 0, instances: instQueries.length > 0, masks: o.maskLogits ?? false,
  };
  const session = await sessionFor(parts);

  const rows1 = linearTaps(h, Hp, 0, Hi);
  const rows2 = linearTaps(Hi, H);
  const fixed: Record<string, ort.Tensor> = {
    mask_logits: f32(maskLogits.data, [Q, h, w]),
    ...tapFeeds('cols1', linearTaps(w, Wp, 0, Wi), 0, Wi, 0, false),
    ...tapFeeds('cols2', linearTaps(Wi, W), 0, W, 0, false),
  };
  if (parts.semantic) {
    const probs = new Float32Array(K * Q);
    for (let q = 0; q < Q; q++) for (let k = 0; k < K; k++) probs[k * Q + q] = classes.probs[q * (K + 1) + k]!;
    fixed['class_probs'] = f32(probs, [K, Q]);
  }
  if (parts.panoptic) {
    const keep = new Uint8Array(Q);
    for (const q of kept) keep[q] = 1;
    fixed['pan_scores'] = f32(classes.scores, [Q, 1, 1]);
    fixed['pan_keep'] = new ort.Tensor('bool', keep, [Q, 1, 1]);
  }
  if (parts.instances) fixed['inst_queries'] = i64(instQueries);

  const out = new Collector(parts, { Q, K, H, W, instances: instQueries.length });
  const band = Math.max(1, Math.min(H, o.bandRows ?? Math.floor(BAND_VALUES / (Q * W))));
  for (let y0 = 0; y0 < H; y0 += band) {
    const y1 = Math.min(H, y0 + band);
    const [a0, a1] = range(rows2, y0, y1); // image rows the band reads
    const [b0, b1] = range(rows1, a0, a1 + 1); // mask rows those read
    const r = await session.run({
      ...fixed,
      raw_rows: i64(Array.from({ length: b1 - b0 + 1 }, (_, i) => b0 + i)),
      ...tapFeeds('rows1', rows1, a0, a1 + 1, b0, true),
      ...tapFeeds('rows2', rows2, y0, y1, a0, true),
    });
    out.add(r, y0, y1);
  }
  return out.finish(classes, kept, candidates, instQueries, o);
}

/** Puts the bands together and counts what panoptic and instance inference need. */
class Collector {
  private readonly masks?: Float32Array;
  private readonly semScores?: Float32Array;
  private readonly semLabels?: Int32Array;
  /** The query whose pixel it is (won and sigmoid ≥ 0.5), −1 for none. */
  private readonly pixelQuery?: Int32Array;
  private readonly areas: QueryAreas;
  private readonly instMasks: Uint8Array[];
  private readonly instArea: Float64Array;
  private readonly instSigmoid: Float64Array;

  constructor(private readonly p: GraphParts, private readonly n: { Q: number; K: number; H: number; W: number; instances: number }) {
    const HW = n.H * n.W;
    if (p.masks) this.masks = new Float32Array(n.Q * HW);
    if (p.semanticScores) this.semScores = new Float32Array(n.K * HW);
    if (p.semantic) this.semLabels = new Int32Array(HW);
    if (p.panoptic) this.pixelQuery = new Int32Array(HW).fill(-1);
    this.areas = { won: new Float64Array(n.Q), own: new Float64Array(n.Q), both: new Float64Array(n.Q) };
    this.instMasks = Array.from({ length: n.instances }, () => new Uint8Array(HW));
    this.instArea = new Float64Array(n.instances);
    this.instSigmoid = new Float64Array(n.instances);
  }

  add(r: ort.InferenceSession.OnnxValueMapType, y0: number, y1: number): void {
    const { H, W } = this.n;
    const at = y0 * W;
    const size = (y1 - y0) * W;
    const planes = (dst: Float32Array, src: Float32Array, count: number) => {
      for (let c = 0; c < count; c++) dst.set(src.subarray(c * size, (c + 1) * size), c * H * W + at);
    };
    if (this.masks) planes(this.masks, r['masks']!.data as Float32Array, this.n.Q);
    if (this.semScores) planes(this.semScores, r['sem_seg']!.data as Float32Array, this.n.K);
    if (this.semLabels) this.semLabels.set(r['sem_label']!.data as Int32Array, at);
    if (this.pixelQuery) {
      const won = r['pan_query']!.data as Int32Array;
      const fg = r['pan_fg']!.data as Uint8Array;
      const own = r['own_area']!.data as Float32Array;
      for (let q = 0; q < own.length; q++) this.areas.own[q]! += own[q]!;
      for (let i = 0; i < size; i++) {
        const q = won[i]!;
        this.areas.won[q]!++;
        if (fg[i]) {
          this.areas.both[q]!++;
          this.pixelQuery[at + i] = q;
        }
      }
    }
    if (this.p.instances) {
      const m = r['inst_masks']!.data as Uint8Array;
      const area = r['inst_area']!.data as Float32Array;
      const sig = r['inst_sigmoid']!.data as Float32Array;
      for (let j = 0; j < this.instMasks.length; j++) {
        this.instMasks[j]!.set(m.subarray(j * size, (j + 1) * size), at);
        this.instArea[j]! += area[j]!;
        this.instSigmoid[j]! += sig[j]!;
      }
    }
  }

  finish(classes: ReturnType<typeof queryClasses>, kept: number[], candidates: InstanceCandidate[], instQueries: number[], o: PostprocessOptions): OdiseImageResult {
    const { H, W } = this.n;
    const result: OdiseImageResult = { height: H, width: W };
    if (this.masks) result.maskLogits = this.masks;
    if (this.semLabels) result.semantic = { labels: this.semLabels, ...(this.semScores ? { scores: this.semScores } : {}) };
    if (o.panoptic) {
      // No query kept: the reference returns an empty map without looking at the pixels.
      const decided = this.pixelQuery
        ? panopticSegments(kept, classes, this.areas, o.isThing, o.overlapThreshold)
        : { segmentOfQuery: new Int32Array(0), segments: [] };
      const ids = new Int32Array(H * W);
      if (this.pixelQuery) for (let i = 0; i < ids.length; i++) if (this.pixelQuery[i]! >= 0) ids[i] = decided.segmentOfQuery[this.pixelQuery[i]!]!;
      result.panoptic = { ids, segments: withExtent(ids, W, decided.segments) };
    }
    if (o.instances) {
      result.instances = candidates.map((c) => {
        const j = instQueries.indexOf(c.query);
        const maskScore = f(f(this.instSigmoid[j]!) / f(f(this.instArea[j]!) + AREA_EPS));
        return { query: c.query, categoryId: c.categoryId, score: f(c.classScore * maskScore), mask: encode(this.instMasks[j]!, H, W) };
      });
    }
    return result;
  }
}

/** The segments with the area and COCO bbox of their pixels in `ids` (one pass). */
function withExtent(ids: Int32Array, W: number, segments: readonly { id: number; categoryId: number; isThing: boolean; score: number }[]): PanopticSegment[] {
  const n = segments.length;
  const area = new Float64Array(n + 1);
  const x0 = new Int32Array(n + 1).fill(W), y0 = new Int32Array(n + 1).fill(ids.length), x1 = new Int32Array(n + 1).fill(-1), y1 = new Int32Array(n + 1).fill(-1);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i]!;
    if (!s) continue;
    const x = i % W, y = (i - x) / W;
    area[s]!++;
    if (x < x0[s]!) x0[s] = x;
    if (x > x1[s]!) x1[s] = x;
    if (y < y0[s]!) y0[s] = y;
    y1[s] = y; // rows come in order
  }
  return segments.map((s) => ({
    ...s,
    area: area[s.id]!,
    bbox: area[s.id] ? [x0[s.id]!, y0[s.id]!, x1[s.id]! - x0[s.id]! + 1, y1[s.id]! - y0[s.id]! + 1] : [0, 0, 0, 0],
  }));
}
