import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CATEGORY_PALETTE, ProjectStore, StoreError, type AnnotationInput } from '../../src/core/project';
import { seedImages, tempFolder } from './helpers';

let t: ReturnType<typeof tempFolder>;
let s: ProjectStore;
let img: number[];
beforeEach(() => {
  t = tempFolder();
  s = ProjectStore.open(t.dir);
  img = seedImages(s, [[40, 30], [8, 8], [100, 50]]);
});
afterEach(() => {
  s.close();
  t.cleanup();
});

function ann(over: Partial<AnnotationInput> = {}): AnnotationInput {
  return { imageId: img[0]!, categoryId: null, rle: '0d1', height: 30, width: 40, area: 12, bbox: [1, 2, 4, 3], source: 'manual', ...over };
}

function storeError(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StoreError);
    return e as StoreError;
  }
  throw new Error('expected a StoreError');
}

describe('categories', () => {
  it('numbers categories from 1, picks palette colours and keeps names unique', () => {
    const a = s.addCategory({ name: 'person' });
    const b = s.addCategory({ name: 'car', supercategory: 'vehicle', color: '#ABCDEF', isthing: false });
    expect(a).toEqual({ id: 1, name: 'person', supercategory: '', color: CATEGORY_PALETTE[0], isthing: true });
    expect(b).toEqual({ id: 2, name: 'car', supercategory: 'vehicle', color: '#abcdef', isthing: false });
    expect(s.addCategory({ name: 'dog' }).color).toBe(CATEGORY_PALETTE[1]);
    const dup = storeError(() => s.addCategory({ name: 'person' }));
    expect(dup.code).toBe('conflict');
    expect(dup.message).toMatch(/'person' already exists/);
    expect(storeError(() => s.addCategory({ name: '  ' })).code).toBe('invalid');
    expect(storeError(() => s.addCategory({ name: 'x', color: 'red' })).code).toBe('invalid');
    expect(storeError(() => s.updateCategory(b.id, { name: 'person' })).code).toBe('conflict');
    expect(s.updateCategory(b.id, { name: 'truck', color: '#000000' })).toEqual({ ...b, name: 'truck', color: '#000000' });
    expect(s.getCategoryByName('truck')?.id).toBe(2);
    expect(s.listCategories().map((c) => c.name)).toEqual(['person', 'truck', 'dog']);
  });

  it('keeps an explicit id (COCO import) and refuses a taken or invalid one', () => {
    expect(s.addCategory({ id: 17, name: 'cat' }).id).toBe(17);
    expect(s.addCategory({ name: 'next' }).id).toBe(18);
    expect(storeError(() => s.addCategory({ id: 17, name: 'other' })).code).toBe('conflict');
    expect(storeError(() => s.addCategory({ id: 0, name: 'zero' })).code).toBe('invalid');
  });

  it('deleting a category unassigns its annotations', () => {
    const c = s.addCategory({ name: 'cat' });
    const keep = s.addCategory({ name: 'dog' });
    const a1 = s.addAnnotation(ann({ categoryId: c.id }));
    const a2 = s.addAnnotation(ann({ categoryId: keep.id }));
    expect(s.deleteCategory(c.id)).toBe(1);
    expect(s.getAnnotation(a1.id)?.categoryId).toBeNull();
    expect(s.getAnnotation(a2.id)?.categoryId).toBe(keep.id);
    expect(s.listAnnotations({ categoryId: null }).map((a) => a.id)).toEqual([a1.id]);
    expect(s.listCategories().map((x) => x.id)).toEqual([keep.id]);
    expect(storeError(() => s.deleteCategory(c.id)).code).toBe('not-found');
  });
});

