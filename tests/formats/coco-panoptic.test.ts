// COCO panoptic export and import: every export passes the independent reader (panopticapi's rules), a round
// trip gives back the project's masks (overlaps flattened for the mask drawn on top, stuff merged per category),
// damaged files are refused whole with a message that names the damage, and a failed export leaves nothing.
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CocoFileError, importCocoFile } from '../../src/core/formats/coco/import';
import { writePanoptic } from '../../src/core/formats/coco/panoptic-export';
import { FileRefusedError, FileWriteError } from '../../src/core/formats/files';
import { ProjectStore, indexFolder } from '../../src/core/project';
import { area, bbox, decode, encode, fromCompressedString, toCompressedString } from '../../src/shared/masks';
import { tempDir, writeImage } from '../helpers/folder';
import { rectMask } from '../helpers/masks';
import { readPanoptic } from '../helpers/panoptic-reader';

const W = 40;
const H = 30;

let dir: ReturnType<typeof tempDir>;
let folder: string;
let store: ProjectStore;
let json: string;
let pngs: string;

beforeEach(async () => {
  dir = tempDir();
  folder = join(dir.path, 'photos');
  await writeImage(join(folder, 'street.png'), W, H);
  await writeImage(join(folder, 'sub/field.jpg'), W, H, 'jpeg');
  store = ProjectStore.open(folder);
  await indexFolder(store);
  json = join(dir.path, 'pan.json');
  pngs = join(dir.path, 'pan');
});
afterEach(() => {
  store.close();
  dir.cleanup();
});

function add(path: string, categoryId: number | null, mask: Uint8Array, extra: { iscrowd?: 0 | 1 } = {}) {
  const rle = encode(mask, H, W);
  return store.addAnnotation({
    imageId: store.getImageByPath(path)!.id,
    categoryId,
    rle: toCompressedString(rle),
    height: H,
    width: W,
    area: area(rle),
    bbox: bbox(rle),
    source: 'manual',
    ...extra,
  });
}

/** A second project over copies of the same images, to import into. */
async function freshProject(): Promise<ProjectStore> {
  const other = join(dir.path, 'copy');
  cpSync(join(folder, 'street.png'), join(other, 'street.png'));
  cpSync(join(folder, 'sub/field.jpg'), join(other, 'sub/field.jpg'));
  const s = ProjectStore.open(other);
  await indexFolder(s);
  return s;
}

/** Row-major 0/1 pixels of every mask of `path` in `s`, keyed by category name, several masks of a name in id order. */
function masksOf(s: ProjectStore, path: string): Map<string, Uint8Array[]> {
  const names = new Map(s.listCategories().map((c) => [c.id, c.name]));
  const out = new Map<string, Uint8Array[]>();
  for (const a of s.listAnnotations({ imageId: s.getImageByPath(path)!.id })) {
    const name = names.get(a.categoryId!)!;
    out.set(name, [...(out.get(name) ?? []), decode(fromCompressedString(a.rle, a.height, a.width))]);
  }
  return out;
}

const rgb = (hex: string) => [parseInt(hex.slice(1, 3), 16), parseInt(hex.slice(3, 5), 16), parseInt(hex.slice(5, 7), 16)];
const or = (a: Uint8Array, b: Uint8Array) => a.map((v, i) => (v || b[i] ? 1 : 0));
const minus = (a: Uint8Array, b: Uint8Array) => a.map((v, i) => (v && !b[i] ? 1 : 0));

