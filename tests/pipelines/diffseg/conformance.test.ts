// DiffSeg post-processing conformance: each step against an independent float64 JS transcription of the reference
// (google/diffseg diffseg/segmentor.py) on tiny synthetic tensors, hand-computed values, and one synthetic scene end to end.
import { afterAll, describe, expect, it } from 'vitest';
import { rng } from '../../helpers/random';
import {
  aggregateAttention, anchorGrid, anchorMerge, clickProposal, clickRegion, greedyMerge, kmeansRefine, mergeDetailed, mergeProposals,
  prepareClicks, proposalsToLabels, releaseMathSessions, resolveParams,
} from '../../../src/core/pipelines/diffseg';

afterAll(() => releaseMathSessions());

// ---- deterministic helpers ------------------------------------------------------------------------------------


type Rect = { x0: number; y0: number; x1: number; y1: number; c: [number, number, number] };

/** A side×side RGB image: background plus flat rectangles (later ones on top). */
function scene(side: number, rects: Rect[], bg: [number, number, number] = [0.1, 0.1, 0.1]): Float64Array {
  const img = new Float64Array(side * side * 3);
  for (let i = 0; i < side * side; i++) img.set(bg, i * 3);
  for (const r of rects) for (let y = r.y0; y < r.y1; y++) for (let x = r.x0; x < r.x1; x++) img.set(r.c, (y * side + x) * 3);
  return img;
}

/**
 * Self-attention of a scene at resolution s (box-averaged colours): softmax over keys of
 * −|colour difference|²/temp − |position difference|²·spatial (+ optional noise). Rows sum to 1.
 */
function sceneAttention(img: Float64Array, S: number, s: number, temp = 0.02, spatial = 2, noise = 0, seed = 1): Float32Array {
  const r = S / s, n = s * s, R = rng(seed);
  const col = new Float64Array(n * 3);
  for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) for (let k = 0; k < 3; k++) {
    let t = 0;
    for (let a = 0; a < r; a++) for (let b = 0; b < r; b++) t += img[((y * r + a) * S + x * r + b) * 3 + k]!;
    col[(y * s + x) * 3 + k] = t / (r * r);
  }
  const A = new Float32Array(n * n), row = new Float64Array(n);
  for (let q = 0; q < n; q++) {
    let z = 0;
    for (let k = 0; k < n; k++) {
      let d = 0;
      for (let c = 0; c < 3; c++) { const e = col[q * 3 + c]! - col[k * 3 + c]!; d += e * e; }
      const dy = Math.floor(q / s) - Math.floor(k / s), dx = (q % s) - (k % s);
      row[k] = Math.exp(-d / temp - ((dx * dx + dy * dy) / (s * s)) * spatial + noise * (R() - 0.5));
      z += row[k]!;
    }
    for (let k = 0; k < n; k++) A[q * n + k] = row[k]! / z;
  }
  return A;
}

function sceneMaps(img: Float64Array, S: number, sides: number[], noise = 0): Map<number, Float32Array> {
  return new Map(sides.map((s, i) => [s, sceneAttention(img, S, s, 0.02, 2, noise, 7 + i)]));
}

// ---- independent float64 transcription of the reference -------------------------------------------------------

/** tf.image.resize bilinear, half_pixel_centers=True (what keras UpSampling2D(interpolation='bilinear') calls). */
function tfResize(src: ArrayLike<number>, h: number, w: number, H: number, W: number): Float64Array {
  const weights = (outSize: number, inSize: number) => {
    const scale = inSize / outSize;
    return Array.from({ length: outSize }, (_, i) => {
      const v = (i + 0.5) * scale - 0.5;
      const f = Math.floor(v);
      return { lo: Math.max(f, 0), hi: Math.min(Math.ceil(v), inSize - 1), l: v - f };
    });
  };
  const ys = weights(H, h), xs = weights(W, w);
  const out = new Float64Array(H * W);
  for (let Y = 0; Y < H; Y++) for (let X = 0; X < W; X++) {
    const yy = ys[Y]!, xx = xs[X]!;
    const tl = src[yy.lo * w + xx.lo]!, tr = src[yy.lo * w + xx.hi]!, bl = src[yy.hi * w + xx.lo]!, br = src[yy.hi * w + xx.hi]!;
    const top = tl + (tr - tl) * xx.l, bottom = bl + (br - bl) * xx.l;
    out[Y * W + X] = top + (bottom - top) * yy.l;
  }
  return out;
}

