// Mask2Former's per-query decisions after the pixels are counted (mask2former/maskformer_model.py:286-380): which
// queries may become panoptic segments, which of them do and under which id (stuff of one class merged), and which
// (query, class) pairs become instances. Plain arithmetic on Q·K values; the pixels are the graph's (postprocess.ts).
import { softmaxRows } from './classify';

export interface QueryClasses {
  /** softmax(mask_cls) [Q, K+1]. */
  probs: Float32Array;
  /** The best of the K + 1 probabilities of each query and its class (K = void; the first wins a tie). */
  scores: Float32Array;
  labels: Int32Array;
}

/** softmax(mask_cls).max(-1) of mask_cls [Q, K+1]. */
export function queryClasses(maskCls: Float32Array, numClasses: number): QueryClasses {
  const width = numClasses + 1;
  if (maskCls.length % width !== 0) throw new Error(`${maskCls.length} class logits are not a multiple of ${width}`);
  const probs = softmaxRows(maskCls, width);
  const Q = maskCls.length / width;
  const scores = new Float32Array(Q);
  const labels = new Int32Array(Q);
  for (let q = 0; q < Q; q++) {
    let best = 0;
    for (let c = 1; c < width; c++) if (probs[q * width + c]! > probs[q * width + best]!) best = c;
    scores[q] = probs[q * width + best]!;
    labels[q] = best;
  }
  return { probs, scores, labels };
}

/** The queries panoptic inference considers: not void and score > object_mask_threshold, in query order. */
export function keptQueries(c: QueryClasses, numClasses: number, objectMaskThreshold: number): number[] {
  const kept: number[] = [];
  for (let q = 0; q < c.labels.length; q++) if (c.labels[q] !== numClasses && c.scores[q]! > objectMaskThreshold) kept.push(q);
  return kept;
}

/** Pixel counts of every query at the output size (indexed by query). */
export interface QueryAreas {
  /** Pixels where the query has the highest score · sigmoid among the kept queries. */
  won: Float64Array;
  /** Pixels where its sigmoid ≥ 0.5. */
  own: Float64Array;
  /** Pixels of both. */
  both: Float64Array;
}

export interface SegmentDecision {
  id: number;
  categoryId: number;
  isThing: boolean;
  /** The class score of the query that made the segment (the first one, for merged stuff). */
  score: number;
}

/**
 * panoptic_inference's loop over the kept queries in order: a query whose three areas are all non-zero and whose
 * won / own area reaches `overlapThreshold` paints its pixels; a stuff class seen before paints them with its
 * earlier segment id, anything else gets the next id (from 1). Returns the segment id each query paints (0: none).
 */
export function panopticSegments(kept: readonly number[], c: QueryClasses, areas: QueryAreas, isThing: readonly boolean[], overlapThreshold: number): {
  segmentOfQuery: Int32Array;
  segments: SegmentDecision[];
} {
  const segmentOfQuery = new Int32Array(c.labels.length);
  const segments: SegmentDecision[] = [];
  const stuff = new Map<number, number>();
  for (const q of kept) {
    const label = c.labels[q]!;
    const won = areas.won[q]!, own = areas.own[q]!;
    if (!(won > 0 && own > 0 && areas.both[q]! > 0)) continue;
    if (won / own < overlapThreshold) continue;
    const thing = isThing[label] === true;
    const earlier = thing ? undefined : stuff.get(label);
    if (earlier !== undefined) {
      segmentOfQuery[q] = earlier;
      continue;
    }
    const id = segments.length + 1;
    if (!thing) stuff.set(label, id);
    segmentOfQuery[q] = id;
    segments.push({ id, categoryId: label, isThing: thing, score: c.scores[q]! });
  }
  return { segmentOfQuery, segments };
}

export interface InstanceCandidate {
  query: number;
  categoryId: number;
  /** softmax(mask_cls)[query, categoryId]. */
  classScore: number;
}

/**
 * instance_inference's choice (panoptic_on): the `topk` best (query, class) pairs of softmax(mask_cls)[:, :K]
 * (highest first; the lower flat index first among equals, where torch leaves the order open), thing classes only.
 * Fewer pairs than `topk` are all taken (torch's topk would refuse).
 */
export function instanceCandidates(c: QueryClasses, numClasses: number, topk: number, isThing: readonly boolean[]): InstanceCandidate[] {
  const width = numClasses + 1;
  const Q = c.labels.length;
  const order = Array.from({ length: Q * numClasses }, (_, i) => i);
  const score = (i: number) => c.probs[Math.floor(i / numClasses) * width + (i % numClasses)]!;
  order.sort((a, b) => score(b) - score(a) || a - b);
  return order
    .slice(0, topk)
    .map((i) => ({ query: Math.floor(i / numClasses), categoryId: i % numClasses, classScore: score(i) }))
    .filter((p) => isThing[p.categoryId] === true);
}
