// Segment everything with the FIXTURE model (colour/position affinity, not SD): the proposals must recover the
// shapes of generated scenes (mIoU ≥ 0.9 after Hungarian matching), at the original size of non-square images.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { area, connectedComponents, decode, type Rle } from '../../../src/shared/masks';
import { rng } from '../../helpers/random';
import { ProjectStore, indexFolder } from '../../../src/core/project';
import { tempDir } from '../../helpers/folder';
import { SessionManager } from '../../../src/core/ml/runtime';
import { DiffSegCache } from '../../../src/core/pipelines/diffseg/cache';
import { openFixtureModels, type DiffSegModels } from '../../../src/core/pipelines/diffseg/models';
import { letterbox, pixelToCell } from '../../../src/core/pipelines/common/frame';
import { cutOutRles, labelMapToRles } from '../../../src/core/pipelines/common/masks';
import { segmentAndStore, segmentEverything, stableParams } from '../../../src/core/pipelines/diffseg/pipeline';
import { imageInput } from '../../../src/core/pipelines/run';
import { matchedMiou } from './fixture-scenes';
import { annotationPixels, sceneProject, type SceneProject } from './helpers';

let host: SessionManager;
let models: DiffSegModels;
let p: SceneProject;

beforeAll(async () => {
  host = new SessionManager();
  models = await openFixtureModels({ host });
  p = await sceneProject([[640, 480, 4, 1], [300, 500, 3, 2], [512, 512, 6, 3], [640, 480, 5, 4], [300, 500, 6, 5]]);
});
afterAll(async () => {
  await host.dispose();
  p.cleanup();
});

describe('letterbox geometry', () => {
  it('pads the short side symmetrically in original pixels and maps clicks to cells', () => {
    expect(letterbox(640, 480)).toEqual({ width: 640, height: 480, side: 640, padX: 0, padY: 80 });
    expect(letterbox(300, 500)).toEqual({ width: 300, height: 500, side: 500, padX: 100, padY: 0 });
    expect(pixelToCell(letterbox(640, 480), 0, 0)).toEqual({ x: 0, y: 8 });
    expect(pixelToCell(letterbox(640, 480), 639, 479)).toEqual({ x: 63, y: 55 });
  });

  it('cuts the image out of its square (nearest when the map is smaller), dropping slivers the cut leaves', () => {
    // 6×4 image in a 6×6 square (padY 1). Label 2 lies in the top padding row but for one pixel inside the image.
    const sq = Int32Array.from(['222000', '200000', '000111', '000111', '000111', '333333'].join(''), Number);
    const box = letterbox(6, 4);
    const labelsOf = (rles: Array<Rle | null>) => {
      const out = new Int32Array(rles.find(Boolean)!.h * rles.find(Boolean)!.w).fill(-1);
      rles.forEach((r, l) => r && decode(r).forEach((v, i) => v && (out[i] = l)));
      return Array.from(out).join('');
    };
    expect(labelsOf(cutOutRles(sq, 6, box, 4))).toBe('200000000111000111000111');
    expect(labelsOf(cutOutRles(sq, 6, box, 4, 2))).toBe('000000000111000111000111');
    // A 3×3 map of a 6×6 square: each map pixel covers 2×2 image pixels.
    const small = Int32Array.from('012345678', Number);
    expect(labelsOf(cutOutRles(small, 3, letterbox(6, 6), 9))).toBe('001122001122334455334455667788667788');
    // Odd scales (a 5×5 map of a 7×3 image's 7×7 square) agree with sampling pixel by pixel.
    const R = rng(5);
    const map = Int32Array.from({ length: 25 }, () => Math.floor(R() * 3));
    const b7 = letterbox(7, 3);
    const want = Array.from({ length: 21 }, (_, i) => {
      const x = i % 7, y = (i - x) / 7;
      return map[Math.floor((y + b7.padY + 0.5) * (5 / 7)) * 5 + Math.floor((x + 0.5) * (5 / 7))];
    }).join('');
    expect(labelsOf(cutOutRles(map, 5, b7, 3))).toBe(want);
  });

  it('turns a label map into one exact RLE per label', () => {
    const h = 3, w = 4;
    const labels = Int32Array.from([0, 0, 1, 1, 0, 2, 2, 1, 0, 0, 1, 1]);
    const rles = labelMapToRles(labels, h, w, 4);
    expect(rles[3]).toBeNull();
    for (let l = 0; l < 3; l++) expect(Array.from(decode(rles[l]!))).toEqual(Array.from(labels, (v) => (v === l ? 1 : 0)));
  });
});

