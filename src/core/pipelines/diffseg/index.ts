/**
 * DiffSeg post-processing (google/diffseg, diffseg/segmentor.py is the ground truth): attention aggregation,
 * iterative KL merging, labels, click proposals. Every heavy step runs in small in-memory ONNX Runtime graphs
 * (sessions cached per shape in ./onnx; `releaseMathSessions()` frees them).
 *
 *   const agg = await aggregateAttention(new Map([[64, a64], [32, a32], [16, a16], [8, a8]])); // 4096×4096, 64 MiB
 *   const merged = await mergeDetailed(agg, { tau: 1.1 }, { keepLog: true }); // or mergeProposals(agg) → Float32Array[]
 *   const labels = await proposalsToLabels(merged.proposals, 512, 512); // Int32Array of proposal indices
 *   // (with { guide: { rgb } } the outlines follow the image's colour edges: guided.ts, not in the reference)
 *   const ctx = await prepareClicks(agg, { tau: 1.1 }, merged);    // once per image (reuses keepLog's log/entropies)
 *   const cell = { x: 20, y: 31 };
 *   const p = await clickProposal(agg, cell, { tau: 1.1 }, ctx);
 *   const mask = await clickRegion({ proposal: p, proposals: merged.proposals, labels, cell, outH: 512, outW: 512 }); // 0/1
 *
 * Layout: an "S² map" is a row-major S×S key map (S = 64 for SD at 512²). The aggregated tensor is S²×S²,
 * query-major: row q = y·S + x is the key map of query (y, x). Functions are generic over S and the resolution
 * set (S = the largest side given to aggregateAttention; grid anchors are derived from S − 1 as the reference's 63).
 *
 * Reference conventions reproduced:
 * - Aggregation: each resolution's map, keys upsampled bilinearly to S×S with TF's resize (half-pixel centres,
 *   clamped edges = ONNX Resize linear/half_pixel; run as two MatMuls with those weights, resample.ts), renormalised to sum 1 per query AFTER upsampling, query dims
 *   repeated (nearest), weighted by side / Σ sides (64:32:16:8 / 120 = DESIGN.md's 8:4:2:1 / 15: no disagreement).
 *   Head/layer averaging is the caller's (the UNet graph). The reference's aggregate_weights ends up accumulating in
 *   float32 (tf tensors), as we do; our summation order differs (coarse sides summed first) by float rounding only.
 * - Grid: step (S−1)//(M−1), start ((S−1) − step·(M−1))//2 → rows/cols 1, 5, …, 61; anchors row-major, first
 *   coordinate = query row (the reference's attns[grid[:,0], grid[:,1]]). Order matters for the greedy merge.
 * - D(x,y) = 0.5·KL(x‖y) + 0.5·KL(y‖x), no epsilon in the logs (as the reference): a map with an exact 0 has NaN
 *   distances and merges with nothing, not even itself.
 * - Iteration 0: every anchor → mean of ALL S² maps with D < τ₀ (strict; D = τ exactly is not merged); all M²
 *   proposals kept, duplicates included. An anchor matching nothing gives a NaN proposal (as the reference, 0/0).
 * - Iterations i ≥ 1 (greedyMerge): in order, skip a proposal already matched; else its group is every proposal with
 *   D < τᵢ, matched-before ones included (groups overlap), all marked matched; the group mean is kept. A proposal
 *   matching nothing (NaN) is dropped. τ may be a list (one per iteration; its length sets `iterations` if unset).
 * - Labels: proposals upsampled ×(out/S) bilinearly (half-pixel) and argmax per pixel (first index on ties, as
 *   tf.argmax / ONNX ArgMax). Labels are proposal indices (some may win no pixel; the caller compacts if it wants).
 *   Our addition, off unless a guide is given (the app's `guided` parameter, on by default): each cell's winner, as
 *   one-hot maps, goes through an image-guided filter (guided.ts), so outlines snap to colour edges, not 8-px cells.
 * - Refine (`refine: true`): Lloyd k-means over the S² maps initialised with the merged proposals, one run; the
 *   result is the mean map of each non-empty cluster (see refine.ts for where it can differ from sklearn).
 *
 * Where our results can differ from the reference at the τ threshold:
 * - Iteration 0: the reference casts both maps to float16 and computes D in float16: its inputs are rounded to 11
 *   significant bits, values < 2⁻²⁵ ≈ 3e-8 become 0 (→ NaN distances → no merge), the logs and products carry
 *   ~5e-4 relative error (D off by ~1e-3 absolute), and the comparison is against float16(τ) (1.1 → 1.0996094, so in
 *   effect D < 1.0991 after rounding D to float16). We compute in float32 (D error ~1e-5) against τ as given. So a
 *   pair with |D − τ| ≲ 2e-3, or a map with entries below 3e-8, may be decided differently; we do NOT emulate the
 *   float16 noise (it is not the method, and TF's GPU reduction order cannot be reproduced anyway).
 * - Later iterations: the reference uses float64, as we do (D via GEMM, differences ~1e-13: only exact-τ ties).
 * - The proposal means of iteration 0 are float32 here (float64 in the reference): ~1e-7 relative.
 * - iterations = 1: the reference crashes (attns_merged[:,0]); we return the iteration-0 proposals. NaN proposals
 *   (anchors that matched nothing) are dropped from the final list in every case.
 *
 * Cost (2 shared cores, see `npm run bench -- diffseg`): iteration 0 is three 256×4096×4096 GEMMs plus a log of the
 * whole tensor, which dominates; aggregation is ~3 full passes over 64 MiB. Memory peaks at a few × 64 MiB.
 *
 * Clicks: see click.ts. The clicked cell acts as an anchor put first in the greedy order at every iteration, against
 * the segment-everything proposals of the previous iteration (MergeResult.stages). clickRegion: the labelled
 * segments whose proposal is within τ of the click's, plus the cells where the click's proposal is ≥ the cell's
 * segment-everything winner, upsampled like the labels. Clicks compose as ∪ region(+) − ∪ region(−).
 */
export { DEFAULT_DIFFSEG_PARAMS, anchorGrid, resolveParams, type DiffSegParams } from './params';
export { aggregateAttention, aggregatedSide, resolutionWeights, type AggregateOptions, type AttentionByResolution } from './aggregate';
export { anchorMerge, pairwiseKL, symmetricKL, type AnchorMergeResult } from './kl';
export { greedyMerge, mergeDetailed, mergeProposals, type MergeOptions, type MergeResult } from './merge';
export { cellWinners, proposalsToLabels, upsampleMask, type LabelGuide, type LabelOptions } from './labels';
export { DEFAULT_GUIDE, type GuideOptions } from './guided';
export { kmeansRefine, type KMeansOptions } from './refine';
export { clickProposal, clickRegion, prepareClicks, type ClickContext, type ClickRegionOptions } from './click';
export { releaseMathSessions } from '../common/inference';
export { bilinearMatrix } from './resample';
