// Hostile COCO files: each is refused with a reason that quotes none of its content, or its bad entries are
// skipped with their reasons. A refused file leaves the project exactly as it was (row counts and a hash of
// every table); an accepted one adds exactly its good entries.
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CocoFileError, importCoco, importCocoFile } from '../../src/core/formats/coco/import';
import { area, bbox, encode, polygonsToRle, toCompressedString } from '../../src/shared/masks';
import { ProjectStore, indexFolder } from '../../src/core/project';
import type { CocoImportReport } from '../../src/shared/contract';
import { tempDir, writeImage } from '../helpers/folder';
import { rectMask } from '../helpers/masks';

const W = 64;
const H = 48;

let dir: ReturnType<typeof tempDir>;
let store: ProjectStore;

beforeEach(async () => {
  dir = tempDir();
  await writeImage(join(dir.path, 'one.png'), W, H);
  await writeImage(join(dir.path, 'three.png'), 32, 32);
  store = ProjectStore.open(dir.path);
  await indexFolder(store);
  // Something in every table an import writes to, so a change anywhere shows.
  const cat = store.addCategory({ name: 'existing' });
  const rle = encode(rectMask(H, W, 1, 1, 9, 9), H, W);
  store.addAnnotation({
    imageId: store.getImageByPath('one.png')!.id, categoryId: cat.id, rle: toCompressedString(rle),
    height: H, width: W, area: area(rle), bbox: bbox(rle), source: 'manual',
  });
});
afterEach(() => {
  store.close();
  dir.cleanup();
});

/** Row counts and a content hash of every table, read through a second connection. */
function snapshot(): { rows: Record<string, number>; hash: string } {
  const db = new Database(store.dbPath, { readonly: true });
  try {
    const hash = createHash('sha256');
    const rows: Record<string, number> = {};
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
    for (const t of tables) {
      const all = db.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).all();
      rows[t] = all.length;
      hash.update(`${t}\n${JSON.stringify(all)}\n`);
    }
    return { rows, hash: hash.digest('hex') };
  } finally {
    db.close();
  }
}

const good = () => ({
  images: [{ id: 1, file_name: 'one.png', width: W, height: H }],
  categories: [{ id: 1, name: 'cat' }],
  annotations: [{ id: 1, image_id: 1, category_id: 1, segmentation: [[10, 10, 30, 10, 30, 30, 10, 30]] }],
});

function file(name: string, content: string | Uint8Array): string {
  const path = join(dir.path, name);
  writeFileSync(path, content);
  return path;
}

/** A JSON array nested `depth` deep around 1, as text (JSON.stringify would overflow the stack). */
const deepText = (depth: number) => '['.repeat(depth) + '1' + ']'.repeat(depth);

function deepValue(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Every id in a report is a number or a short string, so the report always serialises. */
function expectPlainIds(report: CocoImportReport): void {
  for (const s of report.skipped) {
    expect(['number', 'string']).toContain(typeof s.id);
    if (typeof s.id === 'string') expect(s.id.length).toBeLessThanOrEqual(300);
  }
  expect(JSON.parse(JSON.stringify(report))).toEqual(report);
}

describe('refused COCO files change nothing and quote nothing', () => {
  const cases: Array<[string, string | Uint8Array, RegExp]> = [
    ['not an object (array)', '[]', /top level must be a JSON object/],
    ['not an object (string)', '"images"', /top level must be a JSON object/],
    ['not an object (null)', 'null', /top level must be a JSON object/],
    ['missing keys', '{"images": []}', /missing "annotations", "categories"/],
    ['wrong top-level types', '{"images": {}, "annotations": "x", "categories": 5}', /"images" must be an array.*"annotations" must be an array.*"categories" must be an array/],
    ['text that is not JSON', 'root:x:0:0:root:/root:/bin/bash\nsecret-token-4242\n', /^\S+ is not valid JSON \(at byte 0\)$/],
    ['truncated file', JSON.stringify(good()).slice(0, 60), /^\S+ is not valid JSON \(at byte 60\)$/],
    ['a syntax error inside', '{"images": [1,,2], "x": "secret-token-4242"}', /^\S+ is not valid JSON \(at byte 14\)$/],
    ['bytes that are not UTF-8', new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x80, 0x22, 0x7d]), /^\S+ is not UTF-8 text/],
    ['a PNG renamed .json', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), /^\S+ is not UTF-8 text/],
  ];
  for (const [name, content, message] of cases)
    it(name, async () => {
      const before = snapshot();
      const path = file('bad.json', content);
      const err = await importCocoFile(store, path).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CocoFileError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toMatch(/root|secret|bash|PNG/);
      expect(snapshot()).toEqual(before);
    });

  it('a file whose import fails while writing leaves no category behind', () => {
    const before = snapshot();
    const doc = good();
    doc.categories.push({ id: 2, name: 'dog' });
    store.addAnnotations = () => {
      throw new Error('disk I/O error');
    };
    expect(() => importCoco(store, doc)).toThrow(/disk I\/O error/);
    expect(snapshot()).toEqual(before);
  });
});

