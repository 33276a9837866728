// Click-to-segment on the cached aggregated attention. Rule (docs/diffseg.md):
//   region(click) = the segment-everything segments (as labelled) whose proposal is within τ (the last iteration's
//                   threshold) of the click's proposal (clickProposal: the DiffSeg merge grown from the clicked 64×64
//                   cell), plus the cells where the click's proposal is ≥ the segment-everything winner, upsampled
//                   like the labels (click.ts clickRegion); if that is empty, the segment under the click;
//   mask          = ∪ region(+ clicks) − ∪ region(− clicks).
// So + on A, + on B, − on A gives B alone; a − click inside a + region removes the part the − click's own
// region covers. Regions are computed at the image size and cached per (image, model, params, cell).
import { area, emptyRle, subtract, unionAll, type Rle } from '../../../shared/masks';
import type { Annotation, ImageRow, ProjectStore } from '../../project';
import { clickProposal, clickRegion, prepareClicks, type ClickContext } from './click';
import { aggregatedAttention, cleanArea, cutOutRles, letterbox, mergeFor, squareLabels, pixelToCell, runParams, storedMask, type PipelineContext } from './pipeline';
import { resolveParams, type DiffSegParams } from './params';

export interface ClickPoint {
  /** Image pixels (as displayed). */
  x: number;
  y: number;
  positive: boolean;
}

export interface ClickResult {
  mask: Rle;
  area: number;
  /** The aggregated attention came from the cache (no model ran). */
  cached: boolean;
  ms: number;
}

async function regionOf(
  store: ProjectStore,
  image: ImageRow, agg: Float32Array, key: string, params: DiffSegParams, cell: { x: number; y: number }, ctx: PipelineContext,
): Promise<Rle> {
  const compute = async (): Promise<Rle> => {
    const merged = await mergeFor(agg, key, params, ctx.cache);
    const cc: ClickContext = ctx.cache
      ? await ctx.cache.derived(key, `clickctx|${JSON.stringify(params)}`, () => prepareClicks(agg, params, merged))
      : await prepareClicks(agg, params, merged);
    const q = await clickProposal(agg, cell, params, cc);
    const taus = resolveParams(params).taus;
    const box = letterbox(image.width, image.height);
    const sq = await squareLabels(store, image, merged.proposals, params, key, ctx);
    const { labels, side, guide } = sq;
    const region = await clickRegion({ proposal: q, proposals: merged.proposals, labels, tau: taus[taus.length - 1]!, cell, outH: side, outW: side, guide });
    return cutOutRles(region, side, box, 2, cleanArea(sq))[1] ?? emptyRle(image.height, image.width);
  };
  return ctx.cache ? ctx.cache.derived(key, `region|${JSON.stringify(params)}|${cell.x},${cell.y}`, compute) : compute();
}

/** The mask for a set of + / − clicks on one image (computes and caches the attention on the first click). */
export async function clickSegment(store: ProjectStore, image: ImageRow, points: ClickPoint[], params: DiffSegParams, ctx: PipelineContext): Promise<ClickResult> {
  const t0 = performance.now();
  if (!points.length) throw new RangeError('at least one click is needed');
  const { agg, key, cached } = await aggregatedAttention(store, image, ctx);
  const box = letterbox(image.width, image.height);
  const regions = async (pos: boolean) => {
    const list: Rle[] = [];
    for (const p of points.filter((q) => q.positive === pos)) list.push(await regionOf(store, image, agg, key, params, pixelToCell(box, p.x, p.y), ctx));
    return list;
  };
  const plus = await regions(true);
  const minus = await regions(false);
  let mask = plus.length ? unionAll(plus) : emptyRle(image.height, image.width);
  if (minus.length && plus.length) mask = subtract(mask, unionAll(minus));
  return { mask, area: area(mask), cached, ms: performance.now() - t0 };
}

/**
 * Accepts a click result: a run ('diffseg-click', model, params), the points as a prompt (kind 'points') of that
 * run, and the mask as an annotation (source 'diffseg-click', runId) added as ONE undoable edit.
 */
export async function acceptClickSegment(
  store: ProjectStore, image: ImageRow, points: ClickPoint[], categoryId: number | null, params: DiffSegParams, ctx: PipelineContext,
): Promise<Annotation> {
  const r = await clickSegment(store, image, points, params, ctx);
  if (r.area === 0) throw new RangeError('the clicks select no pixels: nothing to accept');
  const run = store.addRun({ pipeline: 'diffseg-click', modelBundle: ctx.models.name, params: runParams(params, ctx.models, 0), imageId: image.id });
  try {
    store.addPrompt({ imageId: image.id, kind: 'points', payload: { points, pipeline: 'diffseg' }, runId: run.id });
    const [a] = store.edit(image.id, 'click segment', [{ kind: 'add', input: { categoryId, source: 'diffseg-click', runId: run.id, ...storedMask(r.mask) } }]);
    store.finishRun(run.id, { status: 'done' });
    return a!;
  } catch (e) {
    store.finishRun(run.id, { status: 'failed', error: e instanceof Error ? e.message : String(e) });
    throw e;
  }
}