describe('annotations', () => {
  it('stores exact values and marks an unlabeled image in progress', () => {
    const c = s.addCategory({ name: 'cat' });
    const run = s.addRun({ pipeline: 'diffseg', modelBundle: 'sd15', params: { k: 3 } });
    expect(s.getImage(img[0]!)?.status).toBe('unlabeled');
    const a = s.addAnnotation(ann({ categoryId: c.id, iscrowd: 1, runId: run.id, score: 0.75, source: 'diffseg' }));
    expect(s.getAnnotation(a.id)).toEqual({
      id: a.id, imageId: img[0], categoryId: c.id, rle: '0d1', height: 30, width: 40, area: 12, bbox: [1, 2, 4, 3],
      iscrowd: 1, source: 'diffseg', runId: run.id, score: 0.75, attributes: {}, shape: 'mask', createdAt: a.createdAt, updatedAt: a.updatedAt,
    });
    expect(s.getImage(img[0]!)).toMatchObject({ status: 'in_progress', annotationCount: 1 });
    expect(s.listImages().map((i) => i.annotationCount)).toEqual([1, 0, 0]);
    expect(s.listAnnotations({ runId: run.id }).map((x) => x.id)).toEqual([a.id]);
  });

  it('does not demote a done image when annotations are added', () => {
    s.setImageStatus(img[1]!, 'done');
    s.addAnnotation(ann({ imageId: img[1]!, width: 8, height: 8, bbox: [0, 0, 8, 8], area: 64 }));
    expect(s.getImage(img[1]!)?.status).toBe('done');
  });

  it('refuses a mask whose size does not match the image', () => {
    const e = storeError(() => s.addAnnotation(ann({ width: 30, height: 40 })));
    expect(e.code).toBe('invalid');
    expect(e.message).toMatch(/mask size 30×40 does not match image .* 40×30/);
    expect(s.listAnnotations()).toEqual([]);
    expect(s.getImage(img[0]!)?.status).toBe('unlabeled');
  });

  it('refuses unknown image, category and run ids', () => {
    expect(storeError(() => s.addAnnotation(ann({ imageId: 999 }))).message).toMatch(/image 999 does not exist/);
    expect(storeError(() => s.addAnnotation(ann({ categoryId: 5 }))).message).toMatch(/category 5 does not exist/);
    expect(storeError(() => s.addAnnotation(ann({ runId: 7 }))).message).toMatch(/run 7 does not exist/);
    expect(storeError(() => s.addAnnotation(ann({ bbox: [38, 0, 4, 3] }))).message).toMatch(/outside/);
    expect(storeError(() => s.addAnnotation(ann({ area: 1201 }))).code).toBe('invalid');
    expect(storeError(() => s.addAnnotation(ann({ rle: '' }))).code).toBe('invalid');
    expect(s.listAnnotations()).toEqual([]);
  });

  it('adds a list all or nothing', () => {
    const ok = s.addAnnotations([ann(), ann({ imageId: img[2]!, width: 100, height: 50 })]);
    expect(ok.map((a) => a.imageId)).toEqual([img[0], img[2]]);
    const e = storeError(() => s.addAnnotations([ann(), ann({ width: 1 })]));
    expect(e.message).toMatch(/^annotation #1: mask size/);
    expect(s.listAnnotations().map((a) => a.id)).toEqual(ok.map((a) => a.id));
  });

  it('updates and deletes', () => {
    const c = s.addCategory({ name: 'cat' });
    const a = s.addAnnotation(ann());
    const u = s.updateAnnotation(a.id, { categoryId: c.id, rle: '0e2', area: 20, bbox: [0, 0, 5, 4] });
    expect(s.getAnnotation(a.id)).toEqual(u);
    expect(u).toMatchObject({ categoryId: c.id, rle: '0e2', area: 20, bbox: [0, 0, 5, 4], source: 'manual' });
    expect(storeError(() => s.updateAnnotation(a.id, { rle: '0e3' })).message).toMatch(/rle, area and bbox together/);
    expect(storeError(() => s.updateAnnotation(a.id, { width: 41 })).code).toBe('invalid');
    expect(s.updateAnnotation(a.id, { categoryId: null }).categoryId).toBeNull();
    s.deleteAnnotation(a.id);
    expect(s.getAnnotation(a.id)).toBeUndefined();
    expect(storeError(() => s.deleteAnnotation(a.id)).code).toBe('not-found');
  });

  it('rolls back everything in a failed transaction', () => {
    expect(() =>
      s.transaction(() => {
        s.addCategory({ name: 'temp' });
        s.addAnnotation(ann());
        throw new Error('abort');
      }),
    ).toThrow('abort');
    expect(s.listCategories()).toEqual([]);
    expect(s.listAnnotations()).toEqual([]);
    expect(s.getImage(img[0]!)?.status).toBe('unlabeled');
  });
});

describe('images, prompts, runs, examples, stats', () => {
  it('lists, filters, pages and counts images', () => {
    s.setImageStatus(img[2]!, 'done');
    expect(s.listImages().map((i) => i.path)).toEqual(['img_000.png', 'img_001.png', 'img_002.png']);
    expect(s.listImages({ status: 'done' }).map((i) => i.id)).toEqual([img[2]]);
    expect(s.listImages({ offset: 1, limit: 1 }).map((i) => i.path)).toEqual(['img_001.png']);
    expect(s.listImages({ search: 'G_00' }).length).toBe(3);
    expect(s.listImages({ search: '1.' }).map((i) => i.path)).toEqual(['img_001.png']);
    expect(s.listImages({ search: '%' })).toEqual([]);
    expect(s.countImages({ status: 'unlabeled' })).toBe(2);
    expect(s.getImageByPath('img_002.png')).toMatchObject({ id: img[2], width: 100, height: 50, status: 'done' });
    expect(storeError(() => s.setImageStatus(img[0]!, 'error')).code).toBe('invalid');
    expect(storeError(() => s.setImageStatus(999, 'done')).code).toBe('not-found');
  });

  it('tells where an image sits in the filtered, path-ordered list', () => {
    s.setImageStatus(img[1]!, 'done');
    expect(img.map((id) => s.imagePosition(id))).toEqual([0, 1, 2]);
    expect(s.imagePosition(img[1]!, { status: 'done' })).toBe(0);
    expect(s.imagePosition(img[2]!, { status: 'unlabeled' })).toBe(1);
    expect(s.imagePosition(img[1]!, { status: 'unlabeled' })).toBeNull(); // filtered out
    expect(s.imagePosition(img[2]!, { search: '_002' })).toBe(0);
    expect(s.imagePosition(999)).toBeNull();
    // It agrees with listImages at every index.
    for (const f of [{}, { status: 'unlabeled' as const }, { search: 'img' }]) {
      s.listImages(f).forEach((row, i) => expect(s.imagePosition(row.id, f)).toBe(i));
    }
  });

  it('records prompts, runs and examples', () => {
    const run = s.addRun({ pipeline: 'peekaboo', params: { steps: 20 }, imageId: img[0]! });
    expect(run).toMatchObject({ pipeline: 'peekaboo', params: { steps: 20 }, imageId: img[0], status: 'running', finishedAt: null });
    const p = s.addPrompt({ imageId: img[0]!, kind: 'text', payload: { text: 'the brown cow' }, runId: run.id });
    expect(s.listPrompts({ imageId: img[0]! })).toEqual([p]);
    expect(p.payload).toEqual({ text: 'the brown cow' });
    expect(storeError(() => s.addPrompt({ imageId: img[0]!, kind: 'voice' as never, payload: 1 })).code).toBe('invalid');
    const done = s.finishRun(run.id, { status: 'failed', error: 'out of memory' });
    expect(done).toMatchObject({ status: 'failed', error: 'out of memory' });
    expect(done.finishedAt).toBeGreaterThanOrEqual(done.startedAt);
    expect(storeError(() => s.finishRun(run.id, { status: 'done' })).message).toMatch(/already finished/);
    expect(s.listRuns({ status: 'failed' }).map((r) => r.id)).toEqual([run.id]);
    const a = s.addAnnotation(ann());
    const ex = s.addExample({ imageId: img[0]!, annotationId: a.id, label: 'cow' });
    expect(s.listExamples({ label: 'cow' })).toEqual([ex]);
    expect(storeError(() => s.addExample({ imageId: img[1]!, annotationId: a.id })).message).toMatch(/belongs to image/);
    s.deleteAnnotation(a.id);
    expect(s.listExamples()).toEqual([]);
  });

  it('an image whose file is gone is kept as missing when it carries work, removed when it carries none', () => {
    const names = ['annotated', 'done', 'prompted', 'segmented', 'history', 'untouched', 'broken'];
    const ids = s.saveIndexedImages(names.map((name, i) => ({
      path: `${name}.png`, width: 40, height: 30, bytes: 1, mtimeMs: 1, sha1: String(i).repeat(40), format: 'png',
      error: name === 'broken' ? 'corrupt image: bad data' : null,
    }))).map((r) => r.id);
    const [annotated, done, prompted, segmented, history, untouched, broken] = ids as [number, number, number, number, number, number, number];
    const a = s.addAnnotation(ann({ imageId: annotated }));
    s.addExample({ imageId: annotated, annotationId: a.id });
    s.setImageStatus(done, 'done'); // a labelled negative: no masks, still work
    s.addPrompt({ imageId: prompted, kind: 'text', payload: 'a cow' });
    const run = s.addRun({ pipeline: 'diffseg', imageId: segmented });
    const [added] = s.edit(history, 'brush', [{ kind: 'add', input: { ...ann(), imageId: undefined } as never }]);
    s.edit(history, 'delete', [{ kind: 'delete', id: added!.id }]); // nothing left but the undo steps

    const t0 = Date.now();
    expect(s.retireImages([...ids, 9999])).toEqual({ missing: [annotated, done, prompted, segmented, history], removed: [untouched, broken] });
    for (const id of [annotated, done, prompted, segmented, history]) expect(s.getImage(id)!.missingSince).toBeGreaterThanOrEqual(t0);
    expect(s.getImage(untouched)).toBeUndefined();
    expect(s.getImage(broken)).toBeUndefined();
    expect(s.listAnnotations({ imageId: annotated })).toEqual([a]);
    expect(s.listExamples({ imageId: annotated })).toHaveLength(1);
    expect(s.getRun(run.id)?.imageId).toBe(segmented);
    expect(s.getImage(done)?.status).toBe('done');
    expect(s.historyState(history).canUndo).toBe(true);

    // Gone again in a later run: it keeps the time it was first found gone.
    const since = s.getImage(annotated)!.missingSince;
    s.retireImages([annotated]);
    expect(s.getImage(annotated)!.missingSince).toBe(since);
    expect(s.stats()).toMatchObject({ missing: 5 });
  });

  it('lists a missing image beside the file indexed at its path since; position agrees with the list under every filter', () => {
    const [gone] = s.retireImages([img[1]!]).missing;
    expect(gone).toBeUndefined(); // img[1] had no work: removed
    s.setImageStatus(img[0]!, 'done');
    s.retireImages([img[0]!]);
    const [fresh] = s.saveIndexedImages([{ path: 'img_000.png', width: 40, height: 30, bytes: 7, mtimeMs: 2, sha1: 'b'.repeat(40), format: 'png', error: null }]);
    expect(s.getImageByPath('img_000.png')!.id).toBe(fresh!.id); // the present one
    expect(s.listImages().map((i) => [i.path, i.id, i.missingSince !== null])).toEqual([
      ['img_000.png', img[0], true], ['img_000.png', fresh!.id, false], ['img_002.png', img[2], false],
    ]);
    for (const filter of [{}, { missing: true }, { missing: false }, { status: 'done' as const }, { search: '000' }, { missing: false, search: 'img' }]) {
      const list = s.listImages(filter);
      expect(s.countImages(filter)).toBe(list.length);
      for (const id of [img[0]!, fresh!.id, img[2]!]) {
        const at = list.findIndex((i) => i.id === id);
        expect(s.imagePosition(id, filter), `${JSON.stringify(filter)} ${id}`).toBe(at < 0 ? null : at);
      }
    }
  });

  it('relinks images to new paths in one step, names exchanged included', () => {
    const [a, b] = [s.getImage(img[0]!)!, s.getImage(img[1]!)!];
    s.setImageStatus(b.id, 'done');
    s.retireImages([b.id]);
    s.relinkImages([
      { id: a.id, path: b.path, mtimeMs: 5 },
      { id: b.id, path: a.path, mtimeMs: 6 },
    ]);
    expect(s.getImage(a.id)).toMatchObject({ path: b.path, mtimeMs: 5, missingSince: null });
    expect(s.getImage(b.id)).toMatchObject({ path: a.path, mtimeMs: 6, missingSince: null });
    // Two present images never share a path.
    expect(() => s.relinkImages([{ id: a.id, path: 'img_002.png', mtimeMs: 1 }])).toThrow(/UNIQUE/);
    expect(s.getImage(a.id)).toMatchObject({ path: b.path, missingSince: null }); // rolled back
  });

  it('reports stats', () => {
    s.addCategory({ name: 'a' });
    s.addAnnotation(ann());
    s.saveIndexedImages([{ path: 'broken.jpg', width: 0, height: 0, bytes: 5, mtimeMs: 1, sha1: null, format: null, error: 'not an image' }]);
    expect(s.stats()).toEqual({
      images: 4, byStatus: { unlabeled: 2, in_progress: 1, done: 0, error: 1 }, annotations: 1, categories: 1,
      bytes: 1000 + 1001 + 1002 + 5, missing: 0, setAside: 0,
    });
  });
});
