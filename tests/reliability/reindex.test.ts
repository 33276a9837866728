// Re-indexing a folder that changed under the project: renames, moves, swaps, files away for a while, an
// unmounted symlinked folder, an unreadable subfolder, files replaced by another size. Whatever happens to the
// files, a labeler's masks, statuses and history are never deleted: they follow the content, wait as missing,
// or are set aside — and every report says so.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import { area, bbox, encode, toCompressedString } from '../../src/shared/masks';
import { ProjectStore, indexFolder, thumbnailPath, type Annotation } from '../../src/core/project';
import { tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';
import { noise } from '../project/fixtures';
import { refusal } from './helpers';

const repo = join(__dirname, '..', '..');

let t: ReturnType<typeof tempDir>;
let root: string;
let store: ProjectStore;

beforeEach(() => {
  t = tempDir();
  root = join(t.path, 'photos');
  mkdirSync(root);
});
afterEach(() => {
  store?.close();
  t.cleanup();
});

/** A w×h PNG of noise: each seed gives other content (and so another sha1). */
async function put(rel: string, w: number, h: number, seed: number): Promise<void> {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), await noise(w, h, seed).png().toBuffer());
}
const mv = (from: string, to: string) => {
  mkdirSync(dirname(join(root, to)), { recursive: true });
  renameSync(join(root, from), join(root, to));
};
const img = (path: string) => store.getImageByPath(path)!;

/** One undoable step adding a small rectangle: the image then carries a labeler's work, with history. */
function addMask(imageId: number, x = 1, categoryId: number | null = null): Annotation {
  const { width, height } = store.getImage(imageId)!;
  const rle = encode(rectMask(height, width, x, 1, x + 3, 4), height, width);
  const input = { categoryId, rle: toCompressedString(rle), width, height, area: area(rle), bbox: bbox(rle), source: 'manual' };
  return store.edit(imageId, 'brush', [{ kind: 'add', input }])[0]!;
}

describe('files found at another path keep their row, masks and history', () => {
  it('a renamed file', async () => {
    await put('a.png', 40, 30, 1);
    await put('other.png', 40, 30, 2);
    store = ProjectStore.open(root);
    await indexFolder(store);
    const a = img('a.png');
    const masks = [addMask(a.id, 1), addMask(a.id, 10)];
    mv('a.png', 'renamed.png');

    const r = await indexFolder(store);
    expect(r).toMatchObject({ added: 0, removed: 0, unchanged: 1, moved: [{ from: 'a.png', to: 'renamed.png' }], missing: [] });
    expect(store.getImageByPath('a.png')).toBeUndefined();
    expect(img('renamed.png')).toMatchObject({ id: a.id, sha1: a.sha1, status: 'in_progress', missingSince: null, annotationCount: 2 });
    expect(store.listAnnotations({ imageId: a.id })).toEqual(masks);
    expect(store.historyState(a.id)).toMatchObject({ canUndo: true, undoLabel: 'brush' });
    expect(existsSync(thumbnailPath(store, a.id))).toBe(true);
    expect(store.countImages()).toBe(2);

    // A copy is another image: the original keeps its row.
    writeFileSync(join(root, 'copy.png'), readFileSync(join(root, 'renamed.png')));
    const c = await indexFolder(store);
    expect(c).toMatchObject({ added: 1, moved: [] });
    expect(img('renamed.png').id).toBe(a.id);
    expect(img('copy.png')).toMatchObject({ sha1: a.sha1, annotationCount: 0 });
  });

  it('a file moved into a subfolder, and a renamed folder', async () => {
    await put('a.png', 40, 30, 1);
    await put('set/x.png', 20, 20, 2);
    await put('set/deep/y.png', 30, 20, 3);
    store = ProjectStore.open(root);
    await indexFolder(store);
    const ids = Object.fromEntries(['a.png', 'set/x.png', 'set/deep/y.png'].map((p) => [p, img(p).id]));
    const ma = addMask(ids['a.png']!);
    const my = addMask(ids['set/deep/y.png']!);
    store.setImageStatus(ids['set/x.png']!, 'done'); // a labelled negative

    mv('a.png', 'sub/a.png');
    mv('set', 'renamed-set');
    const r = await indexFolder(store);
    expect(r.moved).toEqual([
      { from: 'set/deep/y.png', to: 'renamed-set/deep/y.png' },
      { from: 'set/x.png', to: 'renamed-set/x.png' },
      { from: 'a.png', to: 'sub/a.png' },
    ]);
    expect(r).toMatchObject({ added: 0, removed: 0, updated: 0, missing: [] });
    expect(img('sub/a.png').id).toBe(ids['a.png']);
    expect(img('renamed-set/x.png')).toMatchObject({ id: ids['set/x.png'], status: 'done' });
    expect(img('renamed-set/deep/y.png').id).toBe(ids['set/deep/y.png']);
    expect(store.listAnnotations()).toEqual([ma, my]);
    expect(store.countImages()).toBe(3);
  });

  it('two files that swapped names (of different sizes) each keep their own masks', async () => {
    await put('a.png', 40, 30, 1);
    await put('b.png', 50, 30, 2);
    store = ProjectStore.open(root);
    await indexFolder(store);
    const a = img('a.png');
    const b = img('b.png');
    const ma = addMask(a.id, 1);
    const mb = addMask(b.id, 20);
    mv('a.png', 'tmp.png');
    mv('b.png', 'a.png');
    mv('tmp.png', 'b.png');

    const r = await indexFolder(store);
    expect(r).toMatchObject({ added: 0, updated: 0, removed: 0, setAside: [], missing: [] });
    expect(r.moved).toEqual([
      { from: 'b.png', to: 'a.png' },
      { from: 'a.png', to: 'b.png' },
    ]);
    expect(img('b.png')).toMatchObject({ id: a.id, sha1: a.sha1, width: 40 });
    expect(img('a.png')).toMatchObject({ id: b.id, sha1: b.sha1, width: 50 });
    expect(store.listAnnotations({ imageId: a.id })).toEqual([ma]);
    expect(store.listAnnotations({ imageId: b.id })).toEqual([mb]);
  });

  it('a file overwritten by another indexed file: the moved one takes the path, the overwritten one waits as missing', async () => {
    await put('a.png', 40, 30, 1);
    await put('b.png', 40, 30, 2);
    store = ProjectStore.open(root);
    await indexFolder(store);
    const a = img('a.png');
    const b = img('b.png');
    const ma = addMask(a.id);
    mv('b.png', 'a.png');

    const r = await indexFolder(store);
    expect(r.moved).toEqual([{ from: 'b.png', to: 'a.png' }]);
    expect(r.missing).toEqual([{ path: 'a.png', annotations: 1, since: expect.any(Number) }]);
    expect(img('a.png').id).toBe(b.id); // the file there now
    expect(store.getImage(a.id)).toMatchObject({ path: 'a.png', missingSince: expect.any(Number), annotationCount: 1 });
    expect(store.listImages().map((i) => [i.path, i.id])).toEqual([['a.png', Math.min(a.id, b.id)], ['a.png', Math.max(a.id, b.id)]]);
    expect(store.listAnnotations()).toEqual([ma]);
  });
});