describe('COCO panoptic export', () => {
  it('writes one RGB PNG of segment ids per image and a JSON that the independent reader accepts', async () => {
    const person = store.addCategory({ name: 'person', isthing: true });
    const sky = store.addCategory({ name: 'sky', isthing: false });
    add('street.png', person.id, rectMask(H, W, 2, 2, 10, 20));
    add('street.png', person.id, rectMask(H, W, 12, 2, 18, 20), { iscrowd: 1 });
    add('street.png', sky.id, rectMask(H, W, 20, 0, 40, 10));
    add('sub/field.jpg', sky.id, rectMask(H, W, 0, 0, 40, 5));

    const report = await writePanoptic(store, json);

    const read = await readPanoptic(json, pngs);
    expect(read.problems).toEqual([]);
    expect(readdirSync(pngs, { recursive: true }).sort()).toEqual(['.difflabel-export', 'street.png', 'sub', 'sub/field.png']);
    expect(read.doc.categories).toEqual([
      { id: person.id, name: 'person', supercategory: '', isthing: 1, color: rgb(person.color) },
      { id: sky.id, name: 'sky', supercategory: '', isthing: 0, color: rgb(sky.color) },
    ]);
    expect(read.doc.images.map((i: { file_name: string }) => i.file_name)).toEqual(['street.png', 'sub/field.jpg']);
    const street = read.doc.annotations.find((a: { file_name: string }) => a.file_name === 'street.png');
    expect(street.segments_info).toEqual([
      { id: 1, category_id: person.id, area: 8 * 18, bbox: [2, 2, 8, 18], iscrowd: 0 },
      { id: 2, category_id: person.id, area: 6 * 18, bbox: [12, 2, 6, 18], iscrowd: 1 },
      { id: 3, category_id: sky.id, area: 20 * 10, bbox: [20, 0, 20, 10], iscrowd: 0 },
    ]);
    // Pixel (3, 3) is segment 1: R = 1, G = B = 0; unlabelled pixels are 0.
    const { data, info } = await sharp(join(pngs, 'street.png')).raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(3);
    expect([...data.subarray(3 * (3 * W + 3), 3 * (3 * W + 3) + 3)]).toEqual([1, 0, 0]);
    expect([...data.subarray(3 * (25 * W + 1), 3 * (25 * W + 1) + 3)]).toEqual([0, 0, 0]);
    expect(report).toMatchObject({ images: 2, annotations: 4, segments: 4, categories: 2, changedHands: { pixels: 0, images: [] }, stuffMerged: [], skipped: [], leftOut: [] });
  });

  it('gives overlapping pixels to the mask drawn on top (the later one) and counts the pixels that changed hands', async () => {
    const car = store.addCategory({ name: 'car', isthing: true });
    const road = store.addCategory({ name: 'road', isthing: false });
    add('street.png', road.id, rectMask(H, W, 0, 10, 40, 30));
    add('street.png', car.id, rectMask(H, W, 5, 5, 15, 15)); // 5 rows over the road: 50 px
    add('street.png', car.id, rectMask(H, W, 10, 12, 20, 20)); // over the first car (5×3) and the road (10×8)
    const hidden = add('sub/field.jpg', car.id, rectMask(H, W, 2, 2, 4, 4));
    add('sub/field.jpg', road.id, rectMask(H, W, 0, 0, 10, 10)); // covers the car entirely

    const report = await writePanoptic(store, json);

    const read = await readPanoptic(json, pngs);
    expect(read.problems).toEqual([]);
    // Pixels under more than one mask, each counted once: road∩car1 (50) and car2 (80, all on the road), 15 of them in both.
    expect(report.changedHands).toEqual({ pixels: 115 + 4, images: [{ path: 'street.png', pixels: 115 }, { path: 'sub/field.jpg', pixels: 4 }] });
    expect(report.skipped).toEqual([{ annotationId: hidden.id, reason: 'no pixel left: empty, or entirely under masks drawn above it' }]);
    const segs = read.images.get('street.png')!.segments;
    expect([...segs.values()].map((s) => s.pixels.length)).toEqual([800 - 115, 100 - 15, 80]);
  });

  it('writes the masks of one stuff category on an image as one segment and says so', async () => {
    const grass = store.addCategory({ name: 'grass', isthing: false });
    add('street.png', grass.id, rectMask(H, W, 0, 20, 10, 30));
    add('street.png', grass.id, rectMask(H, W, 5, 25, 30, 30)); // overlaps the first: same segment, no pixel changes hands
    add('street.png', grass.id, rectMask(H, W, 35, 0, 40, 5));

    const report = await writePanoptic(store, json);

    const read = await readPanoptic(json, pngs);
    expect(read.problems).toEqual([]);
    const street = read.doc.annotations.find((a: { file_name: string }) => a.file_name === 'street.png');
    expect(street.segments_info).toEqual([{ id: 1, category_id: grass.id, area: 100 + 125 - 25 + 25, bbox: [0, 0, 40, 30], iscrowd: 0 }]);
    expect(report.stuffMerged).toEqual([{ path: 'street.png', category: 'grass', masks: 3 }]);
    expect(report.changedHands.pixels).toBe(0);
    expect(report).toMatchObject({ annotations: 3, segments: 1 });
  });

  it('leaves out masks without a category and reports them', async () => {
    const person = store.addCategory({ name: 'person', isthing: true });
    const loose = add('street.png', null, rectMask(H, W, 0, 0, 5, 5));
    add('street.png', person.id, rectMask(H, W, 3, 3, 8, 8));

    const report = await writePanoptic(store, json);

    expect((await readPanoptic(json, pngs)).problems).toEqual([]);
    expect(report.skipped).toEqual([{ annotationId: loose.id, reason: 'no category assigned (a panoptic segment needs one)' }]);
    expect(report.changedHands.pixels).toBe(0); // a mask left out takes no pixel from anyone
  });

  it('names the PNGs of images that share a stem apart', async () => {
    await writeImage(join(folder, 'street.jpg'), W, H, 'jpeg');
    await indexFolder(store);
    await writePanoptic(store, json);
    const read = await readPanoptic(json, pngs);
    expect(read.problems).toEqual([]);
    const ids = new Map(store.listImages({}).map((i) => [i.path, i.id]));
    expect(read.doc.annotations.map((a: { file_name: string }) => a.file_name).sort()).toEqual(
      [`street-${ids.get('street.jpg')}.png`, `street-${ids.get('street.png')}.png`, 'sub/field.png'].sort(),
    );
  });
});

