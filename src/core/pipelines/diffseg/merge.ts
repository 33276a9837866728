// Iterative attention merging (DiffSeg step 2), as the reference's DiffSeg.mask_merge / generate_masks.
import { aggregatedSide } from './aggregate';
import { anchorMerge, pairwiseKL } from './kl';
import { anchorGrid, resolveParams, type DiffSegParams } from './params';
import { kmeansRefine } from './refine';

export interface MergeResult {
  /** Final proposals (after refine when asked), each an S² map (S = 64: a 4096 map), NaN-free. */
  proposals: Float32Array[];
  /**
   * Proposals after each iteration, float64 as the reference keeps them: stages[0] has one per anchor (M², NaN
   * where an anchor matched nothing), stages[i] the greedy merge of stages[i−1].
   */
  stages: Float64Array[][];
  /** Flat query indices of the anchors (row-major grid). */
  anchors: Int32Array;
  /** S, the side of the aggregated maps. */
  side: number;
  /** Thresholds used per iteration. */
  taus: number[];
  /** With { keepLog: true }: log of agg and Σ x log x per map, computed anyway by iteration 0 (prepareClicks reuses them). */
  logAgg?: Float32Array;
  ent?: Float32Array;
}

export interface MergeOptions {
  /** Also return log(agg) and the entropies (64 MiB more) so prepareClicks costs nothing extra. */
  keepLog?: boolean;
}

/**
 * One later iteration of the reference: walk the proposals in order; skip one already matched; otherwise its group
 * is EVERY proposal with D < τ to it (including ones matched earlier by another group — groups may overlap), all
 * of which are marked matched, and the group's mean is a new proposal. A proposal matching nothing (NaN maps)
 * is dropped. `kl` is the row-major k×k distance matrix.
 */
export function greedyMerge(props: Float64Array[], kl: Float64Array, tau: number): Float64Array[] {
  const k = props.length;
  if (kl.length !== k * k) throw new RangeError(`greedyMerge: ${kl.length} distances for ${k} proposals`);
  const d = k ? props[0]!.length : 0;
  const matched = new Uint8Array(k);
  const out: Float64Array[] = [];
  for (let i = 0; i < k; i++) {
    if (matched[i]) continue;
    matched[i] = 1;
    const group: number[] = [];
    for (let j = 0; j < k; j++) if (kl[i * k + j]! < tau) group.push(j);
    if (group.length === 0) continue;
    const mean = new Float64Array(d);
    for (const j of group) {
      matched[j] = 1;
      const p = props[j]!;
      for (let t = 0; t < d; t++) mean[t] += p[t]!;
    }
    for (let t = 0; t < d; t++) mean[t] /= group.length;
    out.push(mean);
  }
  return out;
}

/** Iteration 0 on the anchor grid, then the greedy iterations; everything the click path and tests need. */
export async function mergeDetailed(agg: Float32Array, params: Partial<DiffSegParams> = {}, opts: MergeOptions = {}): Promise<MergeResult> {
  const p = resolveParams(params);
  const S = aggregatedSide(agg);
  const n = S * S;
  const anchors = anchorGrid(p.grid, S);
  const r0 = await anchorMerge(agg, n, n, anchors, p.taus[0]!, opts.keepLog ?? false);
  let cur: Float64Array[] = [];
  for (let a = 0; a < anchors.length; a++) cur.push(Float64Array.from(r0.proposals.subarray(a * n, (a + 1) * n)));
  const stages: Float64Array[][] = [cur];
  for (let it = 1; it < p.iterations; it++) {
    const flat = new Float64Array(cur.length * n);
    cur.forEach((m, i) => flat.set(m, i * n));
    const kl = await pairwiseKL(flat, cur.length, n);
    cur = greedyMerge(cur, kl, p.taus[it]!);
    stages.push(cur);
  }
  let proposals: Float32Array[] = cur.filter((m) => !m.some((v) => Number.isNaN(v))).map((m) => Float32Array.from(m));
  if (p.refine && proposals.length > 0) proposals = await kmeansRefine(agg, proposals);
  const res: MergeResult = { proposals, stages, anchors, side: S, taus: p.taus };
  if (r0.log && r0.ent) {
    res.logAgg = r0.log;
    res.ent = r0.ent;
  }
  return res;
}

/** Iterative KL merging from the anchor grid (plus k-means refine when `refine`); returns the merged proposals, each an S² (4096) map. */
export async function mergeProposals(agg: Float32Array, params: Partial<DiffSegParams> = {}): Promise<Float32Array[]> {
  return (await mergeDetailed(agg, params)).proposals;
}