describe('a file that is away for a while', () => {
  it('keeps its row as missing, refuses edits, and comes back with everything (also at another path)', async () => {
    await put('a.png', 40, 30, 1);
    await put('b.png', 40, 30, 2);
    await put('c.png', 40, 30, 3);
    store = ProjectStore.open(root);
    await indexFolder(store);
    const a = img('a.png');
    const masks = [addMask(a.id, 1), addMask(a.id, 10)];
    store.addPrompt({ imageId: a.id, kind: 'text', payload: 'a cow' });
    mv('a.png', '../away.png');

    const t0 = Date.now();
    const r1 = await indexFolder(store);
    expect(r1).toMatchObject({ removed: 0, unchanged: 2, moved: [] });
    expect(r1.missing).toEqual([{ path: 'a.png', annotations: 2, since: expect.any(Number) }]);
    const missing = store.getImage(a.id)!;
    expect(missing.missingSince).toBeGreaterThanOrEqual(t0);
    expect(missing).toMatchObject({ path: 'a.png', annotationCount: 2, status: 'in_progress' });
    expect(store.listAnnotations({ imageId: a.id })).toEqual(masks);
    expect(store.listPrompts({ imageId: a.id })).toHaveLength(1);
    expect(existsSync(thumbnailPath(store, a.id))).toBe(true); // the grid still shows what it was
    expect(store.listImages({ missing: true }).map((i) => i.id)).toEqual([a.id]);
    expect(store.listImages({ missing: false }).map((i) => i.path)).toEqual(['b.png', 'c.png']);
    expect(store.stats()).toMatchObject({ images: 3, missing: 1 });

    // Read-only while missing: nothing can change masks that wait for their file.
    const refused = refusal(() => addMask(a.id, 20));
    expect(refused.code).toBe('conflict');
    expect(refused.message).toMatch(/a\.png is missing.*masks are kept/);
    expect(refusal(() => store.undo(a.id)).code).toBe('conflict');
    expect(refusal(() => store.setImageStatus(a.id, 'done')).code).toBe('conflict');
    expect(store.listAnnotations({ imageId: a.id })).toEqual(masks);

    // A second run: still missing, since when it was first seen gone.
    const r2 = await indexFolder(store);
    expect(r2.missing).toEqual([{ path: 'a.png', annotations: 2, since: missing.missingSince }]);

    // Back where it was.
    mv('../away.png', 'a.png');
    const r3 = await indexFolder(store);
    expect(r3).toMatchObject({ added: 0, removed: 0, missing: [], moved: [], returned: ['a.png'] });
    expect(img('a.png')).toMatchObject({ id: a.id, missingSince: null, annotationCount: 2 });
    expect(store.historyState(a.id).canUndo).toBe(true);
    expect(addMask(a.id, 20).imageId).toBe(a.id);

    // Gone again, then it shows up under another name in a later run.
    mv('a.png', '../away.png');
    expect((await indexFolder(store)).missing).toHaveLength(1);
    mv('../away.png', 'found/again.png');
    const r5 = await indexFolder(store);
    expect(r5).toMatchObject({ added: 0, missing: [], moved: [{ from: 'a.png', to: 'found/again.png' }] });
    expect(img('found/again.png')).toMatchObject({ id: a.id, missingSince: null, annotationCount: 3 });
  });

  it('a done image with no masks (a labelled negative) is kept as missing; an image without work is removed', async () => {
    await put('negative.png', 40, 30, 1);
    await put('untouched.png', 40, 30, 2);
    await put('stays.png', 40, 30, 3);
    store = ProjectStore.open(root);
    await indexFolder(store);
    const neg = img('negative.png');
    const untouched = img('untouched.png');
    store.setImageStatus(neg.id, 'done');
    rmSync(join(root, 'negative.png'));
    rmSync(join(root, 'untouched.png'));

    const r = await indexFolder(store);
    expect(r).toMatchObject({ removed: 1, unchanged: 1 });
    expect(r.missing).toEqual([{ path: 'negative.png', annotations: 0, since: expect.any(Number) }]);
    expect(store.getImage(neg.id)).toMatchObject({ status: 'done', missingSince: expect.any(Number) });
    expect(store.getImage(untouched.id)).toBeUndefined();
    expect(existsSync(thumbnailPath(store, untouched.id))).toBe(false);
  });

  it('a different file where a missing image was is a new image; the missing one keeps its masks', async () => {
    await put('a.png', 40, 30, 1);
    store = ProjectStore.open(root);
    await indexFolder(store);
    const a = img('a.png');
    const m = addMask(a.id);
    mv('a.png', '../away.png');
    await indexFolder(store);
    await put('a.png', 40, 30, 99);

    const r = await indexFolder(store);
    expect(r).toMatchObject({ added: 1, updated: 0, moved: [], missing: [{ path: 'a.png', annotations: 1 }] });
    const fresh = img('a.png');
    expect(fresh.id).not.toBe(a.id);
    expect(fresh).toMatchObject({ missingSince: null, annotationCount: 0 });
    expect(store.listAnnotations()).toEqual([m]);

    // The old content shows up elsewhere: the missing image follows it.
    mv('../away.png', 'old-a.png');
    expect((await indexFolder(store)).moved).toEqual([{ from: 'a.png', to: 'old-a.png' }]);
    expect(img('old-a.png')).toMatchObject({ id: a.id, missingSince: null, annotationCount: 1 });
  });
});

