// Image-guided labels: outlines move to the image's colour edges, stay put where the image is flat, the guided
// graph agrees with itself when run in blocks, and a click's cell mask is drawn like the labels.
import { afterAll, describe, expect, it } from 'vitest';
import { proposalsToLabels, releaseMathSessions, upsampleMask } from '../../../src/core/pipelines/diffseg';
import { areaMatrix, boxMatrix } from '../../../src/core/pipelines/diffseg/guided';
import { rng } from '../../helpers/random';

afterAll(releaseMathSessions);

const S = 64;
const N = 512;

/** Two proposals over a 64² grid that cross at x = cross (in 512-px units): smooth ramps, like attention. */
function crossingRamps(cross: number): Float32Array[] {
  const left = new Float32Array(S * S), right = new Float32Array(S * S);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const px = (x + 0.5) * (N / S);
      const t = 1 / (1 + Math.exp(-(px - cross) / 12));
      left[y * S + x] = 1 - t;
      right[y * S + x] = t;
    }
  }
  return [left, right];
}

/** N² RGB with colour a left of column `edge`, b from it on. */
function twoColours(edge: number, a: number[], b: number[]): Uint8Array {
  const out = new Uint8Array(N * N * 3);
  for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) out.set(x < edge ? a : b, (y * N + x) * 3);
  return out;
}

/** First column labelled 1 on each row (the boundary), as a set of distinct values. */
function boundaryColumns(labels: Int32Array): Set<number> {
  const cols = new Set<number>();
  for (let y = 0; y < N; y++) cols.add(labels.subarray(y * N, (y + 1) * N).indexOf(1));
  return cols;
}

describe('image-guided labels', () => {
  it('box and area matrices average what they should', () => {
    const B = boxMatrix(6, 1);
    expect(Array.from(B.subarray(0, 6)).map((v) => +v.toFixed(4))).toEqual([0.5, 0.5, 0, 0, 0, 0]); // clamped window
    expect(Array.from(B.subarray(12, 18)).map((v) => +v.toFixed(4))).toEqual([0, 0.3333, 0.3333, 0.3333, 0, 0]);
    const A = areaMatrix(2, 5); // spans [0, 2.5) and [2.5, 5)
    expect(Array.from(A).map((v) => +v.toFixed(4))).toEqual([0.4, 0.4, 0.2, 0, 0, 0, 0, 0.2, 0.4, 0.4]);
  });

  it('moves the outline from where the proposals cross to the colour edge (off the 8-px cell grid)', async () => {
    const props = crossingRamps(190);
    const plain = boundaryColumns(await proposalsToLabels(props, N, N));
    expect([...plain].every((c) => Math.abs(c - 190) <= 1)).toBe(true);
    for (const [edge, a, b] of [[203, [200, 40, 40], [40, 40, 200]], [181, [30, 30, 30], [250, 250, 250]], [196, [120, 120, 40], [40, 120, 120]]] as const) {
      const guided = await proposalsToLabels(props, N, N, { guide: { rgb: twoColours(edge, [...a], [...b]) } });
      expect([...boundaryColumns(guided)], `edge ${edge}`).toEqual([edge]);
    }
  });

  it('leaves the outline where it was when the image is flat, and where the edge is too far away', async () => {
    const props = crossingRamps(190);
    const flat = await proposalsToLabels(props, N, N, { guide: { rgb: twoColours(N, [90, 90, 90], [0, 0, 0]) } });
    for (const c of boundaryColumns(flat)) expect(Math.abs(c - 190)).toBeLessThanOrEqual(2);
    // An edge 6 cells away is outside every window that sees the crossing.
    const far = await proposalsToLabels(props, N, N, { guide: { rgb: twoColours(190 + 48, [200, 40, 40], [40, 40, 200]) } });
    for (const c of boundaryColumns(far)) expect(Math.abs(c - 190)).toBeLessThanOrEqual(2);
  });

  it('gives the same labels in blocks of proposals as in one run', async () => {
    const R = rng(7);
    const props = Array.from({ length: 5 }, () => Float32Array.from({ length: 16 * 16 }, () => 0.01 + R()));
    const rgb = Uint8Array.from({ length: 96 * 96 * 3 }, () => Math.floor(R() * 256));
    const whole = await proposalsToLabels(props, 96, 96, { guide: { rgb } });
    expect(await proposalsToLabels(props, 96, 96, { guide: { rgb }, blockValues: 2 * 4 * 96 * 96 })).toEqual(whole); // 3 runs
  });

  it('a cell mask upsampled with the guide draws the outline where the labels of two regions run', async () => {
    const props = crossingRamps(190);
    const rgb = twoColours(203, [200, 40, 40], [40, 40, 200]);
    const labels = await proposalsToLabels(props, N, N, { guide: { rgb } });
    const cells = Float32Array.from(props[1]!, (v, i) => (v > props[0]![i]! ? 1 : 0));
    const mask = await upsampleMask(cells, N, N, { guide: { rgb } });
    expect(mask.every((v, i) => v === labels[i])).toBe(true);
    const plain = await upsampleMask(cells, N, N);
    expect(boundaryColumns(Int32Array.from(plain))).toEqual(new Set([192])); // between the centres of cells 23 and 24
  });

  it('refuses a guide of the wrong size', async () => {
    await expect(proposalsToLabels(crossingRamps(100), N, N, { guide: { rgb: new Uint8Array(10) } })).rejects.toThrow(/guide has 10 bytes/);
  });
});
