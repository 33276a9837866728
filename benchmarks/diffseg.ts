// `npm run bench -- diffseg`: DiffSeg post-processing per image at SD 1.5 size (64×64 aggregated attention,
// 16×16 anchors, τ 1.1, 3 iterations) from synthetic but realistic attention (a random Voronoi scene: normalised,
// peaked softmax maps at 64, 32, 16, 8): aggregation, merging, labels at 512² (image-guided, as the app; plain
// bilinear, as the reference; guided at 1024², the largest label map), and click latency (clickProposal +
// clickRegion). Baseline in the same run: the iteration-0 KL as a plain JS loop on a subset of anchors,
// extrapolated to the full 256 × 4096. Cached clicks as the app makes them (clickOn, attention in the cache, the
// image's first click already made) at 640×480 and 12 MP on distinct cells, next to the previous path in the same run
// (clickProposal → clickRegion → probabilityMapToRle per click, as clickOn did before its per-image tables; its
// clickRegion shares the proposals' logs within a click now, which only makes it faster); both must give the same masks. The click
// tool's hover preview at 512² (clickOn with cachedOnly, a + point placed, distinct cells) next to plain cached clicks with
// the same points, alternating in the same run. Prints one JSON object. Env: BENCH_RUNS (default 3), BENCH_SEED.
import os from 'node:os';
import { createRequire } from 'node:module';
import { rng } from '../tests/helpers/random';
import { rleEquals } from '../src/shared/masks';
import {
  aggregateAttention, clickProposal, clickRegion, fillCellTable, mergeDetailed, prepareClicks, proposalsToLabels, releaseMathSessions,
  type ClickContext,
} from '../src/core/pipelines/diffseg';
import { DiffSegCache, attentionCacheKey } from '../src/core/pipelines/diffseg/cache';
import { clickOn } from '../src/core/pipelines/diffseg/interactive';
import { PREPROCESSING, cleanArea, mergeFor, squareLabels, stableParams } from '../src/core/pipelines/diffseg/pipeline';
import type { DiffSegModels } from '../src/core/pipelines/diffseg/models';
import { letterbox, pixelToCell } from '../src/core/pipelines/common/frame';
import { probabilityMapToRle } from '../src/core/pipelines/common/masks';
import type { ImageInput } from '../src/core/pipelines/types';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SEED = Number(process.env.BENCH_SEED ?? 1);
const S = 64;
const log = (s: string) => process.stderr.write(`${s}\n`);


type Seeds = { x: number; y: number; c: number[] }[];

/** A 64×64 RGB Voronoi scene of `cells` random regions with a little pixel noise (and its seeds). */
function voronoi(cells: number, R: () => number): { img: Float64Array; seeds: Seeds } {
  const seeds = Array.from({ length: cells }, () => ({ x: R() * S, y: R() * S, c: [R(), R(), R()] }));
  const img = new Float64Array(S * S * 3);
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
    const best = nearest(seeds, x, y);
    for (let k = 0; k < 3; k++) img[(y * S + x) * 3 + k] = seeds[best]!.c[k]! + (R() - 0.5) * 0.05;
  }
  return { img, seeds };
}

function nearest(seeds: Seeds, x: number, y: number): number {
  let best = 0, bd = Infinity;
  seeds.forEach((s, i) => { const d = (s.x - x) ** 2 + (s.y - y) ** 2; if (d < bd) { bd = d; best = i; } });
  return best;
}

/** The same scene drawn at side² pixels (RGB bytes): the guide for image-guided labels. */
function drawScene(seeds: Seeds, side: number): Uint8Array {
  const out = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) {
    const c = seeds[nearest(seeds, ((x + 0.5) * S) / side - 0.5, ((y + 0.5) * S) / side - 0.5)]!.c;
    for (let k = 0; k < 3; k++) out[(y * side + x) * 3 + k] = Math.round(c[k]! * 255);
  }
  return out;
}

