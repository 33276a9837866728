// Clicks from the per-image tables (cell table, region tables) give the same bits as clicks computed alone: random
// cells on a synthetic 32×32 attention (a Voronoi scene, as the benchmark's), and clickOn against the previous path.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rleEquals } from '../../../src/shared/masks';
import {
  clickProposal, clickRegion, fillCellTable, mergeDetailed, prepareClicks, proposalsToLabels, regionTables, releaseMathSessions,
  symmetricKL, symmetricKLOfLogs, type ClickContext, type MergeResult,
} from '../../../src/core/pipelines/diffseg';
import { DiffSegCache, attentionCacheKey } from '../../../src/core/pipelines/diffseg/cache';
import { clickOn } from '../../../src/core/pipelines/diffseg/interactive';
import type { DiffSegModels } from '../../../src/core/pipelines/diffseg/models';
import { PREPROCESSING, cleanArea, mergeFor, squareLabels, stableParams } from '../../../src/core/pipelines/diffseg/pipeline';
import { letterbox, pixelToCell } from '../../../src/core/pipelines/common/frame';
import { probabilityMapToRle } from '../../../src/core/pipelines/common/masks';
import type { ImageInput } from '../../../src/core/pipelines/types';
import { rng } from '../../helpers/random';

const S = 32, n = S * S;
const params = stableParams({ grid: 8 });

/** Row-stochastic attention of a Voronoi scene of 6 colours: softmax(−|Δcolour|²/0.02 − 2|Δpos|²/n + noise). */
function voronoiAttention(seed: number): { agg: Float32Array; colour: (x: number, y: number) => number[] } {
  const R = rng(seed);
  const seeds = Array.from({ length: 6 }, () => ({ x: R() * S, y: R() * S, c: [R(), R(), R()] }));
  const colour = (x: number, y: number) => seeds.reduce((a, b) => ((a.x - x) ** 2 + (a.y - y) ** 2 <= (b.x - x) ** 2 + (b.y - y) ** 2 ? a : b)).c;
  const col = Array.from({ length: n }, (_, q) => colour(q % S, Math.floor(q / S)).map((v) => v + (R() - 0.5) * 0.05));
  const agg = new Float32Array(n * n), row = new Float64Array(n);
  for (let q = 0; q < n; q++) {
    let z = 0;
    for (let k = 0; k < n; k++) {
      const dc = col[q]!.reduce((s, v, i) => s + (v - col[k]![i]!) ** 2, 0);
      const dp = (q % S - (k % S)) ** 2 + (Math.floor(q / S) - Math.floor(k / S)) ** 2;
      row[k] = Math.exp(-dc / 0.02 - (dp / n) * 2 + (R() - 0.5) * 0.5);
      z += row[k]!;
    }
    for (let k = 0; k < n; k++) agg[q * n + k] = row[k]! / z;
  }
  return { agg, colour };
}

const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

let scene: ReturnType<typeof voronoiAttention>;
let merged: MergeResult;
let alone: ClickContext;
let tabled: ClickContext;

beforeAll(async () => {
  scene = voronoiAttention(3);
  merged = await mergeDetailed(scene.agg, params, { keepLog: true });
  alone = await prepareClicks(scene.agg, params, merged);
  tabled = await prepareClicks(scene.agg, params, merged);
  await fillCellTable(tabled);
}, 60_000);
afterAll(releaseMathSessions);

