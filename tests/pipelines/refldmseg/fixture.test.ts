// Ref LDM-Seg -f and -n on the behaviour fixture (real pipeline code, fixture graphs): the example's red disk finds the
// query's red square, not its blue disk; with the example's mask inverted, the background is found instead, which
// only happens if the UNet's cross-attention mask is the example's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/core/ml/bundle';
import { decode } from '../../../src/shared/masks';
import { disposeSharedInferenceHost, sharedInferenceHost } from '../../../src/core/pipelines/common/inference';
import { ensureFixtureBundle } from '../../../src/core/pipelines/refldmseg/fixture';
import { segmentQuery, supportTokens, type RefLdmSegRun, type RefLdmSegSettings, type SupportShot } from '../../../src/core/pipelines/refldmseg/inference';
import { BundleModels } from '../../../src/core/pipelines/refldmseg/models';
import type { RgbImage } from '../../../src/core/pipelines/common/frame';
import { either, invert, iou, query, support } from './scenes';

const models: Partial<Record<'f' | 'n', BundleModels>> = {};
const settings = (variant: 'f' | 'n'): RefLdmSegSettings => ({ variant, steps: 20, imageGuidance: 1.5, instructionGuidance: 7, maskAlpha: variant === 'f' ? 0 : 0.4, seed: 0 });

const find = async (m: BundleModels, q: RgbImage, shots: SupportShot[], s: RefLdmSegSettings, run: RefLdmSegRun = {}) => segmentQuery(m, q, await supportTokens(m, shots, {}), s, run);

beforeAll(async () => {
  for (const v of ['f', 'n'] as const) {
    const dir = await ensureFixtureBundle(v);
    models[v] = new BundleModels(dir, readManifest(dir), sharedInferenceHost());
  }
});
afterAll(async () => {
  for (const m of Object.values(models)) await m.dispose();
  await disposeSharedInferenceHost();
});

describe.each(['f', 'n'] as const)('Ref LDM-Seg -%s on the fixture', (v) => {
  const ex = support();
  const q = query();

  it('the example red disk finds the red square and not the blue disk', async () => {
    const steps: number[] = [];
    const found = await find(models[v]!, q.rgb, [{ rgb: ex.rgb, mask: ex.masks[0]! }], settings(v), { onStep: (d) => steps.push(d) });
    const mask = decode(found.mask);
    expect(iou(mask, q.masks[0]!)).toBeGreaterThanOrEqual(0.9);
    expect(iou(mask, q.masks[1]!)).toBe(0);
    expect(steps).toEqual(v === 'f' ? [1] : Array.from({ length: 20 }, (_, i) => i + 1));
    expect(found.score).toBeGreaterThan(0);
    expect(found.score).toBeLessThanOrEqual(1);
  });

  it('with the example mask inverted, the background is found instead', async () => {
    const mask = decode((await find(models[v]!, q.rgb, [{ rgb: ex.rgb, mask: invert(ex.masks[0]!) }], settings(v))).mask);
    expect(iou(mask, invert(either(q.masks[0]!, q.masks[1]!)))).toBeGreaterThanOrEqual(0.9);
    expect(iou(mask, q.masks[0]!)).toBeLessThan(0.05);
  });
});

describe('Ref LDM-Seg settings', () => {
  it('refuses a variant the model is not', async () => {
    const ex = support();
    await expect(find(models.f!, query().rgb, [{ rgb: ex.rgb, mask: ex.masks[0]! }], settings('n'))).rejects.toThrow(/is Ref LDM-Seg -f, not -n/);
  });
});