describe('bad entries are skipped with their reasons, and only the good ones land', () => {
  it('wrong types everywhere', () => {
    const before = snapshot();
    const report = importCoco(store, {
      images: [null, 5, 'one.png', { id: true, file_name: 5, width: '64', height: -1 }, { id: 9, file_name: 'one.png', width: W }],
      categories: [null, { id: 1 }, { name: 'nameless id' }, { id: {}, name: 'object id' }, { id: 2, name: 'z', color: 'red' }, { id: 3, name: '   ' }],
      annotations: [null, 'x', { image_id: [], category_id: 1 }, { id: 'a', image_id: 9, category_id: 1, iscrowd: 2 }, { id: 'b', image_id: 9, category_id: 1, score: 'high' }],
    });
    expectPlainIds(report);
    expect(report).toMatchObject({ images: 0, annotations: 0, categoriesCreated: 0 });
    const count = (what: string) => report.skipped.filter((s) => s.what === what).length;
    expect([count('image'), count('category'), count('annotation')]).toEqual([5, 6, 5]);
    for (const s of report.skipped) expect(s.reason.length).toBeGreaterThan(5);
    expect(report.skipped.find((s) => s.what === 'category' && s.id === '#3 (id is an object)')!.reason).toMatch(/^id: /);
    expect(snapshot()).toEqual(before);
  });

  it('duplicate ids: the first entry with an id is used, later ones are skipped', () => {
    const doc = good();
    doc.images.push({ id: 1, file_name: 'three.png', width: 32, height: 32 });
    doc.categories.push({ id: 1, name: 'dog' });
    doc.annotations.push({ id: 1, image_id: 1, category_id: 1, segmentation: [[40, 5, 60, 5, 60, 40, 40, 40]] });
    const report = importCoco(store, doc);
    expect(report.skipped).toEqual([
      { what: 'category', id: 1, reason: 'duplicate category id' },
      { what: 'image', id: 1, reason: 'duplicate image id' },
      { what: 'annotation', id: 1, reason: 'duplicate annotation id: only the first annotation with this id is considered' },
    ]);
    expect(report).toMatchObject({ annotations: 1, categoriesCreated: 1 });
    expect(store.getCategoryByName('dog')).toBeUndefined();
    const mine = store.listAnnotations({ categoryId: store.getCategoryByName('cat')!.id });
    expect(mine.map((a) => a.bbox)).toEqual([bbox(polygonsToRle(good().annotations[0]!.segmentation, H, W))]);
  });

  it('categories with the same name become one category', () => {
    const doc = good();
    doc.categories.push({ id: 2, name: ' cat ' }, { id: 3, name: 'existing' }, { id: 4, name: 'existing' });
    doc.annotations.push(
      { id: 2, image_id: 1, category_id: 2, segmentation: [[40, 5, 60, 5, 60, 40, 40, 40]] },
      { id: 3, image_id: 1, category_id: 4, segmentation: [[20, 35, 30, 35, 30, 45, 20, 45]] },
    );
    const report = importCoco(store, doc);
    expect(report).toMatchObject({ annotations: 3, categoriesCreated: 1 });
    expect(report.skipped).toEqual([
      { what: 'category', id: 2, reason: 'same name as category 1: its annotations go to that category' },
      { what: 'category', id: 4, reason: 'same name as category 3: its annotations go to that category' },
    ]);
    const cat = store.getCategoryByName('cat')!;
    expect(store.listAnnotations({ categoryId: cat.id })).toHaveLength(2);
    expect(store.listAnnotations({ categoryId: store.getCategoryByName('existing')!.id })).toHaveLength(2);
  });

  it('huge and malformed RLE', () => {
    const before = snapshot();
    const doc = good();
    doc.annotations = [
      { id: 1, image_id: 1, category_id: 1, segmentation: { size: [H, W], counts: [2 ** 32, 5] } },
      { id: 2, image_id: 1, category_id: 1, segmentation: { size: [H, W], counts: [1e300] } },
      { id: 3, image_id: 1, category_id: 1, segmentation: { size: [1e9, 1e9], counts: [1e18] } },
      { id: 4, image_id: 1, category_id: 1, segmentation: { size: [H, W], counts: new Array(1_000_000).fill(1) } },
      { id: 5, image_id: 1, category_id: 1, segmentation: { size: [H, W], counts: 'o'.repeat(100_000) } },
      { id: 6, image_id: 1, category_id: 1, segmentation: { size: [deepValue(100_000), W], counts: [H * W] } },
      { id: 7, image_id: 1, category_id: 1, segmentation: { size: [H, W], counts: [deepValue(100_000)] } },
    ] as never;
    const report = importCoco(store, doc);
    expectPlainIds(report);
    expect(report.annotations).toBe(0);
    const reasons = report.skipped.filter((s) => s.what === 'annotation').map((s) => [s.id, s.reason]);
    expect(reasons).toHaveLength(7);
    for (const [, reason] of reasons) expect(reason).toMatch(/^malformed RLE|does not match the image/);
    // A file none of whose masks could be used changes nothing, not even the categories.
    expect(snapshot()).toEqual(before);
  });

  it('polygons with NaN, Infinity, strings or coordinates far outside the image', async () => {
    const doc = good();
    const ring = (v: unknown) => [[10, 10, v, 10, 30, 30, 10, 30]];
    doc.annotations = [
      { id: 1, image_id: 1, category_id: 1, segmentation: ring(NaN) },
      { id: 2, image_id: 1, category_id: 1, segmentation: ring(Infinity) },
      { id: 3, image_id: 1, category_id: 1, segmentation: ring('30') },
      { id: 4, image_id: 1, category_id: 1, segmentation: [[10, 10, 30, 10, 30]] },
      // Rasterising this walks 10^8 points per edge: refused up front, not after minutes.
      { id: 5, image_id: 1, category_id: 1, segmentation: [[-1e7, -1e7, 1e7, -1e7, 1e7, 1e7, -1e7, 1e7]] },
      { id: 6, image_id: 1, category_id: 1, segmentation: [[-W, -H, 2 * W, -H, 2 * W, 2 * H]] },
    ] as never;
    const t0 = performance.now();
    const report = importCoco(store, doc);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(Object.fromEntries(report.skipped.map((s) => [s.id, s.reason]))).toEqual({
      1: 'malformed polygon: each polygon must be a list of numbers',
      2: 'malformed polygon: each polygon must be a list of numbers',
      3: 'malformed polygon: each polygon must be a list of numbers',
      4: 'malformed polygon: 5 numbers (need an even count of at least 6)',
      5: `malformed polygon: a point lies far outside the ${W}×${H} image`,
    });
    // A polygon reaching past the image by less than its size is clipped, as pycocotools does.
    expect(report.annotations).toBe(1);
    // Infinity written in a file (1e999) is refused the same way.
    const path = file('inf.json', JSON.stringify(good()).replace('[[10,10,30', '[[10,10,1e999'));
    const fromFile = await importCocoFile(store, path);
    expect(fromFile.skipped).toEqual([{ what: 'annotation', id: 1, reason: 'malformed polygon: each polygon must be a list of numbers' }]);
  });

  it('ids nested 100,000 deep are described, never echoed, and the report serialises', async () => {
    const deep = deepText(100_000);
    const text = `{"images": [{"id": ${deep}, "file_name": "three.png", "width": 32, "height": 32}, {"id": 1, "file_name": "one.png", "width": ${W}, "height": ${H}}],
      "categories": [{"id": ${deep}, "name": "deep"}, {"id": 1, "name": "cat"}],
      "annotations": [{"id": ${deep}, "image_id": 1, "category_id": 1, "segmentation": [[0, 0, 5, 0, 5, 5]]},
                      {"id": 7, "image_id": ${deep}, "category_id": 1, "segmentation": [[0, 0, 5, 0, 5, 5]]},
                      {"id": 8, "image_id": 1, "category_id": 1, "segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]]}]}`;
    const report = await importCocoFile(store, file('deep.json', text));
    expectPlainIds(report);
    expect(report.skipped).toEqual([
      { what: 'category', id: '#0 (id is an array)', reason: expect.stringMatching(/^id: /) },
      { what: 'image', id: '#0 (id is an array)', reason: expect.stringMatching(/^id: /) },
      { what: 'annotation', id: '#0 (id is an array)', reason: expect.stringMatching(/^id: /) },
      { what: 'annotation', id: 7, reason: expect.stringMatching(/^image_id: /) },
    ]);
    expect(report).toMatchObject({ annotations: 1, images: 1, categoriesCreated: 1 });
  });

  it('100,000 annotations pointing to unknown images', () => {
    const before = snapshot();
    const doc = good();
    doc.categories = [{ id: 1, name: 'existing' }];
    doc.annotations = Array.from({ length: 100_000 }, (_, i) => ({ id: i + 1, image_id: 1000 + i, category_id: 1, segmentation: [[0, 0, 5, 0, 5, 5]] }));
    const t0 = performance.now();
    const report = importCoco(store, doc);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(10_000);
    expect(report.annotations).toBe(0);
    expect(report.skipped).toHaveLength(100_000);
    expect(report.skipped[99_999]).toEqual({ what: 'annotation', id: 100_000, reason: 'unknown image_id 100999' });
    expect(snapshot()).toEqual(before);
  });
});

describe('text encodings', () => {
  const expected = { images: 1, annotations: 1, categoriesCreated: 1, skipped: [] };

  it('a UTF-8 file with a byte-order mark imports like one without', async () => {
    const path = file('bom.json', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(good()))]));
    expect(await importCocoFile(store, path)).toEqual(expected);
  });

  it('UTF-16 files with a byte-order mark (little and big endian) are read as such', async () => {
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(JSON.stringify(good()), 'utf16le')]);
    expect(await importCocoFile(store, file('le.json', le))).toEqual(expected);
    const be = Buffer.from(le);
    be.swap16();
    // Same masks again: nothing new, and nothing refused.
    expect(await importCocoFile(store, file('be.json', be))).toEqual({
      images: 0, annotations: 0, categoriesCreated: 0,
      skipped: [{ what: 'annotation', id: 1, reason: 'already in the project' }],
    });
  });
});