describe('click tables', () => {
  it('the cell table matches every cell (some only within its margin of τ, which compute their own row)', () => {
    expect(tabled.table).toBeDefined();
    expect(alone.table).toBeUndefined();
    const { member, unsure } = tabled.table!;
    expect(member.length).toBe(n * n);
    const sure = unsure.filter((u) => u === 0).length;
    expect(sure).toBeGreaterThan(n / 2); // the table serves most clicks
    // A cell's own map is within τ of itself unless it holds a zero.
    for (let q = 0; q < n; q++) if (!unsure[q]) expect(member[q * n + q]).toBe(1);
  });

  it('a click proposal from the cell table is the same bits as one computed alone (random cells and every unsure one)', async () => {
    const R = rng(7);
    const cells = Array.from({ length: 120 }, () => Math.floor(R() * n));
    tabled.table!.unsure.forEach((u, q) => u && cells.push(q));
    let fromTable = 0;
    for (const q of cells) {
      const cell = { x: q % S, y: Math.floor(q / S) };
      const a = await clickProposal(scene.agg, cell, params, tabled);
      const b = await clickProposal(scene.agg, cell, params, alone);
      expect(same(a, b), `cell ${q}`).toBe(true);
      if (!tabled.table!.unsure[q]) fromTable++;
    }
    expect(fromTable).toBeGreaterThan(60);
  });

  it('fills one image at a time: another image stops the fill, asking again joins it or starts it again', async () => {
    const a = await prepareClicks(scene.agg, params, merged), b = await prepareClicks(scene.agg, params, merged);
    const first = fillCellTable(a);
    expect(fillCellTable(a)).toBe(first); // joins the fill under way
    await fillCellTable(b);
    await first;
    expect(b.table).toBeDefined();
    expect(a.table).toBeUndefined(); // stopped by b's
    await fillCellTable(a);
    expect(Buffer.from(a.table!.member).equals(Buffer.from(tabled.table!.member))).toBe(true);
    expect(Buffer.from(a.table!.unsure).equals(Buffer.from(tabled.table!.unsure))).toBe(true);
  });

  it('symmetricKLOfLogs equals symmetricKL exactly', () => {
    const R = rng(9);
    for (let t = 0; t < 50; t++) {
      const x = scene.agg.subarray(Math.floor(R() * n) * n).subarray(0, n), y = merged.proposals[t % merged.proposals.length]!;
      const lx = Float64Array.from(x, (v) => Math.log(v)), ly = Float64Array.from(y, (v) => Math.log(v));
      expect(symmetricKLOfLogs(x, lx, y, ly)).toBe(symmetricKL(x, y));
    }
  });

  it('a click region from the region tables is the same as without them', async () => {
    const labels = await proposalsToLabels(merged.proposals, 96, 96);
    const tables = regionTables(merged.proposals);
    const R = rng(11);
    for (let i = 0; i < 40; i++) {
      const cell = { x: Math.floor(R() * S), y: Math.floor(R() * S) };
      const proposal = await clickProposal(scene.agg, cell, params, tabled);
      const o = { proposal, proposals: merged.proposals, labels, cell, outH: 96, outW: 96 };
      expect(Buffer.from(await clickRegion({ ...o, tables })).equals(Buffer.from(await clickRegion(o)))).toBe(true);
    }
  });

  it('clickOn with its tables filled gives the masks of the previous path (proposal, region, threshold and cut-out), at two sizes', async () => {
    const models = { id: 'test', name: 'test' } as unknown as DiffSegModels;
    for (const [w, h] of [[200, 150], [150, 260]] as const) {
      const rgb = new Uint8Array(w * h * 3);
      const box = letterbox(w, h);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
        const c = scene.colour(((x + box.padX + 0.5) * S) / box.side - 0.5, ((y + box.padY + 0.5) * S) / box.side - 0.5);
        for (let k = 0; k < 3; k++) rgb[(y * w + x) * 3 + k] = Math.round(c[k]! * 255);
      }
      const sha1 = `click-table-${w}x${h}`;
      const image: ImageInput = {
        row: { id: 1, path: 'a.png', width: w, height: h, bytes: 0, mtimeMs: 0, sha1, format: 'png', status: 'unlabeled', error: null, indexedAt: 0, missingSince: null, annotationCount: 0 },
        rgb: async () => ({ data: rgb, width: w, height: h }),
      };
      const cache = new DiffSegCache();
      const key = attentionCacheKey(sha1, models.id, PREPROCESSING);
      cache.put(key, scene.agg);
      const ctx = { models, cache };
      await clickOn(image, [{ x: 0, y: 0, positive: true }], params, ctx);
      const cc = await cache.derived<ClickContext>(key, `clickctx|${JSON.stringify(params)}`, () => Promise.reject(new Error('made by the first click')));
      await fillCellTable(cc);
      const m = await mergeFor(scene.agg, key, params, cache);
      const sq = await squareLabels(image, m.proposals, params, key, ctx);
      const R = rng(w);
      for (let i = 0; i < 25; i++) {
        const x = Math.floor(R() * w), y = Math.floor(R() * h);
        const cell = pixelToCell(box, x, y);
        const proposal = await clickProposal(scene.agg, cell, params, alone);
        const region = await clickRegion({ proposal, proposals: m.proposals, labels: sq.labels, tau: 1.1, cell, outH: sq.side, outW: sq.side, guide: sq.guide });
        const before = probabilityMapToRle(region, sq.side, box, { minArea: cleanArea(sq) });
        const now = await clickOn(image, [{ x, y, positive: true }], params, ctx);
        expect(rleEquals(now.mask, before), `${w}×${h} click (${x}, ${y})`).toBe(true);
      }
    }
  }, 60_000);
});