describe('segment everything (fixture)', () => {
  it('recovers every scene at mIoU ≥ 0.9 and stores proposals as one undoable edit of a finished run', async () => {
    const cache = new DiffSegCache();
    const params = stableParams();
    for (const [imageId, scene] of p.scenes) {
      const r = await segmentAndStore(p.store, imageId, params, { models, cache });
      expect(r.run).toMatchObject({ pipeline: 'diffseg', modelBundle: 'fixture-affinity', status: 'done', imageId });
      expect(r.annotations.length).toBeGreaterThanOrEqual(scene.shapes.length + 1);
      for (const a of r.annotations) {
        expect(a).toMatchObject({ source: 'diffseg', runId: r.run.id, categoryId: null, height: scene.height, width: scene.width });
      }
      // Masks partition the image (labels are an argmax): no overlaps.
      const cover = new Uint8Array(scene.width * scene.height);
      for (const a of r.annotations) annotationPixels(a).forEach((v, i) => (cover[i]! += v));
      expect(cover.every((c) => c <= 1)).toBe(true);
      const { miou, ious } = matchedMiou(scene, r.annotations.map(annotationPixels));
      expect(miou, `scene ${scene.width}×${scene.height}: ${ious.map((x) => x.toFixed(2)).join(' ')}`).toBeGreaterThanOrEqual(0.9);
      expect(p.store.historyState(imageId)).toMatchObject({ canUndo: true, undoLabel: 'segment everything' });
    }
  });

  it('image-guided outlines (the default) fit the shapes better than the reference upsampling, on every scene', async () => {
    const cache = new DiffSegCache();
    for (const [imageId, scene] of p.scenes) {
      const image = p.store.getImage(imageId)!;
      const miou = async (guided: boolean) => matchedMiou(scene, (await segmentEverything(imageInput(p.store, image), stableParams({ guided }), { models, cache })).masks.map((m) => decode(m))).miou;
      const [guided, plain] = [await miou(true), await miou(false)];
      expect(guided, `${image.path}: guided ${guided.toFixed(3)}, plain ${plain.toFixed(3)}`).toBeGreaterThan(plain + 0.02);
      expect(guided).toBeGreaterThanOrEqual(0.95);
    }
    const r = await segmentAndStore(p.store, [...p.scenes.keys()][0]!, stableParams({ guided: false }), { models, cache });
    expect(r.run.params).toMatchObject({ guided: false, tau: 1.1 });
  });

  it('on a photo, guided labels have no piece smaller than one attention cell and fewer pieces than plain ones', async () => {
    // The fixture is not SD, but on a real photo it gives near-tied proposals over texture (fur, a striped cushion):
    // exactly where guided outlines could shatter into speckle.
    const t = tempDir();
    try {
      copyFileSync(join(__dirname, '..', '..', 'images', 'chelsea.png'), join(t.path, 'chelsea.png'));
      const store = ProjectStore.open(t.path);
      try {
        await indexFolder(store);
        const image = store.listImages()[0]!;
        const cache = new DiffSegCache();
        const pieces = async (guided: boolean) =>
          (await segmentEverything(imageInput(store, image), stableParams({ guided }), { models, cache })).masks.flatMap((m) => connectedComponents(m).map(area));
        const [guided, plain] = [await pieces(true), await pieces(false)];
        expect(Math.min(...guided)).toBeGreaterThanOrEqual(Math.floor((Math.max(image.width, image.height) / 64) ** 2));
        expect(guided.length, `guided ${guided.length} pieces, plain ${plain.length}`).toBeLessThan(plain.length);
      } finally {
        store.close();
      }
    } finally {
      t.cleanup();
    }
  });

  it('undo removes the whole set of proposals at once', async () => {
    const [imageId] = [...p.scenes.keys()];
    const before = p.store.listAnnotations({ imageId }).length;
    const r = await segmentAndStore(p.store, imageId!, stableParams({ tau: 0.9 }), { models });
    expect(p.store.listAnnotations({ imageId }).length).toBe(before + r.annotations.length);
    expect(p.store.undo(imageId!)).toBe(true);
    expect(p.store.listAnnotations({ imageId }).length).toBe(before);
  });

  it('a much lower τ splits the scene into more segments (the parameter reaches the merge)', async () => {
    const [imageId, scene] = [...p.scenes.entries()][2]!;
    const coarse = await segmentAndStore(p.store, imageId, stableParams({ tau: 1.1 }), { models });
    const fine = await segmentAndStore(p.store, imageId, stableParams({ tau: 0.05 }), { models });
    expect(fine.annotations.length).toBeGreaterThan(coarse.annotations.length);
    expect(scene.shapes.length).toBe(6);
  });
});