describe('folders that cannot be seen are not taken as deleted', () => {
  it('an unmounted symlinked folder (dangling link) is reported; its images stay as they were', async () => {
    const target = join(t.path, 'external-disk');
    await put('local.png', 40, 30, 1);
    mkdirSync(target);
    writeFileSync(join(target, 'e1.png'), await noise(40, 30, 2).png().toBuffer());
    writeFileSync(join(target, 'e2.png'), await noise(40, 30, 3).png().toBuffer());
    symlinkSync(target, join(root, 'ext'));
    store = ProjectStore.open(root);
    expect((await indexFolder(store)).added).toBe(3);
    const e1 = img('ext/e1.png');
    const e2 = img('ext/e2.png');
    const m = addMask(e1.id);
    const before = store.listImages();

    rmSync(target, { recursive: true });
    const r = await indexFolder(store);
    expect(r).toMatchObject({ removed: 0, missing: [], unchanged: 1, danglingLinks: [{ path: 'ext', target, images: 2 }] });
    expect(store.listImages()).toEqual(before); // neither removed nor marked missing
    expect(store.getImage(e2.id)?.missingSince).toBeNull();
    expect(store.listAnnotations()).toEqual([m]);

    // Mounted again: nothing to do.
    mkdirSync(target);
    writeFileSync(join(target, 'e1.png'), await noise(40, 30, 2).png().toBuffer());
    writeFileSync(join(target, 'e2.png'), await noise(40, 30, 3).png().toBuffer());
    const back = await indexFolder(store);
    expect(back).toMatchObject({ added: 0, removed: 0, danglingLinks: [], missing: [] });
    expect(img('ext/e1.png').id).toBe(e1.id);
  });

  it.skipIf(process.getuid?.() === 0)('an unreadable subfolder is reported; its images stay as they were (skipped as root: chmod does not deny root)', async () => {
    await put('local.png', 40, 30, 1);
    await put('locked/x.png', 40, 30, 2);
    store = ProjectStore.open(root);
    await indexFolder(store);
    const x = img('locked/x.png');
    chmodSync(join(root, 'locked'), 0o000);
    try {
      const r = await indexFolder(store);
      expect(r).toMatchObject({ removed: 0, missing: [], unreadableDirs: [{ path: 'locked', reason: 'EACCES', images: 1 }] });
      expect(store.getImage(x.id)).toMatchObject({ path: 'locked/x.png', missingSince: null });
    } finally {
      chmodSync(join(root, 'locked'), 0o755);
    }
  });
});

