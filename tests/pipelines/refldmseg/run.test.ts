// Ref LDM-Seg through the runner on its fixture: a run over images with an annotated example as the prompt stores one
// proposal per image, and with the run its prompt, which records the example's mask and category; a second run skips the finished images
// unless the example was edited; an example that is gone is refused before any run.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectStore, indexFolder } from '../../../src/core/project';
import { disposeSharedInferenceHost } from '../../../src/core/pipelines/common/inference';
import { refldmseg } from '../../../src/core/pipelines/refldmseg/definition';
import { parseParams, PipelineInputError, PipelineService } from '../../../src/core/pipelines/run';
import { encode, maskFields } from '../../../src/shared/masks';
import { isProposal } from '../../../src/shared/contract';
import { tempDir } from '../../helpers/folder';
import { annotationPixels } from '../diffseg/helpers';
import { iou, query, support, writeScene, type Scene } from './scenes';

const t = tempDir('difflabel-refldmseg-');
let store: ProjectStore;
let service: PipelineService;
const ids: Record<string, number> = {};
const scenes: Record<string, Scene> = { 'example.png': support(), 'q1.png': query(), 'q2.png': query(32) };

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

describe('Ref LDM-Seg runs over images', () => {
  it('proposes the example\'s kind of object in each image, in the example\'s category; a second run resumes past them until the example is edited', async () => {
    const cat = store.addCategory({ name: 'red thing' });
    const ex = scenes['example.png']!;
    const example = store.addAnnotation({ imageId: ids['example.png']!, categoryId: cat.id, source: 'manual', ...maskFields(encode(ex.masks[0]!, ex.rgb.height, ex.rgb.width)) });
    const prompt = { kind: 'example' as const, annotationId: example.id };
    const params = parseParams(refldmseg, {});
    const queries = [ids['q1.png']!, ids['q2.png']!];

    const report = await service.batch(refldmseg, params, { prompt, model: 'fixture', imageIds: queries });
    expect(report).toMatchObject({ pipeline: 'refldmseg', model: 'fixture-ref-ldm-seg-f', total: 2, segmented: 2, skipped: 0, proposals: 2, failed: [] });
    for (const name of ['q1.png', 'q2.png']) {
      const [a, ...more] = store.listAnnotations({ imageId: ids[name]! });
      expect(more).toEqual([]);
      const [run] = store.listRuns({ imageId: ids[name]! });
      expect(run).toMatchObject({ pipeline: 'refldmseg', status: 'done', proposes: true, params: { variant: 'f', maskAlpha: 0, seed: 0 } });
      // A proposal (unassigned until accepted), offered in the category its run's prompt records.
      expect(a).toMatchObject({ categoryId: null, source: 'refldmseg', runId: run!.id });
      expect(isProposal({ categoryId: a!.categoryId, proposed: store.runProposes(a!.runId) })).toBe(true);
      expect(iou(annotationPixels(a!), scenes[name]!.masks[0]!)).toBeGreaterThanOrEqual(0.9);
      expect(store.listPrompts({ runId: run!.id })).toEqual([
        expect.objectContaining({ kind: 'example', payload: { annotationId: example.id, pipeline: 'refldmseg', example: { rle: example.rle, categoryId: cat.id } } }),
      ]);
    }

    const again = await service.batch(refldmseg, params, { prompt, model: 'fixture', imageIds: queries });
    expect(again).toMatchObject({ segmented: 0, skipped: 2, proposals: 0 });
    expect(store.listRuns({ pipeline: 'refldmseg' })).toHaveLength(2);
    expect(store.listAnnotations({ imageId: ids['q1.png']! })).toHaveLength(1);

    // The example edited (its left half only): the same prompt now asks for something else, so nothing is skipped,
    // and the runs record the mask they used.
    const half = ex.masks[0]!.map((v, i) => (i % ex.rgb.width < 100 ? v : 0));
    store.updateAnnotation(example.id, maskFields(encode(half, ex.rgb.height, ex.rgb.width)));
    const edited = await service.batch(refldmseg, params, { prompt, model: 'fixture', imageIds: queries });
    expect(edited).toMatchObject({ segmented: 2, skipped: 0 });
    const prompts = store.listRuns({ imageId: ids['q1.png']! }).map((r) => store.listPrompts({ runId: r.id })[0]!.payload);
    expect(prompts.map((p) => (p as { example: { rle: string } }).example.rle)).toEqual(
      expect.arrayContaining([maskFields(encode(ex.masks[0]!, ex.rgb.height, ex.rgb.width)).rle, maskFields(encode(half, ex.rgb.height, ex.rgb.width)).rle]),
    );
  });

  it('refuses an example that is gone, and a variant the model is not, before any run', async () => {
    const runs = store.listRuns().length;
    const params = parseParams(refldmseg, {});
    const gone = service.batch(refldmseg, params, { prompt: { kind: 'example', annotationId: 9999 }, model: 'fixture', imageIds: [ids['q1.png']!] });
    await expect(gone).rejects.toThrow(PipelineInputError);
    await expect(gone).rejects.toThrow(/example annotation 9999 does not exist/);
    const [example] = store.listAnnotations({ imageId: ids['example.png']! });
    const wrong = service.batch(refldmseg, parseParams(refldmseg, { variant: 'n' }), { prompt: { kind: 'example', annotationId: example!.id }, model: 'fixture', imageIds: [ids['q1.png']!] });
    await expect(wrong).rejects.toThrow(/is Ref LDM-Seg -f; -n needs a bundle of that variant/);
    expect(store.listRuns().length).toBe(runs);
  });
});