describe('the independent reader', () => {
  it('finds damage: an area off by one, a wrong bbox, an unknown category, a stuff category twice, a PNG id not listed', async () => {
    const sky = store.addCategory({ name: 'sky', isthing: false });
    add('street.png', sky.id, rectMask(H, W, 0, 0, 10, 10));
    add('street.png', store.addCategory({ name: 'person', isthing: true }).id, rectMask(H, W, 20, 20, 30, 30));
    await writePanoptic(store, json);
    const doc = JSON.parse(readFileSync(json, 'utf8'));
    const [a, b] = doc.annotations.find((x: { file_name: string }) => x.file_name === 'street.png').segments_info;
    a.area += 1;
    b.bbox[0] += 1;
    b.category_id = sky.id;
    writeFileSync(json, JSON.stringify(doc));
    expect((await readPanoptic(json, pngs)).problems).toEqual([
      'street.png: segment 1 area 101, PNG has 100',
      `street.png: stuff category ${sky.id} in two segments`,
      'street.png: segment 2 bbox [21,20,10,10], PNG gives [20,20,10,10]',
    ]);
    b.category_id = 99;
    doc.annotations[0].segments_info.pop();
    writeFileSync(json, JSON.stringify(doc));
    expect((await readPanoptic(json, pngs)).problems).toEqual(['street.png: segment 1 area 101, PNG has 100', 'street.png: segment 2 is in the PNG and not in JSON']);
  });
});

describe('COCO panoptic round trip', () => {
  it('imports back the same masks: exact where nothing overlapped, the top mask whole and the one under it cut, stuff merged', async () => {
    const person = store.addCategory({ name: 'person', isthing: true });
    const car = store.addCategory({ name: 'car', isthing: true });
    const sky = store.addCategory({ name: 'sky', isthing: false });
    const personMask = rectMask(H, W, 2, 2, 10, 20);
    const carMask = rectMask(H, W, 8, 10, 20, 25); // drawn on top of the person
    const sky1 = rectMask(H, W, 20, 0, 40, 5);
    const sky2 = rectMask(H, W, 30, 0, 40, 10);
    add('street.png', person.id, personMask);
    add('street.png', car.id, carMask, { iscrowd: 1 });
    add('street.png', sky.id, sky1);
    add('street.png', sky.id, sky2);
    const fieldMask = rectMask(H, W, 0, 0, 40, 30);
    add('sub/field.jpg', sky.id, fieldMask);
    await writePanoptic(store, json);
    expect((await readPanoptic(json, pngs)).problems).toEqual([]);

    const other = await freshProject();
    try {
      const report = await importCocoFile(other, json);

      expect(report).toEqual({ images: 2, annotations: 4, categoriesCreated: 3, skipped: [] });
      expect(other.listCategories().map((c) => [c.name, c.isthing, c.color])).toEqual([['person', true, person.color], ['car', true, car.color], ['sky', false, sky.color]]);
      const street = masksOf(other, 'street.png');
      expect(street.get('person')).toEqual([minus(personMask, carMask)]);
      expect(street.get('car')).toEqual([carMask]);
      expect(street.get('sky')).toEqual([or(sky1, sky2)]);
      expect(masksOf(other, 'sub/field.jpg').get('sky')).toEqual([fieldMask]);
      expect(other.listAnnotations({}).map((a) => [a.iscrowd, a.source])).toEqual([[0, 'import'], [1, 'import'], [0, 'import'], [0, 'import']]);

      // Importing it again adds nothing.
      expect((await importCocoFile(other, json)).annotations).toBe(0);
      expect(other.countAnnotations()).toBe(4);
    } finally {
      other.close();
    }
  });
});