describe('a file replaced by one of another size', () => {
  it('sets its masks aside (with their examples), keeps undo from bringing them back, and restores them when the old size returns', async () => {
    await put('a.png', 40, 30, 1);
    const original = readFileSync(join(root, 'a.png'));
    store = ProjectStore.open(root);
    await indexFolder(store);
    const a = img('a.png');
    const cat = store.addCategory({ name: 'cow' });
    const m1 = addMask(a.id, 1, cat.id);
    const m2 = addMask(a.id, 10);
    const gone = addMask(a.id, 20);
    store.edit(a.id, 'delete', [{ kind: 'delete', id: gone.id }]);
    const ex = store.addExample({ imageId: a.id, annotationId: m1.id, label: 'cow' });
    store.setImageStatus(a.id, 'done');

    await put('a.png', 50, 30, 2);
    const r = await indexFolder(store);
    expect(r).toMatchObject({ updated: 1, restored: [] });
    expect(r.setAside).toEqual([{ path: 'a.png', annotations: 2, width: 50, height: 30, was: { width: 40, height: 30 } }]);
    expect(img('a.png')).toMatchObject({ id: a.id, width: 50, height: 30, annotationCount: 0, status: 'in_progress' });
    expect(store.stats()).toMatchObject({ annotations: 0, setAside: 2 });
    expect(store.listExamples()).toEqual([]);
    // The history was recorded at 40×30: undoing it must not put 40×30 masks (the deleted one included) on a 50×30 image.
    expect(store.historyState(a.id).canUndo).toBe(false);
    expect(store.undo(a.id)).toBe(false);
    expect(store.listAnnotations()).toEqual([]);

    // Work on the new picture; then the old file returns: each size gets its own masks.
    const m50 = addMask(a.id, 40);
    writeFileSync(join(root, 'a.png'), original);
    const back = await indexFolder(store);
    expect(back.setAside).toEqual([{ path: 'a.png', annotations: 1, width: 40, height: 30, was: { width: 50, height: 30 } }]);
    expect(back.restored).toEqual([{ path: 'a.png', annotations: 2, width: 40, height: 30 }]);
    expect(img('a.png')).toMatchObject({ id: a.id, width: 40, annotationCount: 2 });
    const restored = store.listAnnotations({ imageId: a.id });
    expect(restored.map(({ updatedAt, ...x }) => x)).toEqual([m1, m2].map(({ updatedAt, ...x }) => x));
    expect(store.listExamples()).toEqual([ex]);
    expect(store.stats()).toMatchObject({ annotations: 2, setAside: 1 });

    // And back to 50×30 once more.
    await put('a.png', 50, 30, 2);
    const again = await indexFolder(store);
    expect(again.restored).toEqual([{ path: 'a.png', annotations: 1, width: 50, height: 30 }]);
    expect(store.listAnnotations({ imageId: a.id }).map((x) => x.id)).toEqual([m50.id]);
  });
});