/** DiffSeg.aggregate_weights (weights = get_weight_rato unless given), accumulated in the reference's order. */
function refAggregate(maps: Map<number, ArrayLike<number>>, S: number, weightRatio?: number[]): Float64Array {
  const sides = [...maps.keys()].sort((a, b) => b - a);
  const denom = sides.reduce((a, b) => a + b, 0);
  const agg = new Float64Array(S ** 4);
  sides.forEach((s, index) => {
    const w = weightRatio ? weightRatio[index]! : s / denom;
    const ratio = S / s, n = s * s, m = maps.get(s)!;
    for (let q = 0; q < n; q++) {
      const up = tfResize(Array.from({ length: n }, (_, k) => m[q * n + k]!), s, s, S, S);
      const sum = up.reduce((a, b) => a + b, 0);
      const qy = Math.floor(q / s), qx = q % s;
      for (let a = 0; a < ratio; a++) for (let b = 0; b < ratio; b++) {
        const row = ((qy * ratio + a) * S + qx * ratio + b) * S * S;
        for (let k = 0; k < S * S; k++) agg[row + k] += (up[k]! / sum) * w;
      }
    }
  });
  return agg;
}

/** generate_sampling_grid, literally (linspace + meshgrid 'ij' + astype(int)). */
function refGrid(num: number, side: number): [number, number][] {
  const seg = Math.floor((side - 1) / (num - 1)), total = seg * (num - 1), start = Math.floor((side - 1 - total) / 2);
  const lin = Array.from({ length: num }, (_, i) => start + (total * i) / (num - 1));
  const pts: [number, number][] = [];
  for (let i = 0; i < num; i++) for (let j = 0; j < num; j++) pts.push([Math.trunc(lin[i]!), Math.trunc(lin[j]!)]);
  return pts;
}

/** DiffSeg.KL: log-quotient form, halves summed. */
function refKL(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let k1 = 0, k2 = 0;
  for (let i = 0; i < x.length; i++) {
    const q = Math.log(x[i]!) - Math.log(y[i]!);
    k1 += x[i]! * q;
    k2 += -(y[i]! * q);
  }
  return k1 / 2 + k2 / 2;
}

interface RefRun { stages: Float64Array[][]; margin: number }

/** DiffSeg.mask_merge over all iterations; `margin` = the smallest |D − τ| met in any comparison. */
function refMerge(agg: ArrayLike<number>, S: number, grid: number, taus: number[]): RefRun {
  const n = S * S;
  const maps = Array.from({ length: n }, (_, q) => Float64Array.from({ length: n }, (_, k) => agg[q * n + k]!));
  let margin = Infinity;
  const stages: Float64Array[][] = [];
  // iteration 0
  let cur: Float64Array[] = refGrid(grid, S).map(([r, c]) => {
    const anchor = maps[r * S + c]!;
    const mean = new Float64Array(n);
    let cnt = 0;
    for (const m of maps) {
      const d = refKL(anchor, m);
      margin = Math.min(margin, Math.abs(d - taus[0]!));
      if (d < taus[0]!) { cnt++; for (let k = 0; k < n; k++) mean[k] += m[k]!; }
    }
    return mean.map((v) => v / cnt);
  });
  stages.push(cur);
  for (let it = 1; it < taus.length; it++) {
    const matched = new Set<number>();
    const next: Float64Array[] = [];
    cur.forEach((anchor, i) => {
      if (matched.has(i)) return;
      matched.add(i);
      const idx: number[] = [];
      cur.forEach((m, j) => {
        const d = refKL(anchor, m);
        margin = Math.min(margin, Math.abs(d - taus[it]!));
        if (d < taus[it]!) idx.push(j);
      });
      if (idx.length > 0) {
        for (const j of idx) matched.add(j);
        const mean = new Float64Array(n);
        for (const j of idx) for (let k = 0; k < n; k++) mean[k] += cur[j]![k]!;
        next.push(mean.map((v) => v / idx.length));
      }
    });
    cur = next;
    stages.push(cur);
  }
  return { stages, margin };
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(b[i]!), 1e-30));
  return m;
}

