// The prototype mode on its fixture (real pipeline code; DiffSeg's fixture with colour features): the example's red
// disk finds the query's red square, snapped to its DiffSeg segment; the inverted example mask finds the background;
// nothing is proposed when the query holds nothing like the example. Ref LDM-Seg -f and -n run on the same scenes, so
// the IoUs of the modes can be compared (docs/refldmseg.md, "Prototype mode").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest } from '../../../src/core/ml/bundle';
import type { ImageRow } from '../../../src/core/project';
import { disposeSharedInferenceHost, sharedInferenceHost } from '../../../src/core/pipelines/common/inference';
import type { RgbImage } from '../../../src/core/pipelines/common/frame';
import { availability } from '../../../src/core/pipelines/common/bundles';
import { ensureFixtureBundle as ensureDiffSegFixture } from '../../../src/core/pipelines/diffseg/fixture';
import { prototype, prototypeSession, PrototypeParamsSchema } from '../../../src/core/pipelines/prototype/definition';
import { ensureFixtureBundle } from '../../../src/core/pipelines/prototype/fixture';
import { bundleModels, type PrototypeModels } from '../../../src/core/pipelines/prototype/models';
import { ensureFixtureBundle as ensureRefLdmSegFixture } from '../../../src/core/pipelines/refldmseg/fixture';
import { segmentQuery, supportTokens } from '../../../src/core/pipelines/refldmseg/inference';
import { BundleModels as RefLdmSegModels } from '../../../src/core/pipelines/refldmseg/models';
import { PipelineInputError } from '../../../src/core/pipelines/run';
import type { ImageInput } from '../../../src/core/pipelines/types';
import { decode, encode } from '../../../src/shared/masks';
import { BLUE, either, invert, iou, query, scene, support, type Scene } from './scenes';

let models: PrototypeModels;
let passes = 0;
const params = PrototypeParamsSchema.parse({});

const input = (id: number, rgb: RgbImage): ImageInput => ({
  row: { id, path: `${id}.png`, width: rgb.width, height: rgb.height, bytes: 0, mtimeMs: 0, sha1: null } as ImageRow,
  rgb: async () => rgb,
});
const exampleOf = (s: Scene, mask: Uint8Array) => ({ annotationId: 1, categoryId: null, mask: encode(mask, s.rgb.height, s.rgb.width), image: input(1, s.rgb) });

/** The prototype mode's mask on `q` for the example `ex` with `mask` (null: no proposal). */
async function find(q: Scene, ex: Scene, mask: Uint8Array, session = prototypeSession(models)) {
  const out = await session.run(input(2, q.rgb), params, { kind: 'example', annotationId: 1 }, { priority: 'batch', example: exampleOf(ex, mask) });
  expect(out.length).toBeLessThanOrEqual(1);
  return out[0] ? { mask: decode(out[0].mask), score: out[0].score! } : null;
}

beforeAll(async () => {
  const dir = await ensureFixtureBundle();
  const m = bundleModels(dir, readManifest(dir), sharedInferenceHost());
  models = { ...m, pass: (...a) => (passes++, m.pass(...a)) };
});
afterAll(async () => {
  await models.dispose();
  await disposeSharedInferenceHost();
});

describe('the prototype mode on the fixture', () => {
  const ex = support();
  const q = query();

  it('the example red disk finds the red square, not the blue disk, with the similarity as its score', async () => {
    const found = await find(q, ex, ex.masks[0]!);
    expect(iou(found!.mask, q.masks[0]!)).toBeGreaterThanOrEqual(0.9);
    expect(iou(found!.mask, q.masks[1]!)).toBe(0);
    expect(found!.score).toBeGreaterThan(0.9);
  });

  it('with the example mask inverted, the background is found instead', async () => {
    const found = await find(q, ex, invert(ex.masks[0]!));
    expect(iou(found!.mask, invert(either(q.masks[0]!, q.masks[1]!)))).toBeGreaterThanOrEqual(0.9);
    expect(iou(found!.mask, q.masks[0]!)).toBeLessThan(0.05);
  });

  it('proposes nothing when the query holds nothing like the example nor more like it than like its background', async () => {
    const blueOnly = scene(512, 384, [{ kind: 'disk', cx: 256, cy: 190, r: 90, colour: BLUE }]);
    expect(await find(blueOnly, ex, ex.masks[0]!)).toBeNull();
  });

  it('passes the example through the UNet once for a run over several images, and again when its mask changes', async () => {
    const session = prototypeSession(models);
    passes = 0;
    await find(q, ex, ex.masks[0]!, session);
    await find(query(32), ex, ex.masks[0]!, session);
    expect(passes).toBe(3);
    await find(q, ex, invert(ex.masks[0]!), session);
    expect(passes).toBe(5);
  });

  it('refuses an empty example mask as bad input', async () => {
    await expect(find(q, ex, new Uint8Array(ex.masks[0]!.length))).rejects.toThrow(PipelineInputError);
    await expect(find(q, ex, new Uint8Array(ex.masks[0]!.length))).rejects.toThrow(/mask is empty/);
  });
});

describe('the prototype mode against Ref LDM-Seg on the same scenes', () => {
  it('both find the red square and, inverted, the background', async () => {
    const ex = support();
    const q = query();
    const background = invert(either(q.masks[0]!, q.masks[1]!));
    const row: Record<string, [number, number]> = {};
    const proto = [await find(q, ex, ex.masks[0]!), await find(q, ex, invert(ex.masks[0]!))];
    row['prototype'] = [iou(proto[0]!.mask, q.masks[0]!), iou(proto[1]!.mask, background)];
    for (const v of ['f', 'n'] as const) {
      const dir = await ensureRefLdmSegFixture(v);
      const m = new RefLdmSegModels(dir, readManifest(dir), sharedInferenceHost());
      const s = { variant: v, steps: 20, imageGuidance: 1.5, instructionGuidance: 7, maskAlpha: v === 'f' ? 0 : 0.4, seed: 0 };
      const seg = async (mask: Uint8Array) => decode((await segmentQuery(m, q.rgb, await supportTokens(m, [{ rgb: ex.rgb, mask }], {}), s)).mask);
      row[`-${v}`] = [iou(await seg(ex.masks[0]!), q.masks[0]!), iou(await seg(invert(ex.masks[0]!)), background)];
      await m.dispose();
    }
    console.log('IoU (red square, background):', JSON.stringify(row));
    for (const [square, bg] of Object.values(row)) {
      expect(square).toBeGreaterThanOrEqual(0.9);
      expect(bg).toBeGreaterThanOrEqual(0.9);
    }
  });
});

describe('the bundles the prototype mode runs on', () => {
  it("serves on a DiffSeg bundle whose UNet gives features, and refuses one converted before, saying so", async () => {
    expect(availability(prototype, await ensureFixtureBundle())).toEqual({ available: true, model: 'fixture-prototype' });
    const older = await ensureDiffSegFixture();
    expect(availability(prototype, older)).toMatchObject({ available: false, reason: expect.stringMatching(/was converted before the prototype mode: its unet_diffseg has no up_block\.1 output \(convert the checkpoint again/) });
    expect(() => bundleModels(older, readManifest(older), sharedInferenceHost())).toThrow(/has no up_block\.1 output/);
  });
});