describe('re-indexing through the API and the CLI', () => {
  it('the index job reports moved and missing images; the list filters them; edits are refused with 409 conflict', async () => {
    await put('a.png', 40, 30, 1);
    await put('b.png', 40, 30, 2);
    await put('c.png', 40, 30, 3);
    const backend = new Backend({ shell: 'web' });
    const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;
    try {
      backend.openProject(root);
      await backend.jobs.wait((await call('project.index', {})).jobId);
      const { items } = await call('images.list', {});
      const [a, b] = items as Array<{ id: number }>;
      const mask = { size: [30, 40], counts: toCompressedString(encode(rectMask(30, 40, 0, 0, 5, 5), 30, 40)) };
      await call('annotations.add', { imageId: a!.id, categoryId: null, mask });
      await call('annotations.add', { imageId: b!.id, categoryId: null, mask });
      mv('a.png', '../away.png');
      mv('b.png', 'sub/b.png');

      const job = await backend.jobs.wait((await call('project.index', {})).jobId);
      expect(job.state).toBe('done');
      expect(job.result).toMatchObject({ removed: 0, missing: [{ path: 'a.png', annotations: 1 }], moved: [{ from: 'b.png', to: 'sub/b.png' }] });

      const missing = await call('images.list', { missing: true });
      expect(missing).toEqual({ total: 1, items: [expect.objectContaining({ id: a!.id, path: 'a.png', missing: true, annotations: 1 })] });
      expect((await call('images.list', { missing: false })).items.map((i: any) => i.path)).toEqual(['c.png', 'sub/b.png']);
      expect(await call('images.get', { id: b!.id })).toMatchObject({ path: 'sub/b.png', missing: false, annotations: 1 });
      expect(await call('images.position', { id: a!.id, missing: true })).toEqual({ index: 0, total: 1 });
      expect(await call('images.position', { id: a!.id, missing: false })).toEqual({ index: null, total: 2 });
      expect(await call('project.stats', {})).toMatchObject({ images: 3, missing: 1, setAside: 0, annotations: 2 });

      const err = await call('annotations.add', { imageId: a!.id, categoryId: null, mask }).catch((e) => e);
      expect(err).toMatchObject({ code: 'conflict', message: expect.stringMatching(/a\.png is missing.*masks are kept.*index/) });
      for (const [m, input] of [
        ['images.setStatus', { id: a!.id, status: 'done' }],
        ['history.undo', { imageId: a!.id }],
      ] as const) {
        expect(await call(m, input).catch((e) => e), m).toMatchObject({ code: 'conflict' });
      }
      expect((await call('annotations.list', { imageId: a!.id })).length).toBe(1);
    } finally {
      await backend.close();
    }
  });

  it('the CLI names moved, missing and set-aside images and exits 3 while masks wait; 0 once all is back', async () => {
    await put('a.png', 40, 30, 1);
    await put('b.png', 40, 30, 2);
    await put('c.png', 40, 30, 3);
    const cOriginal = readFileSync(join(root, 'c.png'));
    store = ProjectStore.open(root);
    await indexFolder(store);
    addMask(img('a.png').id);
    for (const x of [1, 10, 20]) addMask(img('b.png').id, x);
    addMask(img('c.png').id, 1);
    addMask(img('c.png').id, 10);
    store.close();

    const cli = (...args: string[]) =>
      spawnSync(join(repo, 'node_modules', '.bin', 'node'), [join(repo, 'bin', 'difflabel.mjs'), ...args], { encoding: 'utf8', cwd: repo });
    mv('a.png', 'sub/a.png');
    mv('b.png', '../away.png');
    await put('c.png', 50, 40, 4);
    let r = cli('index', root);
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/0 added, 1 updated, 0 removed, 0 unchanged, 0 failed/);
    expect(r.stdout).toMatch(/^ {2}1 image moved: a\.png → sub\/a\.png$/m);
    expect(r.stdout).toMatch(/^ {2}1 image missing, 3 masks kept \(excluded from export until the files return\)$/m);
    expect(r.stdout).toMatch(/^ {2}missing: b\.png \(3 masks, since .+\)$/m);
    expect(r.stdout).toMatch(/^ {2}2 masks set aside: c\.png is now 50×40, was 40×30$/m);

    r = cli('index', root, '--json');
    expect(r.status).toBe(3); // still missing, still set aside
    expect(JSON.parse(r.stdout)).toMatchObject({ missing: [{ path: 'b.png', annotations: 3 }], moved: [], setAside: [], stillSetAside: 2 });

    mv('../away.png', 'b.png');
    writeFileSync(join(root, 'c.png'), cOriginal);
    r = cli('index', root);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ {2}1 image back: b\.png$/m);
    expect(r.stdout).toMatch(/^ {2}2 masks restored: c\.png is 40×30 again$/m);
    expect(r.stdout).not.toMatch(/missing|set aside/);
  });
});
