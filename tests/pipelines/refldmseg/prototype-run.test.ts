// The prototype mode through the runner on its fixture (model 'fixture'): a run over images with an annotated example
// stores one scored proposal per image that holds the example's kind of object, none where nothing is like it, and a
// second run resumes past them.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectStore, indexFolder } from '../../../src/core/project';
import { disposeSharedInferenceHost } from '../../../src/core/pipelines/common/inference';
import { prototype } from '../../../src/core/pipelines/prototype/definition';
import { parseParams, PipelineService } from '../../../src/core/pipelines/run';
import { encode, maskFields } from '../../../src/shared/masks';
import { tempDir } from '../../helpers/folder';
import { annotationPixels } from '../diffseg/helpers';
import { BLUE, iou, query, scene, support, writeScene, type Scene } from './scenes';

const t = tempDir('difflabel-prototype-');
let store: ProjectStore;
let service: PipelineService;
const ids: Record<string, number> = {};
const scenes: Record<string, Scene> = {
  'example.png': support(), 'q1.png': query(), 'q2.png': query(32), 'blue.png': scene(512, 384, [{ kind: 'disk', cx: 256, cy: 190, r: 90, colour: BLUE }]),
};

beforeAll(async () => {
  for (const [name, s] of Object.entries(scenes)) await writeScene(join(t.path, name), s);
  store = ProjectStore.open(t.path);
  await indexFolder(store);
  for (const img of store.listImages()) ids[img.path] = img.id;
  service = new PipelineService(store);
});
afterAll(async () => {
  await service.dispose();
  await disposeSharedInferenceHost();
  store.close();
  t.cleanup();
});

describe('the prototype mode runs over images', () => {
  it("proposes the example's kind of object with a score where there is one, nothing where there is none, and resumes", async () => {
    const cat = store.addCategory({ name: 'red thing' });
    const ex = scenes['example.png']!;
    const example = store.addAnnotation({ imageId: ids['example.png']!, categoryId: cat.id, source: 'manual', ...maskFields(encode(ex.masks[0]!, ex.rgb.height, ex.rgb.width)) });
    const prompt = { kind: 'example' as const, annotationId: example.id };
    const params = parseParams(prototype, {});
    const queries = [ids['q1.png']!, ids['q2.png']!, ids['blue.png']!];

    const report = await service.batch(prototype, params, { prompt, model: 'fixture', imageIds: queries });
    expect(report).toMatchObject({ pipeline: 'prototype', model: 'fixture-prototype', total: 3, segmented: 3, skipped: 0, proposals: 2, failed: [] });
    for (const name of ['q1.png', 'q2.png']) {
      const [a, ...more] = store.listAnnotations({ imageId: ids[name]! });
      expect(more).toEqual([]);
      const [run] = store.listRuns({ imageId: ids[name]! });
      expect(run).toMatchObject({ pipeline: 'prototype', status: 'done', proposes: true, params: { minSimilarity: 0.5, features: 'up_block.1', procedure: 1 } });
      expect(a).toMatchObject({ categoryId: null, source: 'prototype', runId: run!.id });
      expect(a!.score).toBeGreaterThan(0.9);
      expect(iou(annotationPixels(a!), scenes[name]!.masks[0]!)).toBeGreaterThanOrEqual(0.9);
    }
    expect(store.listAnnotations({ imageId: ids['blue.png']! })).toEqual([]);
    expect(store.listRuns({ imageId: ids['blue.png']! })).toEqual([expect.objectContaining({ pipeline: 'prototype', status: 'done' })]);

    const again = await service.batch(prototype, params, { prompt, model: 'fixture', imageIds: queries });
    expect(again).toMatchObject({ segmented: 0, skipped: 3, proposals: 0 });
  });
});
