// Click-to-segment on the cached aggregated attention. Rule (docs/diffseg.md):
//   region(click) = the segment-everything segments (as labelled) whose proposal is within τ (the last iteration's
//                   threshold) of the click's proposal (clickProposal: the DiffSeg merge grown from the clicked 64×64
//                   cell), plus the cells where the click's proposal is ≥ the segment-everything winner, upsampled
//                   like the labels (click.ts clickRegion); if that is empty, the segment under the click;
//   mask          = ∪ region(+ clicks) − ∪ region(− clicks).
// A box [x, y, w, h] with the clicks clips the mask to it; a box without + clicks stands for them: the segments (as
// labelled) whose pixels lie mostly (more than half) inside the box, then − clicks, all cut to the box.
// So + on A, + on B, − on A gives B alone; a − click inside a + region removes the part the − click's own
// region covers. Regions are computed at the image size and cached per (image, model, params, cell).
import type { ClickPoint } from '../../../shared/contract';
import { area, boxRle, emptyRle, intersect, subtract, unionAll, type Rle } from '../../../shared/masks';
import type { ImageRow, ProjectStore } from '../../project';
import { letterbox, pixelToCell } from '../common/frame';
import { cutOutRles } from '../common/masks';
import { imageInput } from '../run';
import type { ImageInput } from '../types';
import { clickProposal, clickRegion, fillCellTable, prepareClicks, regionTables, type ClickContext } from './click';
import { resolveParams, type DiffSegParams } from './params';
import { aggregatedAttention, cleanArea, mergeFor, squareLabels, type PipelineContext } from './pipeline';

export interface ClickResult {
  mask: Rle;
  area: number;
  /** The aggregated attention came from the cache (no model ran). */
  cached: boolean;
  ms: number;
}

async function regionOf(image: ImageInput, agg: Float32Array, key: string, params: DiffSegParams, cell: { x: number; y: number }, ctx: PipelineContext): Promise<Rle> {
  const compute = async (): Promise<Rle> => {
    const merged = await mergeFor(agg, key, params, ctx.cache);
    const cc: ClickContext = ctx.cache
      ? await ctx.cache.derived(key, `clickctx|${JSON.stringify(params)}`, () => prepareClicks(agg, params, merged))
      : await prepareClicks(agg, params, merged);
    // Speed only, for the image's next clicks: until the table is there (or if filling it fails) they compute their row.
    if (ctx.cache) fillCellTable(cc).catch(() => {});
    const q = await clickProposal(agg, cell, params, cc);
    const taus = resolveParams(params).taus;
    const sq = await squareLabels(image, merged.proposals, params, key, ctx);
    const { labels, side, guide } = sq;
    const tables = ctx.cache ? await ctx.cache.derived(key, `regiontables|${JSON.stringify(params)}`, async () => regionTables(merged.proposals)) : undefined;
    const region = await clickRegion({ proposal: q, proposals: merged.proposals, labels, tau: taus[taus.length - 1]!, cell, outH: side, outW: side, guide, tables });
    // The region is 0/1 already: cut it out as is (probabilityMapToRle would copy it through a threshold).
    return cutOutRles(region, side, letterbox(image.row.width, image.row.height), 2, cleanArea(sq))[1] ?? emptyRle(image.row.height, image.row.width);
  };
  return ctx.cache ? ctx.cache.derived(key, `region|${JSON.stringify(params)}|${cell.x},${cell.y}`, compute) : compute();
}

/** The segment-everything segments whose pixels lie more than half inside `box`, united (empty when none does). */
async function boxRegion(image: ImageInput, agg: Float32Array, key: string, params: DiffSegParams, box: Rle, ctx: PipelineContext): Promise<Rle> {
  const compute = async (): Promise<Array<Rle | null>> => {
    const merged = await mergeFor(agg, key, params, ctx.cache);
    const sq = await squareLabels(image, merged.proposals, params, key, ctx);
    return cutOutRles(sq.labels, sq.side, letterbox(image.row.width, image.row.height), merged.proposals.length, cleanArea(sq));
  };
  const segments = ctx.cache ? await ctx.cache.derived(key, `segments|${JSON.stringify(params)}`, compute) : await compute();
  const inside = segments.filter((s): s is Rle => s !== null && 2 * area(intersect(s, box)) > area(s));
  return inside.length ? unionAll(inside) : emptyRle(box.h, box.w);
}

/**
 * The mask for a set of + / − clicks on one image (computes and caches the attention on the first click), within the
 * box `within` [x, y, w, h] when one is given; a box alone gives the segments lying mostly inside it.
 */
export async function clickOn(
  image: ImageInput, points: readonly ClickPoint[], params: DiffSegParams, ctx: PipelineContext, within?: readonly [number, number, number, number],
): Promise<ClickResult> {
  const t0 = performance.now();
  if (!points.length && !within) throw new RangeError('at least one click or a box is needed');
  const { agg, key, cached } = await aggregatedAttention(image, ctx);
  const { width, height } = image.row;
  const box = letterbox(width, height);
  const regions = async (pos: boolean) => {
    const list: Rle[] = [];
    for (const p of points.filter((q) => q.positive === pos)) list.push(await regionOf(image, agg, key, params, pixelToCell(box, p.x, p.y), ctx));
    return list;
  };
  const plus = await regions(true);
  const minus = await regions(false);
  const frame = within && boxRle(within, height, width);
  if (frame && !plus.length) plus.push(await boxRegion(image, agg, key, params, frame, ctx));
  let mask = plus.length ? unionAll(plus) : emptyRle(height, width);
  if (minus.length && plus.length) mask = subtract(mask, unionAll(minus));
  if (frame) mask = intersect(mask, frame);
  return { mask, area: area(mask), cached, ms: performance.now() - t0 };
}

/** clickOn for an image of a project. */
export function clickSegment(store: ProjectStore, image: ImageRow, points: readonly ClickPoint[], params: DiffSegParams, ctx: PipelineContext): Promise<ClickResult> {
  return clickOn(imageInput(store, image), points, params, ctx);
}
