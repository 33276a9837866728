// Click proposals: the DiffSeg merge grown from a clicked cell instead of the anchor grid, plus + / − composition.
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../ml/graph';
import { aggregatedSide } from './aggregate';
import { symmetricKL } from './kl';
import { cellWinners, upsampleMask, type LabelOptions } from './labels';
import type { MergeResult } from './merge';
import { f32, i64, mathSession } from '../common/inference';
import { resolveParams, squareSide, type DiffSegParams } from './params';

/** Per-image state that makes a click cost milliseconds: log of every map, their entropies, the merge stages. */
export interface ClickContext {
  readonly agg: Float32Array;
  readonly side: number;
  /** log of agg (S²×S²) and Σ x log x per map (S²). */
  readonly logAgg: Float32Array;
  readonly ent: Float32Array;
  /** Segment-everything proposals after each iteration (MergeResult.stages), for the later iterations; may be empty. */
  readonly stages: Float64Array[][];
  /** Per stage: log of each proposal and its Σ p log p (so a click's later iterations are dot products only). */
  readonly stageLogs: Float64Array[][];
  readonly stageEnt: Float64Array[];
  readonly taus: number[];
}

function buildPrepare(n: number, d: number): GraphBuilder {
  const g = new GraphBuilder('diffseg_click_prepare');
  const x = g.input('maps', 'float32', [n, d]);
  const lx = g.log(x);
  g.output(lx, 'log');
  g.output(g.reduceSum(g.mul(x, lx), [1], false), 'ent');
  return g;
}

function buildClick(n: number, d: number): GraphBuilder {
  const g = new GraphBuilder('diffseg_click');
  const x = g.input('maps', 'float32', [n, d]);
  const lx = g.input('log', 'float32', [n, d]);
  const ent = g.input('ent', 'float32', [n]);
  const q = g.input('query', 'int64', [1]);
  const tau = g.input('tau', 'float32', []);
  const a = g.gather(x, q, 0); // [1, d]
  const la = g.gather(lx, q, 0);
  const c1 = g.op('Gemm', [a, lx], { transB: 1 }, { outputs: [{ dtype: 'float32', shape: [1, n] }] })[0]!;
  const c2 = g.op('Gemm', [la, x], { transB: 1 }, { outputs: [{ dtype: 'float32', shape: [1, n] }] })[0]!;
  const kl = g.mul(g.sub(g.add(g.unsqueeze(g.gather(ent, q, 0), [1]), g.unsqueeze(ent, [0])), g.add(c1, c2)), 0.5);
  const bin = g.cast(g.less(kl, tau), 'float32');
  const count = g.reduceSum(bin, [1], true);
  g.output(g.reshape(g.div(g.matmul(bin, x), count), [d]), 'proposal');
  g.output(g.reshape(kl, [n]), 'kl');
  return g;
}

/**
 * Precompute what clicks need for one image (≈ 64 MiB more for S = 64). `merged` (from mergeDetailed with the same
 * params) supplies the segment-everything stages used by the later iterations; without it a click stops at
 * iteration 0 (the mean of the maps within τ of the clicked map).
 */