function iou(a: (i: number) => boolean, b: (i: number) => boolean, n: number): number {
  let inter = 0, uni = 0;
  for (let i = 0; i < n; i++) { const p = a(i), q = b(i); if (p && q) inter++; if (p || q) uni++; }
  return uni ? inter / uni : 1;
}

// A small scene at S = 8: three regions, attention at sides 8, 4, 2 with a little noise.
const S8 = 8;
const IMG8 = scene(S8, [
  { x0: 0, y0: 0, x1: 4, y1: 8, c: [0.9, 0.2, 0.1] },
  { x0: 4, y0: 4, x1: 8, y1: 8, c: [0.1, 0.8, 0.3] },
], [0.2, 0.3, 0.9]);
const MAPS8 = sceneMaps(IMG8, S8, [8, 4, 2], 0.5);

describe('parameters and grid', () => {
  it('places the 16×16 grid at 1, 5, …, 61 in row-major order, as generate_sampling_grid', () => {
    const g = anchorGrid(16, 64);
    expect(g.length).toBe(256);
    expect(Array.from(g.slice(0, 3))).toEqual([1 * 64 + 1, 1 * 64 + 5, 1 * 64 + 9]);
    expect(g[16]).toBe(5 * 64 + 1); // second row of anchors
    expect(g[255]).toBe(61 * 64 + 61);
    for (const [num, side] of [[16, 64], [10, 64], [3, 8], [4, 12], [7, 64]] as const)
      expect(Array.from(anchorGrid(num, side))).toEqual(refGrid(num, side).map(([r, c]) => r * side + c));
  });

  it('resolves τ lists and iterations', () => {
    expect(resolveParams({}).taus).toEqual([1.1, 1.1, 1.1]);
    expect(resolveParams({ tau: [0.9, 1.0] }).iterations).toBe(2);
    expect(resolveParams({ tau: [0.9, 1.0, 1.2], iterations: 2 }).taus).toEqual([0.9, 1.0]);
    expect(() => resolveParams({ tau: [0.9], iterations: 3 })).toThrow(/thresholds/);
    expect(() => resolveParams({ grid: 1 })).toThrow(/grid/);
  });
});