describe('COCO panoptic import skips what does not fit the project', () => {
  it('segments of an unknown category and images the project lacks are reported; the rest is imported', async () => {
    const person = store.addCategory({ name: 'person', isthing: true });
    const dog = store.addCategory({ name: 'dog', isthing: true });
    add('street.png', person.id, rectMask(H, W, 2, 2, 10, 20));
    add('street.png', dog.id, rectMask(H, W, 20, 2, 30, 20));
    add('sub/field.jpg', person.id, rectMask(H, W, 0, 0, 4, 4));
    await writePanoptic(store, json);
    const doc = JSON.parse(readFileSync(json, 'utf8'));
    doc.categories = doc.categories.filter((c: { name: string }) => c.name !== 'dog');
    writeFileSync(json, JSON.stringify(doc));
    const other = await freshProject();
    try {
      rmSync(join(dir.path, 'copy', 'sub', 'field.jpg'));
      await indexFolder(other);
      const field = doc.images.find((i: { file_name: string }) => i.file_name === 'sub/field.jpg').id;
      const street = doc.images.find((i: { file_name: string }) => i.file_name === 'street.png').id;

      const report = await importCocoFile(other, json);

      expect(report).toEqual({
        images: 1,
        annotations: 1,
        categoriesCreated: 1,
        skipped: [
          { what: 'image', id: field, reason: 'no image "sub/field.jpg" in the project folder' },
          { what: 'annotation', id: `${street}/2`, reason: `unknown category_id ${dog.id}` },
          { what: 'annotation', id: '#1', reason: `image ${field}: its image was skipped` },
        ],
      });
      expect(masksOf(other, 'street.png').get('person')).toEqual([rectMask(H, W, 2, 2, 10, 20)]);
    } finally {
      other.close();
    }
  });
});

describe('COCO panoptic import refuses damaged files whole', () => {
  let other: ProjectStore;
  beforeEach(async () => {
    const person = store.addCategory({ name: 'person', isthing: true });
    add('street.png', person.id, rectMask(H, W, 2, 2, 10, 20));
    add('sub/field.jpg', person.id, rectMask(H, W, 0, 0, 4, 4));
    await writePanoptic(store, json);
    other = await freshProject();
  });
  afterEach(() => other.close());

  const refused = async (message: RegExp) => {
    const e = await importCocoFile(other, json).catch((x) => x);
    expect(e).toBeInstanceOf(CocoFileError);
    expect(e.message).toMatch(message);
    expect(other.countAnnotations()).toBe(0);
    expect(other.listCategories()).toEqual([]);
  };
  const editJson = (edit: (doc: any) => void) => {
    const doc = JSON.parse(readFileSync(json, 'utf8'));
    edit(doc);
    writeFileSync(json, JSON.stringify(doc));
  };
  const writePng = (name: string, w: number, h: number, fill: (p: number) => number) => {
    const rgb = Buffer.alloc(w * h * 3);
    for (let p = 0; p < w * h; p++) {
      const id = fill(p);
      rgb[3 * p] = id & 255;
      rgb[3 * p + 1] = (id >> 8) & 255;
      rgb[3 * p + 2] = id >> 16;
    }
    return sharp(rgb, { raw: { width: w, height: h, channels: 3 } }).png().toFile(join(pngs, name));
  };

  it('without its PNG folder', async () => {
    rmSync(pngs, { recursive: true });
    await refused(/^the PNG folder .*pan is missing/);
  });

  it('with a PNG missing', async () => {
    rmSync(join(pngs, 'sub/field.png'));
    await refused(/^sub\/field\.png: the PNG is missing from /);
  });

  it('with a PNG of another size than its image', async () => {
    await writePng('street.png', W + 1, H, () => 1);
    await refused(/^street\.png: the PNG is 41×30 but its image is 40×30$/);
  });

  it('with ids in the PNG that segments_info does not list', async () => {
    await writePng('street.png', W, H, (p) => (p < 10 ? 7 : p < 20 ? 1 : 0));
    await refused(/^street\.png: segment ids 7 are in the PNG but not in segments_info$/);
  });

  it('with ids in segments_info that have no pixel in the PNG', async () => {
    editJson((doc) => doc.annotations[0].segments_info.push({ id: 300, category_id: doc.categories[0].id, area: 1, bbox: [0, 0, 1, 1], iscrowd: 0 }));
    await refused(/^street\.png: segment ids 300 are in segments_info but have no pixel in the PNG$/);
  });

  it('with an id listed twice', async () => {
    editJson((doc) => doc.annotations[0].segments_info.push(doc.annotations[0].segments_info[0]));
    await refused(/^street\.png: segment id 1 is listed twice in segments_info$/);
  });

  it('with a PNG that is not an image', async () => {
    writeFileSync(join(pngs, 'street.png'), 'not a png');
    await refused(/^street\.png: cannot read the PNG/);
  });

  it('with a PNG name that leads out of its folder', async () => {
    editJson((doc) => (doc.annotations[0].file_name = '../pan.json'));
    await refused(/^\.\.\/pan\.json: a PNG name must stay inside /);
  });

  it('that is not JSON', async () => {
    writeFileSync(json, '{"annotations": [');
    await refused(/is not valid JSON \(at byte \d+\)$/);
  });

  it('uploaded without its PNGs (no path to find them from)', async () => {
    const { importCoco } = await import('../../src/core/formats/coco/import');
    expect(() => importCoco(other, JSON.parse(readFileSync(json, 'utf8')))).toThrow(/^a COCO panoptic file needs its folder of PNGs/);
  });
});

