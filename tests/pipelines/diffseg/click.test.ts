// Click-to-segment on the fixture: + clicks select shapes, − clicks remove them, the attention is computed once
// and reused (memory and disk cache), accepting stores a prompt, a run and one undoable annotation.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode } from '../../../src/shared/masks';
import { SessionManager } from '../../../src/core/ml/runtime';
import { DiffSegCache } from '../../../src/core/pipelines/diffseg/cache';
import { diffseg, diffsegSession } from '../../../src/core/pipelines/diffseg/definition';
import { clickSegment } from '../../../src/core/pipelines/diffseg/interactive';
import { openFixtureModels, type DiffSegModels } from '../../../src/core/pipelines/diffseg/models';
import { stableParams } from '../../../src/core/pipelines/diffseg/pipeline';
import { acceptPreview, imageInput } from '../../../src/core/pipelines/run';
import { iouMasks, shapeCentre, truthMask } from './fixture-scenes';
import { annotationPixels, sceneProject, type SceneProject } from './helpers';

let host: SessionManager;
let models: DiffSegModels;
let p: SceneProject;
const params = stableParams();

beforeAll(async () => {
  host = new SessionManager();
  models = await openFixtureModels({ host });
  p = await sceneProject([[640, 480, 4, 11], [300, 500, 4, 12]]);
});
afterAll(async () => {
  await host.dispose();
  p.cleanup();
});

describe('click to segment (fixture)', () => {
  it('a + click inside a shape selects that shape (IoU ≥ 0.9 every click), both orientations', async () => {
    const cache = new DiffSegCache();
    for (const [imageId, scene] of p.scenes) {
      const image = p.store.getImage(imageId)!;
      const ious: number[] = [];
      for (const [i, s] of scene.shapes.entries()) {
        const r = await clickSegment(p.store, image, [{ ...shapeCentre(s), positive: true }], params, { models, cache });
        expect(r.mask.h).toBe(scene.height);
        expect(r.mask.w).toBe(scene.width);
        ious.push(iouMasks(decode(r.mask), truthMask(scene, i + 1)));
      }
      expect(Math.min(...ious), `${image.path}: ${ious.map((x) => x.toFixed(3)).join(' ')}`).toBeGreaterThanOrEqual(0.9);
    }
  });

  it('+ A, + B, − A leaves B alone; two + clicks unite', async () => {
    const [imageId, scene] = [...p.scenes.entries()][0]!;
    const image = p.store.getImage(imageId)!;
    const ctx = { models, cache: new DiffSegCache() };
    const a = shapeCentre(scene.shapes[0]!), b = shapeCentre(scene.shapes[1]!);
    const both = await clickSegment(p.store, image, [{ ...a, positive: true }, { ...b, positive: true }], params, ctx);
    const tb = truthMask(scene, 2);
    const union = truthMask(scene, 1).map((v, i) => v | tb[i]!);
    expect(iouMasks(decode(both.mask), union)).toBeGreaterThanOrEqual(0.9);
    const onlyB = await clickSegment(p.store, image, [{ ...a, positive: true }, { ...b, positive: true }, { ...a, positive: false }], params, ctx);
    expect(iouMasks(decode(onlyB.mask), truthMask(scene, 2))).toBeGreaterThanOrEqual(0.9);
    // nothing of A survives
    const pa = truthMask(scene, 1);
    expect(decode(onlyB.mask).reduce((n, v, i) => n + (v & pa[i]!), 0)).toBe(0);
  });

  it('computes the attention once: later clicks reuse it from memory, a new cache reads it from disk', async () => {
    const [imageId, scene] = [...p.scenes.entries()][1]!;
    const image = p.store.getImage(imageId)!;
    const diskDir = join(p.dir, '.difflabel', 'cache', 'diffseg');
    const cache = new DiffSegCache({ diskDir });
    const before = { ...models.stats };
    const c0 = shapeCentre(scene.shapes[0]!), c1 = shapeCentre(scene.shapes[1]!);
    const first = await clickSegment(p.store, image, [{ ...c0, positive: true }], params, { models, cache });
    expect(first.cached).toBe(false);
    const second = await clickSegment(p.store, image, [{ ...c1, positive: true }], params, { models, cache });
    expect(second.cached).toBe(true);
    expect(models.stats.attention - before.attention).toBe(1);
    expect(models.stats.encode - before.encode).toBe(1);
    await cache.flush();
    expect(readdirSync(diskDir).filter((f) => f.endsWith('.f16'))).toHaveLength(1);
    // A fresh cache (e.g. after a restart) finds the fp16 copy on disk: no model run, the same selection.
    const fresh = new DiffSegCache({ diskDir });
    const third = await clickSegment(p.store, image, [{ ...c1, positive: true }], params, { models, cache: fresh });
    expect(third.cached).toBe(true);
    expect(fresh.stats.diskHits).toBe(1);
    expect(models.stats.attention - before.attention).toBe(1);
    expect(iouMasks(decode(third.mask), decode(second.mask))).toBeGreaterThanOrEqual(0.98);
  });

  it('the disk cache stays under its byte budget, evicting the least recently used file', async () => {
    const diskDir = join(p.dir, '.difflabel', 'cache', 'diffseg-small');
    const cache = new DiffSegCache({ diskDir, diskBytes: 40 * 2 ** 20 }); // one 32 MiB file fits, two do not
    for (const imageId of p.scenes.keys()) {
      const image = p.store.getImage(imageId)!;
      await clickSegment(p.store, image, [{ x: 5, y: 5, positive: true }], params, { models, cache });
      await cache.flush();
    }
    const files = readdirSync(diskDir).filter((f) => f.endsWith('.f16'));
    expect(files).toHaveLength(1);
    expect(cache.stats.evictedDisk).toBe(1);
    expect(existsSync(diskDir)).toBe(true);
  });

  it('accepting stores the points as a prompt of a diffseg-click run and the mask as one undoable annotation', async () => {
    const [imageId, scene] = [...p.scenes.entries()][0]!;
    const image = p.store.getImage(imageId)!;
    const c = shapeCentre(scene.shapes[2]!);
    const points = [{ ...c, positive: true }];
    const a = await acceptPreview(p.store, diffseg, diffsegSession({ models, cache: new DiffSegCache() }), imageInput(p.store, image), params, { kind: 'points', points }, null);
    expect(a).toMatchObject({ source: 'diffseg-click', categoryId: null, imageId });
    expect(iouMasks(annotationPixels(a), truthMask(scene, 3))).toBeGreaterThanOrEqual(0.9);
    const run = p.store.getRun(a.runId!)!;
    expect(run).toMatchObject({ pipeline: 'diffseg-click', status: 'done', modelBundle: 'fixture-affinity' });
    const prompts = p.store.listPrompts({ imageId, kind: 'points' });
    expect(prompts.at(-1)).toMatchObject({ runId: run.id, payload: { points } });
    expect(p.store.historyState(imageId).undoLabel).toBe('click segment');
    p.store.undo(imageId);
    expect(p.store.getAnnotation(a.id)).toBeUndefined();
  });
});