/** Row-stochastic peaked attention at side s: softmax(−|Δcolour|²/0.02 − 2|Δpos|²/s² + noise). */
function attention(img: Float64Array, s: number, R: () => number): Float32Array {
  const r = S / s, n = s * s;
  const col = new Float64Array(n * 3);
  for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) for (let k = 0; k < 3; k++) {
    let t = 0;
    for (let a = 0; a < r; a++) for (let b = 0; b < r; b++) t += img[((y * r + a) * S + x * r + b) * 3 + k]!;
    col[(y * s + x) * 3 + k] = t / (r * r);
  }
  const A = new Float32Array(n * n), row = new Float64Array(n);
  for (let q = 0; q < n; q++) {
    let z = 0;
    const qy = Math.floor(q / s), qx = q % s;
    for (let k = 0; k < n; k++) {
      const d0 = col[q * 3]! - col[k * 3]!, d1 = col[q * 3 + 1]! - col[k * 3 + 1]!, d2 = col[q * 3 + 2]! - col[k * 3 + 2]!;
      const dy = qy - Math.floor(k / s), dx = qx - (k % s);
      row[k] = Math.exp(-(d0 * d0 + d1 * d1 + d2 * d2) / 0.02 - ((dx * dx + dy * dy) / n) * 2 + (R() - 0.5) * 0.5);
      z += row[k]!;
    }
    for (let k = 0; k < n; k++) A[q * n + k] = row[k]! / z;
  }
  return A;
}

/** The scene drawn at w×h image pixels: the image inside its letterbox square. */
function drawImage(seeds: Seeds, w: number, h: number): Uint8Array {
  const box = letterbox(w, h);
  const out = new Uint8Array(w * h * 3);
  const f = S / box.side;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const c = seeds[nearest(seeds, (x + box.padX + 0.5) * f - 0.5, (y + box.padY + 0.5) * f - 0.5)]!.c;
    for (let k = 0; k < 3; k++) out[(y * w + x) * 3 + k] = Math.round(c[k]! * 255);
  }
  return out;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (t0: number) => performance.now() - t0;

// ---- inputs
const R = rng(SEED);
let t0 = performance.now();
const { img, seeds } = voronoi(12, R);
const guide512 = { guide: { rgb: drawScene(seeds, 512) } };
const guide1024 = { guide: { rgb: drawScene(seeds, 1024) } };
const maps = new Map([64, 32, 16, 8].map((s) => [s, attention(img, s, R)] as [number, Float32Array]));
log(`inputs generated in ${ms(t0).toFixed(0)} ms`);

// ---- post-processing, RUNS times (the first run also builds the math sessions: reported apart)
const runs: { aggregate: number; merge: number; labels: number; total: number; labelsPlain: number; labels1024: number }[] = [];
let firstRunMs = 0;
let agg: Float32Array = new Float32Array(0);
let merged: Awaited<ReturnType<typeof mergeDetailed>> | null = null;
for (let i = 0; i <= RUNS; i++) {
  const a0 = performance.now();
  agg = await aggregateAttention(maps);
  const a1 = performance.now();
  merged = await mergeDetailed(agg, { tau: 1.1, iterations: 3, grid: 16 }, { keepLog: true });
  const a2 = performance.now();
  await proposalsToLabels(merged.proposals, 512, 512, guide512);
  const a3 = performance.now();
  await proposalsToLabels(merged.proposals, 512, 512);
  const a4 = performance.now();
  await proposalsToLabels(merged.proposals, 1024, 1024, guide1024);
  const a5 = performance.now();
  if (i === 0) firstRunMs = a3 - a0;
  else runs.push({ aggregate: a1 - a0, merge: a2 - a1, labels: a3 - a2, total: a3 - a0, labelsPlain: a4 - a3, labels1024: a5 - a4 });
  log(`run ${i}: ${(a3 - a0).toFixed(0)} ms (aggregate ${(a1 - a0).toFixed(0)}, merge ${(a2 - a1).toFixed(0)}, guided labels ${(a3 - a2).toFixed(0)}; plain labels ${(a4 - a3).toFixed(0)}, guided 1024² ${(a5 - a4).toFixed(0)})`);
}
const m = merged!;

