// The preview's latent → RGB map: its arithmetic by hand, and the fixture's map checked against the fixture's VAE
// decoder on a smooth latent, as docs/grounded.md says to check a bundle's map against its decoder.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disposeSharedInferenceHost, sharedInferenceHost } from '../../../src/core/pipelines/common/inference';
import { ensureFixtureBundle } from '../../../src/core/pipelines/grounded/fixture';
import { latentRgbProblem, latentToRgb, SD1_LATENT_RGB } from '../../../src/core/pipelines/grounded/latentPreview';
import { openGroundedModels, type GroundedModels } from '../../../src/core/pipelines/grounded/models';

let models: GroundedModels;
beforeAll(async () => {
  models = openGroundedModels(await ensureFixtureBundle(), sharedInferenceHost());
});
afterAll(async () => {
  await models.dispose();
  await disposeSharedInferenceHost();
});

describe('latent → RGB preview map', () => {
  it('maps each cell by matrix · latent + bias into bytes, planes in, interleaved out, clamped', () => {
    // 1×2 latent, 4 channels (planar): cell 0 = (1, 0, 0, 0), cell 1 = (0, 0, 0, 4) (far out: clamps).
    const latent = Float32Array.of(1, 0, 0, 0, 0, 0, 0, 4);
    const map = { matrix: [[0.5, 0, 0, 0], [0, 0, 0, 0], [-0.5, 0, 0, 1]], bias: [0, -1, 0] };
    const rgb = latentToRgb(latent, 1, 2, map);
    expect([rgb.width, rgb.height]).toEqual([2, 1]);
    // R (0.5 + 1)/2·255 = 191.25 → 191; G −1 → 0; B (−0.5 + 1)/2·255 = 63.75 → 64. Cell 1: R 0 → 128, G 0, B 4 → 255.
    expect(Array.from(rgb.data)).toEqual([191, 0, 64, 128, 0, 255]);
  });

  it("SD 1.x's map: the zero latent is mid grey, the first channel brightens all three colours, the fourth turns blue down", () => {
    const cell = (v: number[]) => Array.from(latentToRgb(Float32Array.from(v), 1, 1, SD1_LATENT_RGB).data);
    expect(cell([0, 0, 0, 0])).toEqual([128, 128, 128]);
    // (1 + 0.3512)/2·255 = 172.3, (1 + 0.2297)/2·255 = 156.8, (1 + 0.3227)/2·255 = 168.6
    expect(cell([1, 0, 0, 0])).toEqual([172, 157, 169]);
    // (1 − 0.212)/2·255 = 100.5, (1 − 0.2616)/2·255 = 94.1, (1 − 0.7177)/2·255 = 36.0
    expect(cell([0, 0, 0, 1])).toEqual([100, 94, 36]);
  });

  it("the fixture's declared map reproduces its decoder on a smooth latent, cell for cell (within rounding)", async () => {
    // Smooth blends of the four colour channels across the 64² latent (the scaled latent, as the sampler holds it).
    const side = 64, n = side * side;
    const latent = new Float32Array(4 * n);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const u = x / (side - 1), v = y / (side - 1);
        [(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v].forEach((w, k) => (latent[k * n + y * side + x] = w * 1.2 - 0.1));
      }
    }
    const decoded = await models.decode(latent.map((l) => l / models.scalingFactor), side, side);
    const preview = latentToRgb(latent, side, side, models.latentRgb);
    const full = side * 8;
    let worst = 0;
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        for (let c = 0; c < 3; c++) {
          // The decoder's pixel in the middle of the cell, as a byte.
          const d = decoded[c * full * full + (y * 8 + 4) * full + (x * 8 + 4)]!;
          const byte = 255 * Math.min(1, Math.max(0, (d + 1) / 2));
          worst = Math.max(worst, Math.abs(byte - preview.data[(y * side + x) * 3 + c]!));
        }
      }
    }
    expect(worst).toBeLessThanOrEqual(0.5 + 1e-3);
    // And the map is not SD 1.x's, which would paint the fixture's colours wrong.
    expect(models.latentRgb).not.toEqual(SD1_LATENT_RGB);
  });

  it('names what is wrong with a malformed map', () => {
    expect(latentRgbProblem(SD1_LATENT_RGB, 4)).toBeNull();
    for (const bad of [null, { matrix: [[1, 2, 3, 4]], bias: [0, 0, 0] }, { matrix: SD1_LATENT_RGB.matrix, bias: [0, 0] }, { ...SD1_LATENT_RGB, matrix: [[1, 2, 3, 'x'], [0, 0, 0, 0], [0, 0, 0, 0]] }])
      expect(latentRgbProblem(bad, 4)).toBe('a latent → RGB map is { matrix: 3 rows of 4 numbers, bias: 3 numbers }');
    expect(latentRgbProblem(SD1_LATENT_RGB, 16)).toMatch(/3 rows of 16 numbers/);
  });
});