describe('COCO panoptic export is all or nothing', () => {
  beforeEach(() => {
    const person = store.addCategory({ name: 'person', isthing: true });
    add('street.png', person.id, rectMask(H, W, 2, 2, 10, 20));
    add('sub/field.jpg', person.id, rectMask(H, W, 0, 0, 4, 4));
  });
  const leftovers = () => readdirSync(dir.path).filter((n) => n !== 'photos').sort();

  it('a cancel half-way leaves no JSON, no PNG folder and no temporary file', async () => {
    const controller = new AbortController();
    const e = await writePanoptic(store, json, { signal: controller.signal, onProgress: (done) => done === 1 && controller.abort() }).catch((x) => x);
    expect(e).toBeInstanceOf(FileWriteError);
    expect(e.message).toMatch(/cancelled \(it is unchanged\)$/);
    expect(leftovers()).toEqual([]);
  });

  it('a cancel half-way over a previous export leaves it byte for byte', async () => {
    await writePanoptic(store, json);
    const before = { json: readFileSync(json), png: readFileSync(join(pngs, 'street.png')) };
    add('street.png', store.listCategories()[0]!.id, rectMask(H, W, 30, 20, 40, 30));
    const controller = new AbortController();
    await expect(writePanoptic(store, json, { signal: controller.signal, onProgress: (done) => done === 1 && controller.abort() })).rejects.toThrow(FileWriteError);
    expect(readFileSync(json)).toEqual(before.json);
    expect(readFileSync(join(pngs, 'street.png'))).toEqual(before.png);
    expect(leftovers()).toEqual(['pan', 'pan.json']);
  });

  it('replaces a previous export whole: a PNG of an image gone from the project goes too', async () => {
    await writePanoptic(store, json);
    writeFileSync(join(pngs, 'stale.png'), readFileSync(join(pngs, 'street.png')));
    await writePanoptic(store, json);
    expect(readdirSync(pngs, { recursive: true }).sort()).toEqual(['.difflabel-export', 'street.png', 'sub', 'sub/field.png']);
    expect((await readPanoptic(json, pngs)).problems).toEqual([]);
    expect(leftovers()).toEqual(['pan', 'pan.json']);
  });

  it('refuses a path that does not end in .json: its PNG folder would have its name', async () => {
    const e = await writePanoptic(store, join(dir.path, 'pan')).catch((x) => x);
    expect(e).toBeInstanceOf(FileRefusedError);
    expect(e.message).toMatch(/pan: a panoptic export's path must end in \.json/);
    expect(leftovers()).toEqual([]);
  });

  it('refuses to replace a folder that holds anything but PNGs, or the project\'s images', async () => {
    writeFileSync(json, '');
    cpSync(folder, pngs, { recursive: true, filter: (p) => !p.includes('.difflabel') });
    writeFileSync(join(pngs, 'notes.txt'), 'mine');
    const e = await writePanoptic(store, json).catch((x) => x);
    expect(e).toBeInstanceOf(FileRefusedError);
    expect(e.message).toMatch(/holds files that are not a previous panoptic export's PNGs/);
    expect(readFileSync(join(pngs, 'notes.txt'), 'utf8')).toBe('mine');
    // The project's own image folder, named by a JSON beside it.
    const e2 = await writePanoptic(store, join(folder, 'sub.json')).catch((x) => x);
    expect(e2).toBeInstanceOf(FileRefusedError);
    expect(existsSync(join(folder, 'sub/field.jpg'))).toBe(true);
    expect(existsSync(join(folder, 'sub.json'))).toBe(false);
  });
});