export async function prepareClicks(
  agg: Float32Array, params: Partial<DiffSegParams> = {}, merged?: Pick<MergeResult, 'stages' | 'logAgg' | 'ent'>,
): Promise<ClickContext> {
  const p = resolveParams(params);
  const S = aggregatedSide(agg);
  const n = S * S;
  let logAgg = merged?.logAgg, ent = merged?.ent;
  if (!logAgg || !ent) {
    const s = await mathSession(`clickprep|${n}`, () => buildPrepare(n, n));
    const out = await s.run({ maps: f32(agg, [n, n]) });
    logAgg = out['log']!.data as Float32Array;
    ent = out['ent']!.data as Float32Array;
  }
  const stages = merged?.stages ?? [];
  const stageLogs = stages.map((st) => st.map((m) => m.map(Math.log)));
  const stageEnt = stages.map((st, i) => Float64Array.from(st, (m, k) => dot(m, stageLogs[i]![k]!)));
  return { agg, side: S, logAgg, ent, stages, stageLogs, stageEnt, taus: p.taus };
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function cellIndex(cell: { x: number; y: number }, S: number): number {
  if (!Number.isFinite(cell.x) || !Number.isFinite(cell.y)) throw new RangeError(`click: bad cell (${cell.x}, ${cell.y})`);
  const x = Math.min(S - 1, Math.max(0, Math.round(cell.x)));
  const y = Math.min(S - 1, Math.max(0, Math.round(cell.y)));
  return y * S + x;
}

/**
 * Click proposal: the clicked S×S cell (nearest, clamped) is an anchor. Iteration 0: the mean of all maps within τ₀
 * (strict) of its map, exactly the reference's anchor rule. Iterations i ≥ 1: the clicked proposal is walked FIRST
 * through the reference's greedy step against the segment-everything proposals of iteration i−1 (ctx.stages): its
 * group is itself plus every proposal within τᵢ, and the group's mean is the new proposal — what the reference
 * would produce had the click been the first anchor (the first anchor's group is never pre-empted). If the clicked
 * map matches nothing (it holds an exact zero → NaN distances) the raw map of the cell is returned.
 * Pass a ClickContext (prepareClicks) for millisecond latency; without one it is built (slow: a full log pass).
 */
export async function clickProposal(
  agg: Float32Array, cell: { x: number; y: number }, params: Partial<DiffSegParams> = {}, ctx?: ClickContext,
): Promise<Float32Array> {
  const p = resolveParams(params);
  const c = ctx && ctx.agg === agg ? ctx : await prepareClicks(agg, params);
  const S = c.side;
  const n = S * S;
  const q = cellIndex(cell, S);
  const s = await mathSession(`click|${n}`, () => buildClick(n, n));
  const out = await s.run({
    maps: f32(agg, [n, n]), log: f32(c.logAgg, [n, n]), ent: f32(c.ent, [n]), query: i64([q]),
    tau: new ort.Tensor('float32', Float32Array.of(p.taus[0]!), []),
  });
  const p0 = out['proposal']!.data as Float32Array;
  if (p0.some((v) => Number.isNaN(v))) return agg.slice(q * n, (q + 1) * n);
  let cur = Float64Array.from(p0);
  for (let it = 1; it < p.iterations && it - 1 < c.stages.length; it++) {
    const others = c.stages[it - 1]!, logs = c.stageLogs[it - 1]!, ents = c.stageEnt[it - 1]!;
    const tau = p.taus[it]!;
    const logCur = cur.map(Math.log);
    const entCur = dot(cur, logCur);
    const group: Float64Array[] = [cur];
    // D = 0.5·(Σp log p + Σo log o − p·log o − o·log p), float64 as the reference's later iterations.
    others.forEach((o, k) => {
      if (0.5 * (entCur + ents[k]! - dot(cur, logs[k]!) - dot(o, logCur)) < tau) group.push(o);
    });
    const mean = new Float64Array(n);
    for (const m of group) for (let t = 0; t < n; t++) mean[t] += m[t]!;
    for (let t = 0; t < n; t++) mean[t] /= group.length;
    cur = mean;
  }
  return Float32Array.from(cur);
}

export interface ClickRegionOptions {
  /** The click's proposal (clickProposal). */
  proposal: Float32Array;
  /** Segment-everything proposals (mergeProposals) … */
  proposals: Float32Array[];
  /** … and their label map at outH×outW (proposalsToLabels, with the same guide). */
  labels: Int32Array;
  /** The clicked cell of the S×S grid. */
  cell: { x: number; y: number };
  /** Proposals within τ of the click's are the same region (the last iteration's τ; default 1.1). */
  tau?: number;
  outH: number;
  outW: number;
  /** Image-guided outlines, as the labels were made. */
  guide?: LabelOptions['guide'];
}

/**
 * The region one click selects (row-major 0/1, outH×outW): the segment-everything segments whose proposal is within
 * τ of the click's (the same region, exactly as the labels draw them), plus the cells where the click's proposal is
 * ≥ the segment-everything winner, upsampled like the labels (upsampleMask); if that is empty, the segment under the
 * click. Clicks compose as ∪ region(+) − ∪ region(−) (interactive.ts).
 */
export async function clickRegion(o: ClickRegionOptions): Promise<Uint8Array> {
  const tau = o.tau ?? 1.1;
  const px = o.outH * o.outW;
  if (o.labels.length !== px) throw new RangeError(`clickRegion: ${o.labels.length} labels for ${o.outW}×${o.outH}`);
  const same = Uint8Array.from(o.proposals, (m) => (symmetricKL(o.proposal, m) < tau ? 1 : 0));
  const win = cellWinners(o.proposals);
  const n = o.proposal.length;
  const cells = new Float32Array(n);
  for (let i = 0; i < n; i++) if (!same[win.label[i]!] && o.proposal[i]! >= win.max[i]!) cells[i] = 1;
  const region = cells.includes(1) ? await upsampleMask(cells, o.outH, o.outW, { guide: o.guide }) : new Uint8Array(px);
  for (let i = 0; i < px; i++) if (same[o.labels[i]!]) region[i] = 1;
  if (region.includes(1)) return region;
  // The segment under the click: the label at the clicked cell's centre.
  const S = squareSide(n, 'proposal');
  const c = cellIndex(o.cell, S), x = c % S, y = (c - x) / S;
  const l = o.labels[Math.floor(((y + 0.5) * o.outH) / S) * o.outW + Math.floor(((x + 0.5) * o.outW) / S)]!;
  for (let i = 0; i < px; i++) region[i] = o.labels[i] === l ? 1 : 0;
  return region;
}