// ---- clicks: prepare once per image (click context; the guided labels are the segment-everything ones), then
// clickProposal + clickRegion (guided) per click on different cells
t0 = performance.now();
const ctx = await prepareClicks(agg, {}, m);
const labels512 = await proposalsToLabels(m.proposals, 512, 512, guide512);
const prepareMs = ms(t0);
const clicks: { proposal: number; mask: number }[] = [];
const CR = rng(SEED + 1);
for (let i = 0; i < 2 + 2 * RUNS; i++) {
  const cell = { x: Math.floor(CR() * S), y: Math.floor(CR() * S) };
  const c0 = performance.now();
  const p = await clickProposal(agg, cell, {}, ctx);
  const c1 = performance.now();
  await clickRegion({ proposal: p, proposals: m.proposals, labels: labels512, cell, outH: 512, outW: 512, ...guide512 });
  if (i >= 2) clicks.push({ proposal: c1 - c0, mask: ms(c1) });
}

// ---- cached clicks through clickOn vs the previous path, same cells, same run
const params = stableParams();
const models = { id: 'bench', name: 'bench' } as unknown as DiffSegModels; // never run: the attention is cached
const cachedClicks: Record<string, {
  clickOn: number; previous: number; ratio: number; cpuMs: { clickOn: number; previous: number }; clicks: number; sameMasks: boolean; tableFillMs: number; unsureCells: number;
}> = {};
for (const [w, h] of [[640, 480], [4000, 3000]] as const) {
  const rgb = { data: drawImage(seeds, w, h), width: w, height: h };
  const sha1 = `bench-${w}x${h}`;
  const image: ImageInput = {
    row: { id: 1, path: 'bench.png', width: w, height: h, bytes: 0, mtimeMs: 0, sha1, format: 'png', status: 'unlabeled', error: null, indexedAt: 0, missingSince: null, annotationCount: 0 },
    rgb: async () => rgb,
  };
  const cache = new DiffSegCache({ memoryBytes: 2 ** 31 });
  const key = attentionCacheKey(sha1, models.id, PREPROCESSING);
  cache.put(key, agg);
  const pctx = { models, cache };
  const box = letterbox(w, h);
  const previous = async (x: number, y: number) => {
    const cell = pixelToCell(box, x, y);
    const mm = await mergeFor(agg, key, params, cache);
    const cc = await cache.derived(key, 'bench-clickctx', () => prepareClicks(agg, params, mm));
    const p = await clickProposal(agg, cell, params, cc);
    const sq = await squareLabels(image, mm.proposals, params, key, pctx);
    const region = await clickRegion({ proposal: p, proposals: mm.proposals, labels: sq.labels, tau: 1.1, cell, outH: sq.side, outW: sq.side, guide: sq.guide });
    return probabilityMapToRle(region, sq.side, box, { minArea: cleanArea(sq) });
  };
  // The image's first click (merge, labels, per-image tables) is not what is measured; the cell table it starts
  // filling in the background is waited for (timed from the end of that click).
  await clickOn(image, [{ x: 0, y: 0, positive: true }], params, pctx);
  const f0 = performance.now();
  const cc = await cache.derived<ClickContext>(key, `clickctx|${JSON.stringify(params)}`, () => Promise.reject(new Error('made by the first click')));
  await fillCellTable(cc);
  const tableFillMs = performance.now() - f0;
  const unsureCells = cc.table!.unsure.reduce((a, b) => a + b, 0);
  await previous(0, 0);
  const CP = rng(SEED + 2);
  const used = new Set<string>();
  const t: { now: number; prev: number; nowCpu: number; prevCpu: number }[] = [];
  let same = true;
  while (t.length < 6 + 4 * RUNS) {
    const x = Math.floor(CP() * w), y = Math.floor(CP() * h), c = pixelToCell(box, x, y);
    if (used.has(`${c.x},${c.y}`)) continue; // a repeated cell is a cache hit, not a click's cost
    used.add(`${c.x},${c.y}`);
    // CPU of every thread of this process (ONNX Runtime's too): what a busy shared machine distorts least.
    const cpu = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
    const u0 = process.cpuUsage(), c0 = performance.now();
    const a = await clickOn(image, [{ x, y, positive: true }], params, pctx);
    const c1 = performance.now(), nowCpu = cpu(process.cpuUsage(u0)), u1 = process.cpuUsage();
    const b = await previous(x, y);
    const c2 = performance.now(), prevCpu = cpu(process.cpuUsage(u1));
    same &&= rleEquals(a.mask, b);
    t.push({ now: c1 - c0, prev: c2 - c1, nowCpu, prevCpu });
  }
  const now = median(t.map((c) => c.now)), prev = median(t.map((c) => c.prev));
  const cpuNow = median(t.map((c) => c.nowCpu)), cpuPrev = median(t.map((c) => c.prevCpu));
  cachedClicks[`${w}x${h}`] = { clickOn: +now.toFixed(1), previous: +prev.toFixed(1), ratio: +(now / prev).toFixed(2), cpuMs: { clickOn: +cpuNow.toFixed(1), previous: +cpuPrev.toFixed(1) }, clicks: t.length, sameMasks: same, tableFillMs: Math.round(tableFillMs), unsureCells };
  log(`cached click ${w}×${h}: clickOn ${now.toFixed(1)} ms, previous path ${prev.toFixed(1)} ms`);
}

