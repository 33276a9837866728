// The click segmenter's box prompt on the fixture: a box alone gives the segments lying mostly inside it (the boxed
// shape, IoU ≥ 0.9, nothing outside the box); with clicks the box clips their mask; through the API a points prompt
// needs a click or a box. Also boxRle, the pixels a box covers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { area, bbox, boxRle, decode, encode } from '../../../src/shared/masks';
import { SessionManager } from '../../../src/core/ml/runtime';
import { DiffSegCache } from '../../../src/core/pipelines/diffseg/cache';
import { clickOn } from '../../../src/core/pipelines/diffseg/interactive';
import { openFixtureModels, type DiffSegModels } from '../../../src/core/pipelines/diffseg/models';
import { stableParams } from '../../../src/core/pipelines/diffseg/pipeline';
import { diffseg } from '../../../src/core/pipelines/diffseg/definition';
import { checkPrompt } from '../../../src/core/pipelines/run';
import { imageInput } from '../../../src/core/pipelines/run';
import { iouMasks, shapeCentre, truthMask } from './fixture-scenes';
import { sceneProject, type SceneProject } from './helpers';

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

/** The shape's tight box grown by `margin` pixels each side, within the image. */
function boxAround(truth: Uint8Array, h: number, w: number, margin: number): [number, number, number, number] {
  const [x, y, bw, bh] = bbox(encode(truth, h, w));
  const x0 = Math.max(0, x - margin), y0 = Math.max(0, y - margin);
  return [x0, y0, Math.min(w, x + bw + margin) - x0, Math.min(h, y + bh + margin) - y0];
}

function outside(mask: Uint8Array, box: readonly number[], w: number): number {
  let n = 0;
  mask.forEach((v, i) => {
    const x = i % w, y = (i - x) / w;
    if (v && !(x >= box[0]! && x < box[0]! + box[2]! && y >= box[1]! && y < box[1]! + box[3]!)) n++;
  });
  return n;
}

describe('box prompt (fixture)', () => {
  it('a box around a shape gives that shape (IoU ≥ 0.9), nothing outside the box', async () => {
    const cache = new DiffSegCache();
    for (const [imageId, scene] of p.scenes) {
      const image = imageInput(p.store, p.store.getImage(imageId)!);
      const ious: number[] = [];
      for (let i = 0; i < scene.shapes.length; i++) {
        const truth = truthMask(scene, i + 1);
        const box = boxAround(truth, scene.height, scene.width, 6);
        const r = await clickOn(image, [], params, { models, cache }, box);
        const mask = decode(r.mask);
        expect(outside(mask, box, scene.width)).toBe(0);
        ious.push(iouMasks(mask, truth));
      }
      expect(Math.min(...ious), `${image.row.path}: ${ious.map((x) => x.toFixed(3)).join(' ')}`).toBeGreaterThanOrEqual(0.9);
    }
  });

  it('with a + click the box clips the clicked segment; a − click removes its segment from the box', async () => {
    const [imageId, scene] = [...p.scenes.entries()][0]!;
    const image = imageInput(p.store, p.store.getImage(imageId)!);
    const ctx = { models, cache: new DiffSegCache() };
    const s = scene.shapes[0]!;
    const truth = truthMask(scene, 1);
    const [x, y, w, h] = boxAround(truth, scene.height, scene.width, 0);
    // The left half of the shape: the click's mask is the shape cut to the box.
    const half: [number, number, number, number] = [x, y, Math.floor(w / 2), h];
    const clipped = decode((await clickOn(image, [{ ...shapeCentre(s), positive: true }], params, ctx, half)).mask);
    expect(outside(clipped, half, scene.width)).toBe(0);
    const truthHalf = truth.map((v, i) => (v && i % scene.width < x + half[2] ? 1 : 0));
    expect(iouMasks(clipped, truthHalf)).toBeGreaterThanOrEqual(0.9);
    // A box around the shape with a − click on it leaves nothing of the shape.
    const box = boxAround(truth, scene.height, scene.width, 6);
    const none = decode((await clickOn(image, [{ ...shapeCentre(s), positive: false }], params, ctx, box)).mask);
    expect(iouMasks(none, truth)).toBeLessThan(0.05);
  });

  it('a points prompt needs a click or a box with an area', () => {
    expect(checkPrompt(diffseg, { kind: 'points', points: [], box: [1, 2, 3, 4] }, 'preview')).toEqual({ kind: 'points', points: [], box: [1, 2, 3, 4] });
    expect(() => checkPrompt(diffseg, { kind: 'points', points: [] }, 'preview')).toThrow('DiffSeg needs a click or a box');
    expect(() => checkPrompt(diffseg, { kind: 'points', points: [], box: [1, 2, 0, 4] }, 'preview')).toThrow('the box [1, 2, 0, 4] has no area');
  });

  it('boxRle covers the pixels whose centre lies in the box, clipped to the image', () => {
    const H = 10, W = 8;
    for (const b of [[2, 3, 4, 5], [0, 0, 8, 10], [2.5, 0.4, 1, 9.7], [-3, -3, 20, 4], [7, 9, 1, 1], [3, 3, 0.2, 0.2]] as const) {
      const r = boxRle(b, H, W);
      const m = decode(r);
      let n = 0;
      for (let yy = 0; yy < H; yy++) for (let xx = 0; xx < W; xx++) {
        const inside = xx + 0.5 >= b[0] && xx + 0.5 < b[0] + b[2] && yy + 0.5 >= b[1] && yy + 0.5 < b[1] + b[3];
        expect(m[yy * W + xx], `${b}: ${xx},${yy}`).toBe(inside ? 1 : 0);
        n += inside ? 1 : 0;
      }
      expect(area(r)).toBe(n);
      // Canonical runs: no zero-length run but possibly the first.
      expect([...r.counts].slice(1).every((c) => c > 0)).toBe(true);
    }
  });
});