describe('aggregation', () => {
  it('matches hand-computed values: bilinear half-pixel ×2, renormalised, query repeat, side weights', async () => {
    // S = 4 from sides 4 (uniform maps) and 2 (query (0,0) attends only to key (0,0); others uniform).
    const m2 = new Float32Array(16).fill(0.25);
    m2.set([1, 0, 0, 0], 0);
    const agg = await aggregateAttention(new Map([[4, new Float32Array(256).fill(1 / 16)], [2, m2]]));
    const w4 = 4 / 6, w2 = 2 / 6;
    // 1-D half-pixel ×2 of [1, 0] is [1, .75, .25, 0]; the 2-D map sums to 4 and is renormalised by it.
    const u = [1, 0.75, 0.25, 0];
    for (const q of [0, 1, 4, 5]) // queries (0,0), (0,1), (1,0), (1,1) repeat the 2×2 grid's query (0,0)
      for (let ky = 0; ky < 4; ky++) for (let kx = 0; kx < 4; kx++)
        expect(agg[q * 16 + ky * 4 + kx]).toBeCloseTo(w4 / 16 + (w2 * u[ky]! * u[kx]!) / 4, 6);
    expect(agg[2 * 16 + 0]).toBeCloseTo(w4 / 16 + w2 / 16, 6); // query (0,2) repeats the uniform query (0,1)
    for (let q = 0; q < 16; q++) expect(agg.subarray(q * 16, q * 16 + 16).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
  });

  it('matches the reference formulas on random maps at sides 8, 4, 2 (and given weights)', async () => {
    const R = rng(3);
    const maps = new Map<number, Float32Array>();
    for (const s of [8, 4, 2]) maps.set(s, Float32Array.from({ length: s ** 4 }, () => 0.05 + R()));
    expect(maxRelDiff(await aggregateAttention(maps), refAggregate(maps, 8))).toBeLessThan(2e-6);
    const wr = [0.5, 0.3, 0.2];
    expect(maxRelDiff(await aggregateAttention(maps, { weights: { 8: 0.5, 4: 0.3, 2: 0.2 } }), refAggregate(maps, 8, wr))).toBeLessThan(2e-6);
    // A non-square side 3 → 6 upsampling (ratio 2) and 6 alone.
    const m3 = new Map([[6, Float32Array.from({ length: 6 ** 4 }, () => R())], [3, Float32Array.from({ length: 81 }, () => R())]]);
    expect(maxRelDiff(await aggregateAttention(m3), refAggregate(m3, 6))).toBeLessThan(2e-6);
  });

  it('rejects maps of the wrong size or side', async () => {
    await expect(aggregateAttention(new Map([[8, new Float32Array(100)]]))).rejects.toThrow(/8\^4/);
    await expect(aggregateAttention(new Map([[8, new Float32Array(8 ** 4)], [3, new Float32Array(81)]]))).rejects.toThrow(/divide/);
  });
});

describe('KL merging', () => {
  it('iteration 0 keeps every anchor: identical maps give M² identical proposals', async () => {
    const n = 64;
    const agg = new Float32Array(n * n);
    const R = rng(5);
    const row = Float64Array.from({ length: n }, () => 0.5 + R());
    const z = row.reduce((a, b) => a + b, 0);
    for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) agg[q * n + k] = row[k]! / z;
    const r = await mergeDetailed(agg, { grid: 3, tau: 0.5, iterations: 1 });
    expect(r.stages[0]!.length).toBe(9);
    expect(r.proposals.length).toBe(9);
    const r2 = await mergeDetailed(agg, { grid: 3, tau: 0.5, iterations: 2 });
    expect(r2.proposals.length).toBe(1); // the later iteration merges them
  });

  it('compares strictly: a map at exactly τ is not merged', async () => {
    const agg = await aggregateAttention(MAPS8);
    const anchors = anchorGrid(3, S8);
    const first = await anchorMerge(agg, 64, 64, anchors, 10);
    // The anchor-0 distances the graph compares, as float32; pick one that is not the anchor itself.
    const d = Array.from(first.kl.subarray(0, 64));
    const j = d.findIndex((v, i) => i !== anchors[0] && v > 0.05);
    const tau = d[j]!; // exactly representable in float32: the graph compares this very value
    const atTau = await anchorMerge(agg, 64, 64, anchors, tau);
    const above = await anchorMerge(agg, 64, 64, anchors, tau * (1 + 1e-6));
    const below = d.filter((v) => v < tau).length;
    expect(atTau.count[0]).toBe(below);
    expect(above.count[0]).toBe(below + d.filter((v) => v === tau).length);
    // And the proposal is the mean of exactly the maps below τ.
    const mean = new Float64Array(64);
    d.forEach((v, k) => { if (v < tau) for (let t = 0; t < 64; t++) mean[t] += agg[k * 64 + t]! / below; });
    expect(maxRelDiff(atTau.proposals.subarray(0, 64), mean)).toBeLessThan(1e-5);
  });

  it('greedy later iterations: skips matched anchors, groups may take proposals matched before', () => {
    const p = [0, 1, 2, 3].map((i) => Float64Array.of(i, 10 * i));
    const T = 1, far = 5;
    const kl = Float64Array.from([
      0, 0.5, far, far,
      0.5, 0, 0.5, far,
      far, 0.5, 0, 0.5,
      far, far, 0.5, 0,
    ]);
    // 0 takes {0,1}; 1 is skipped; 2 takes {1,2,3} (1 again); 3 is skipped.
    expect(greedyMerge(p, kl, T).map((m) => Array.from(m))).toEqual([[0.5, 5], [2, 20]]);
    // A pair exactly at τ is not merged.
    const kl2 = kl.slice();
    kl2[1] = 1; kl2[4] = 1;
    // 0 takes {0} only; 1 takes {1,2}; 2 is skipped; 3 takes {2,3}.
    expect(greedyMerge(p, kl2, T).map((m) => Array.from(m))).toEqual([[0, 0], [1.5, 15], [2.5, 25]]);
    // NaN distances (maps with exact zeros) never match: such a proposal is dropped.
    const kl3 = kl.slice();
    for (let j = 0; j < 4; j++) { kl3[j] = NaN; kl3[j * 4] = NaN; }
    expect(greedyMerge(p, kl3, T).map((m) => Array.from(m))).toEqual([[1.5, 15], [2.5, 25]]);
  });

  it('matches the reference merge on a tiny scene, for scalar τ and τ lists', async () => {
    const agg = await aggregateAttention(MAPS8);
    const agg64 = refAggregate(MAPS8, S8);
    const cases: { grid: number; taus: number[] }[] = [];
    for (const grid of [3, 4]) for (const taus of [[0.3, 0.3, 0.3], [0.8, 0.8, 0.8], [0.1, 0.6], [0.6, 0.1, 2.0], [1.5]]) cases.push({ grid, taus });
    let checked = 0;
    for (const { grid, taus } of cases) {
      const ref = refMerge(agg64, S8, grid, taus);
      if (ref.margin < 1e-4) continue; // a float32-vs-float64 coin toss at τ: not a conformance question
      checked++;
      const got = await mergeDetailed(agg, { grid, tau: taus });
      expect(got.stages.map((s) => s.length), `grid ${grid} τ ${taus}`).toEqual(ref.stages.map((s) => s.length));
      got.stages.forEach((st, i) => st.forEach((m, k) => expect(maxRelDiff(m, ref.stages[i]![k]!)).toBeLessThan(1e-4)));
      expect(got.proposals.length).toBe(ref.stages.at(-1)!.length);
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it('a τ list applies per iteration', async () => {
    const agg = await aggregateAttention(MAPS8);
    const tight = await mergeDetailed(agg, { grid: 4, tau: [0.1, 0.1] });
    const looseLast = await mergeDetailed(agg, { grid: 4, tau: [0.1, 1e9] });
    const looseFirst = await mergeDetailed(agg, { grid: 4, tau: [1e9, 0.1] });
    expect(tight.proposals.length).toBeGreaterThan(1);
    expect(looseLast.stages.map((s) => s.length)).toEqual([16, 1]); // τ₁ huge: the first group takes everything
    expect(looseLast.stages[0]).toEqual(tight.stages[0]); // iteration 0 used τ₀ = 0.1 in both
    expect(looseFirst.stages[0]!.length).toBe(16); // iteration 0 keeps all anchors whatever τ …
    expect(looseFirst.proposals.length).toBe(1); // … each the mean of all maps, identical, merged at τ₁ = 0.1
  });
});

describe('labels', () => {
  it('upsamples half-pixel and takes the argmax (lower index on ties)', async () => {
    // 2×2 proposals → 4×4: p0 has mass at (0,0), p1 uniform 0.25·(1+ε).
    const p0 = Float32Array.of(1, 0, 0, 0);
    const p1 = Float32Array.of(0.3, 0.3, 0.3, 0.3);
    const lab = await proposalsToLabels([p0, p1], 4, 4);
    // p0 upsampled = u⊗u with u = [1, .75, .25, 0] → > 0.3 where u_y·u_x > 0.3.
    const u = [1, 0.75, 0.25, 0];
    expect(Array.from(lab)).toEqual(Array.from({ length: 16 }, (_, i) => (u[Math.floor(i / 4)]! * u[i % 4]! > 0.3 ? 0 : 1)));
    const tie = await proposalsToLabels([p1, p1.slice()], 4, 4);
    expect(Array.from(tie)).toEqual(Array(16).fill(0));
  });

  it('matches a JS bilinear + argmax at any output size, across proposal blocks', async () => {
    const R = rng(11);
    const props = Array.from({ length: 5 }, () => Float32Array.from({ length: 36 }, () => R()));
    for (const [H, W] of [[48, 48], [7, 13], [30, 20]] as const) {
      const lab = await proposalsToLabels(props, H, W);
      expect(await proposalsToLabels(props, H, W, { blockValues: 2 * H * W })).toEqual(lab); // 3 blocks of ≤ 2 proposals
      const ups = props.map((p) => tfResize(p, 6, 6, H, W));
      let agree = 0;
      for (let i = 0; i < H * W; i++) {
        let best = 0;
        for (let k = 1; k < ups.length; k++) if (ups[k]![i]! > ups[best]![i]!) best = k;
        if (best === lab[i]) agree++;
        else expect(Math.abs(ups[best]![i]! - ups[lab[i]!]![i]!)).toBeLessThan(1e-6); // only float ties may differ
      }
      expect(agree).toBeGreaterThan(H * W * 0.99);
    }
  });
});

// ---- the synthetic 64×64 scene, end to end ----------------------------------------------------------------------

const S = 64;
const RECTS: Rect[] = [
  { x0: 8, y0: 8, x1: 32, y1: 32, c: [0.9, 0.15, 0.1] },
  { x0: 40, y0: 0, x1: 64, y1: 32, c: [0.1, 0.85, 0.2] },
  { x0: 0, y0: 40, x1: 32, y1: 64, c: [0.15, 0.2, 0.9] },
  { x0: 40, y0: 40, x1: 64, y1: 64, c: [0.9, 0.9, 0.1] },
];
const BG: [number, number, number] = [0.45, 0.45, 0.45];
/** Region id per 512×512 pixel: 0 background, i+1 for RECTS[i]. */
function truth(out = 512): Uint8Array {
  const t = new Uint8Array(out * out), f = out / S;
  RECTS.forEach((r, i) => { for (let y = r.y0 * f; y < r.y1 * f; y++) for (let x = r.x0 * f; x < r.x1 * f; x++) t[y * out + x] = i + 1; });
  return t;
}

let sceneAgg: Float32Array | null = null;
async function sceneAggregate(): Promise<Float32Array> {
  sceneAgg ??= await aggregateAttention(sceneMaps(scene(S, RECTS, BG), S, [64, 32, 16, 8]));
  return sceneAgg;
}
let sceneMerged: Awaited<ReturnType<typeof mergeDetailed>> | null = null;
async function sceneMerge(): Promise<NonNullable<typeof sceneMerged>> {
  // Defaults: τ 1.1, 3 iterations, 16×16 grid; keepLog so prepareClicks takes log/entropies from the merge.
  sceneMerged ??= await mergeDetailed(await sceneAggregate(), {}, { keepLog: true });
  return sceneMerged;
}

/** Best IoU per truth region over the predicted labels (each label used once, greedy by IoU). */
function matchedIoU(labels: Int32Array, t: Uint8Array, regions: number): number[] {
  const ids = [...new Set(labels)];
  const pairs: { r: number; l: number; v: number }[] = [];
  for (let r = 0; r < regions; r++) for (const l of ids) pairs.push({ r, l, v: iou((i) => t[i] === r, (i) => labels[i] === l, t.length) });
  pairs.sort((a, b) => b.v - a.v);
  const out = Array<number>(regions).fill(0), usedR = new Set<number>(), usedL = new Set<number>();
  for (const p of pairs) if (!usedR.has(p.r) && !usedL.has(p.l)) { out[p.r] = p.v; usedR.add(p.r); usedL.add(p.l); }
  return out;
}

describe('synthetic scene end to end (64×64 aggregated from 64, 32, 16, 8)', () => {
  it('segments everything: labels match the rectangles (IoU ≥ 0.9 after matching)', async () => {
    const props = (await sceneMerge()).proposals;
    expect(props.length).toBeGreaterThanOrEqual(RECTS.length + 1);
    const labels = await proposalsToLabels(props, 512, 512);
    const ious = matchedIoU(labels, truth(), RECTS.length + 1);
    for (const v of ious) expect(v).toBeGreaterThanOrEqual(0.9);
  });

  it('k-means refine keeps the regions', async () => {
    // mergeProposals(agg, { refine: true }) = kmeansRefine on the merged proposals; reuse the merge.
    const props = await kmeansRefine(await sceneAggregate(), (await sceneMerge()).proposals);
    const ious = matchedIoU(await proposalsToLabels(props, 256, 256), truth(256), RECTS.length + 1);
    for (const v of ious) expect(v).toBeGreaterThanOrEqual(0.9);
  });

  it('a click inside an object yields that object; + clicks union, − clicks carve', async () => {
    const agg = await sceneAggregate();
    const merged = await sceneMerge();
    const ctx = await prepareClicks(agg, {}, merged);
    const t = truth(256);
    const labels = await proposalsToLabels(merged.proposals, 256, 256);
    const region = async (cell: { x: number; y: number }) =>
      clickRegion({ proposal: await clickProposal(agg, cell, {}, ctx), proposals: merged.proposals, labels, cell, outH: 256, outW: 256 });
    for (const [k, r] of RECTS.entries()) {
      const mask = await region({ x: Math.floor((r.x0 + r.x1) / 2), y: Math.floor((r.y0 + r.y1) / 2) });
      expect(iou((i) => mask[i] === 1, (i) => t[i] === k + 1, t.length), `rect ${k}`).toBeGreaterThanOrEqual(0.9);
    }
    const a = await region({ x: 15, y: 15 });
    const b = await region({ x: 47, y: 20 });
    expect(iou((i) => (a[i]! | b[i]!) === 1, (i) => t[i] === 1 || t[i] === 2, t.length)).toBeGreaterThanOrEqual(0.9);
    // + A, + B, − A: B alone (nothing of A left).
    expect(iou((i) => (a[i]! | b[i]!) === 1 && a[i] === 0, (i) => t[i] === 2, t.length)).toBeGreaterThanOrEqual(0.9);
  });

  it('a click region: same-region segments plus the cells the click proposal wins; the segment under the click if none', async () => {
    // 4×4 maps (rows repeated), output 4×4 (no resampling between equal sizes). Winner per column: 0 0 1 2.
    const P = [Float32Array.of(0.4, 0.4, 0.1, 0.1), Float32Array.of(0.1, 0.1, 0.6, 0.2), Float32Array.of(0.1, 0.1, 0.2, 0.6)];
    const sq = (m: Float32Array) => Float32Array.of(...m, ...m, ...m, ...m); // 4×4: rows repeated
    const props = P.map(sq);
    const labels = await proposalsToLabels(props, 4, 4);
    expect(Array.from(labels.subarray(0, 4))).toEqual([0, 0, 1, 2]);
    const region = (proposal: Float32Array, tau: number) => clickRegion({ proposal: sq(proposal), proposals: props, labels, cell: { x: 3, y: 0 }, tau, outH: 4, outW: 4 });
    // Equal to proposal 1 (KL 0 < τ) → its segment, and no other pixel (0.1 < 0.4, 0.2 < 0.6).
    expect(Array.from((await region(P[1]!, 0.01)).subarray(0, 4))).toEqual([0, 0, 1, 0]);
    // A proposal unlike all (τ tiny) wins where it is ≥ the winner: pixel 2 (0.6 ≥ 0.6) and pixel 3 (0.7 ≥ 0.6).
    expect(Array.from((await region(Float32Array.of(0.1, 0.1, 0.6, 0.7), 1e-9)).subarray(0, 4))).toEqual([0, 0, 1, 1]);
    // Wins nowhere, like nothing: the segment under the click (x 3 → proposal 2).
    expect(Array.from((await region(Float32Array.of(0.01, 0.01, 0.01, 0.01), 1e-9)).subarray(0, 4))).toEqual([0, 0, 0, 1]);
  });

  it('a click on an anchor cell reproduces that anchor\'s iteration-0 proposal; without stages it stops there', async () => {
    const agg = await sceneAggregate();
    const merged = await sceneMerge();
    const bare = await prepareClicks(agg, { iterations: 1 });
    const a = 5 * 16 + 3; // anchor row 5, col 3 → cell (x 13, y 21)
    expect(merged.anchors[a]).toBe(21 * 64 + 13);
    const p = await clickProposal(agg, { x: 13.2, y: 20.8 }, { iterations: 1 }, bare);
    expect(maxRelDiff(p, merged.stages[0]![a]!)).toBeLessThan(1e-5);
    // The log/entropies kept by the merge are the ones prepareClicks computes itself.
    expect(maxRelDiff(bare.ent, merged.ent!)).toBeLessThan(1e-6);
    // Later iterations follow the segment-everything stages: the full click equals iteration 0 grown by greedy steps.
    const full = await clickProposal(agg, { x: 13, y: 21 }, {}, await prepareClicks(agg, {}, merged));
    let cur = Float64Array.from(p);
    for (let it = 1; it < 3; it++) {
      const group = [cur, ...merged.stages[it - 1]!.filter((o) => refKL(cur, o) < 1.1)];
      cur = Float64Array.from(cur, (_, t) => group.reduce((acc, m) => acc + m[t]!, 0) / group.length);
    }
    expect(maxRelDiff(full, cur)).toBeLessThan(1e-4);
  });
});

describe('k-means refine', () => {
  it('matches a plain Lloyd k-means on a tiny tensor', async () => {
    const agg = await aggregateAttention(MAPS8);
    const init = (await mergeDetailed(agg, { grid: 4, tau: [0.2, 0.2] })).proposals;
    const got = await kmeansRefine(agg, init);
    expect(await mergeProposals(agg, { grid: 4, tau: [0.2, 0.2], refine: true })).toEqual(got); // the `refine` switch
    // Plain float64 Lloyd to convergence of the labels.
    const n = 64, d = 64;
    let C = init.map((c) => Float64Array.from(c));
    let labels: number[] = [];
    for (let it = 0; it < 300; it++) {
      const next = Array.from({ length: n }, (_, i) => {
        let best = 0, bd = Infinity;
        C.forEach((c, k) => { let s = 0; for (let t = 0; t < d; t++) s += (agg[i * d + t]! - c[t]!) ** 2; if (s < bd) { bd = s; best = k; } });
        return best;
      });
      const same = next.every((v, i) => v === labels[i]);
      labels = next;
      C = C.map((c, k) => {
        const mem = labels.map((l, i) => (l === k ? i : -1)).filter((i) => i >= 0);
        if (!mem.length) return c;
        const m = new Float64Array(d);
        for (const i of mem) for (let t = 0; t < d; t++) m[t] += agg[i * d + t]! / mem.length;
        return m;
      });
      if (same) break;
    }
    const nonEmpty = C.filter((_, k) => labels.includes(k));
    expect(got.length).toBe(nonEmpty.length);
    got.forEach((g, k) => expect(maxRelDiff(g, nonEmpty[k]!)).toBeLessThan(1e-4));
  });
});