// ---- hover preview at 512² (clickOn with cachedOnly: the mask a click at the pointer would give, with a + point
// placed), next to plain cached clicks with the same points in the same run, alternating, on distinct cells
const hover: { hoverMs: number; clickMs: number; ratio: number; cpuMs: { hover: number; click: number }; answers: number; refusedUncachedMs: number } = await (async () => {
  const w = 512, h = 512;
  const rgb = { data: drawImage(seeds, w, h), width: w, height: h };
  const image: ImageInput = {
    row: { id: 2, path: 'hover.png', width: w, height: h, bytes: 0, mtimeMs: 0, sha1: 'bench-hover', format: 'png', status: 'unlabeled', error: null, indexedAt: 0, missingSince: null, annotationCount: 0 },
    rgb: async () => rgb,
  };
  const cache = new DiffSegCache({ memoryBytes: 2 ** 31 });
  const pctx = { models, cache };
  // Before anything is cached a hover is refused at once (no model run).
  const r0 = performance.now();
  const refused = await clickOn(image, [{ x: 0, y: 0, positive: true }], params, { ...pctx, cachedOnly: true }).then(() => false, () => true);
  const refusedUncachedMs = ms(r0);
  if (!refused) throw new Error('a hover on an uncached image ran');
  cache.put(attentionCacheKey('bench-hover', models.id, PREPROCESSING), agg);
  const placed = { x: 100, y: 100, positive: true };
  await clickOn(image, [placed], params, pctx);
  const cc = await cache.derived<ClickContext>(attentionCacheKey('bench-hover', models.id, PREPROCESSING), `clickctx|${JSON.stringify(params)}`, () => Promise.reject(new Error('made by the first click')));
  await fillCellTable(cc);
  const box = letterbox(w, h);
  const CH = rng(SEED + 3);
  const used = new Set<string>([`${pixelToCell(box, placed.x, placed.y).x},${pixelToCell(box, placed.x, placed.y).y}`]);
  const fresh = () => {
    for (;;) {
      const x = Math.floor(CH() * w), y = Math.floor(CH() * h), c = pixelToCell(box, x, y);
      if (used.has(`${c.x},${c.y}`)) continue; // a cell asked before is a cache hit
      used.add(`${c.x},${c.y}`);
      return { x, y, positive: true };
    }
  };
  const hv: number[] = [], cl: number[] = [], hvCpu: number[] = [], clCpu: number[] = [];
  const cpu = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
  while (hv.length < 10 + 5 * RUNS) {
    const a = fresh(), b = fresh();
    let t = performance.now(), u = process.cpuUsage();
    await clickOn(image, [placed, a], params, { ...pctx, cachedOnly: true });
    hv.push(ms(t));
    hvCpu.push(cpu(process.cpuUsage(u)));
    t = performance.now();
    u = process.cpuUsage();
    await clickOn(image, [placed, b], params, pctx);
    cl.push(ms(t));
    clCpu.push(cpu(process.cpuUsage(u)));
  }
  const hoverMs = median(hv), clickMs = median(cl);
  log(`hover 512²: ${hoverMs.toFixed(1)} ms, plain cached click ${clickMs.toFixed(1)} ms`);
  return {
    hoverMs: +hoverMs.toFixed(1), clickMs: +clickMs.toFixed(1), ratio: +(hoverMs / clickMs).toFixed(2),
    cpuMs: { hover: +median(hvCpu).toFixed(1), click: +median(clCpu).toFixed(1) }, answers: hv.length, refusedUncachedMs: +refusedUncachedMs.toFixed(1),
  };
})();

// ---- baseline: iteration-0 KL in plain JS (reference elementwise form, float64) on a few anchors, extrapolated
const n = S * S;
const subset = 4;
t0 = performance.now();
let sink = 0;
for (let a = 0; a < subset; a++) {
  const q = m.anchors[a]!;
  for (let j = 0; j < n; j++) {
    let k1 = 0, k2 = 0;
    for (let t = 0; t < n; t++) {
      const x = agg[q * n + t]!, y = agg[j * n + t]!;
      const lq = Math.log(x) - Math.log(y);
      k1 += x * lq;
      k2 -= y * lq;
    }
    sink += (k1 + k2) / 2 < 1.1 ? 1 : 0;
  }
}
const jsSubsetMs = ms(t0);
const jsKlExtrapolatedMs = (jsSubsetMs * m.anchors.length) / subset;

const ortVersion = (() => {
  try { return (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version; } catch { return null; }
})();
const med = (k: keyof (typeof runs)[number]) => Math.round(median(runs.map((r) => r[k])));
const result = {
  benchmark: 'diffseg-postprocess',
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? null, memoryGiB: Math.round(os.totalmem() / 2 ** 30), loadavg: os.loadavg().map((v) => +v.toFixed(2)), node: process.version, onnxruntime: ortVersion, provider: 'cpu' },
  setup: { side: S, resolutions: [64, 32, 16, 8], grid: 16, tau: 1.1, iterations: 3, labels: '512x512 image-guided', runs: RUNS, scene: 'voronoi-12' },
  proposals: { iteration0: m.stages[0]!.length, perIteration: m.stages.map((s) => s.length), final: m.proposals.length },
  perImageMs: { aggregate: med('aggregate'), merge: med('merge'), labels: med('labels'), total: med('total'), firstRunWithSessionBuild: Math.round(firstRunMs) },
  labelsMs: { guided512: med('labels'), plainBilinear512: med('labelsPlain'), guided1024: med('labels1024') },
  clickMs: {
    prepareOncePerImage: Math.round(prepareMs),
    proposal: +median(clicks.map((c) => c.proposal)).toFixed(1),
    region: +median(clicks.map((c) => c.mask)).toFixed(1),
    total: +median(clicks.map((c) => c.proposal + c.mask)).toFixed(1),
  },
  cachedClickMs: cachedClicks,
  hoverPreview512: hover,
  baseline: {
    what: 'iteration-0 KL (256 anchors × 4096 maps × 4096) as a plain JS float64 loop, measured on a subset and extrapolated',
    anchorsMeasured: subset, subsetMs: Math.round(jsSubsetMs), extrapolatedMs: Math.round(jsKlExtrapolatedMs),
    mergeSpeedupVsJsKlAlone: +(jsKlExtrapolatedMs / med('merge')).toFixed(1),
    checksum: sink,
  },
  targets: { postprocessUnder1s: med('total') < 1000, clickUnder200ms: median(clicks.map((c) => c.proposal + c.mask)) < 200, cachedClickUnder50ms: Object.values(cachedClicks).every((c) => c.clickOn < 50), hoverUnder50ms: hover.hoverMs <= 50 },
};
await releaseMathSessions();
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
