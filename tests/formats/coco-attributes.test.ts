// COCO `attributes` as CVAT writes them: exported from the masks' values (defaults filled in), imported into
// attribute definitions of the annotation's category, and a CVAT-style file imports with nothing skipped.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportCoco } from '../../src/core/formats/coco/export';
import { importCoco } from '../../src/core/formats/coco/import';
import { ProjectStore, indexFolder } from '../../src/core/project';
import { area, bbox, encode, toCompressedString } from '../../src/shared/masks';
import { tempDir, writeImage } from '../helpers/folder';
import { rectMask } from '../helpers/masks';

const W = 64;
const H = 48;
let dir: ReturnType<typeof tempDir>;
let store: ProjectStore;

beforeEach(async () => {
  dir = tempDir();
  await writeImage(join(dir.path, 'one.png'), W, H);
  store = ProjectStore.open(dir.path);
  await indexFolder(store);
});
afterEach(() => {
  store.close();
  dir.cleanup();
});

function add(categoryId: number, mask: Uint8Array, attributes = {}) {
  const rle = encode(mask, H, W);
  return store.addAnnotation({
    imageId: store.getImageByPath('one.png')!.id, categoryId, rle: toCompressedString(rle), height: H, width: W,
    area: area(rle), bbox: bbox(rle), source: 'manual', attributes,
  });
}

/** A COCO file as CVAT 2.x exports it: `attributes` on every annotation (occluded, rotation, the task's own). */
function cvatFile() {
  const poly = (x0: number, y0: number, x1: number, y1: number) => [[x0, y0, x1, y0, x1, y1, x0, y1]];
  const ann = (id: number, category_id: number, segmentation: number[][], attributes: Record<string, unknown>) => ({
    id, image_id: 1, category_id, segmentation, area: 100, bbox: [0, 0, 10, 10], iscrowd: 0, attributes,
  });
  return {
    licenses: [{ name: '', id: 0, url: '' }],
    info: { contributor: '', date_created: '', description: '', url: '', version: '', year: '' },
    categories: [{ id: 1, name: 'car', supercategory: '' }, { id: 2, name: 'person', supercategory: '' }],
    images: [{ id: 1, width: W, height: H, file_name: 'one.png', license: 0, flickr_url: '', coco_url: '', date_captured: 0 }],
    annotations: [
      ann(1, 1, poly(2, 2, 20, 20), { occluded: false, rotation: 0.0, truncated: true, color: 'red' }),
      ann(2, 1, poly(30, 2, 50, 20), { occluded: true, rotation: 0.0, truncated: 'partly', color: 'blue' }),
      ann(3, 2, poly(2, 25, 20, 45), { occluded: false, rotation: 0.0, pose: 'standing', keyframe: true, track_id: null }),
    ],
  };
}

describe('COCO attributes', () => {
  it('export writes every defined attribute on each annotation, the default where the mask has none', () => {
    const car = store.addCategory({ name: 'car' }).id;
    const plain = store.addCategory({ name: 'plain' }).id;
    store.addAttributeDef({ categoryId: car, name: 'occluded', type: 'boolean' });
    store.addAttributeDef({ categoryId: car, name: 'view', type: 'select', options: ['front', 'side'] });
    store.addAttributeDef({ categoryId: car, name: 'note', type: 'text' });
    add(car, rectMask(H, W, 0, 0, 10, 10), { occluded: true, note: 'dented' });
    add(car, rectMask(H, W, 20, 0, 30, 10));
    add(plain, rectMask(H, W, 40, 0, 50, 10));
    const { document } = exportCoco(store, { format: 'rle' });
    expect(document.annotations.map((a) => a.attributes)).toEqual([
      { occluded: true, view: 'front', note: 'dented' },
      { occluded: false, view: 'front', note: '' },
      undefined,
    ]);
  });

  it('a CVAT-style file imports with nothing skipped, its attributes as definitions (boolean or text) and values', () => {
    const report = importCoco(store, cvatFile());
    expect(report).toEqual({ images: 1, annotations: 3, categoriesCreated: 2, skipped: [] });
    const car = store.getCategoryByName('car')!.id;
    const person = store.getCategoryByName('person')!.id;
    expect(store.listAttributeDefs(car).map((d) => [d.name, d.type])).toEqual([
      ['occluded', 'boolean'], ['rotation', 'text'], ['truncated', 'text'], ['color', 'text'],
    ]);
    expect(store.listAttributeDefs(person).map((d) => [d.name, d.type])).toEqual([
      ['occluded', 'boolean'], ['rotation', 'text'], ['pose', 'text'], ['keyframe', 'boolean'],
    ]);
    expect(store.listAnnotations({}).map((a) => a.attributes)).toEqual([
      { occluded: false, rotation: '0', truncated: 'true', color: 'red' }, // truncated is text: 'partly' below
      { occluded: true, rotation: '0', truncated: 'partly', color: 'blue' },
      { occluded: false, rotation: '0', pose: 'standing', keyframe: true }, // track_id null: no value
    ]);
  });

  it('export → import into a fresh project gives the same definitions and values', async () => {
    const car = store.addCategory({ name: 'car' }).id;
    store.addAttributeDef({ categoryId: car, name: 'occluded', type: 'boolean' });
    store.addAttributeDef({ categoryId: car, name: 'note', type: 'text' });
    add(car, rectMask(H, W, 0, 0, 10, 10), { occluded: true, note: 'dented' });
    add(car, rectMask(H, W, 20, 0, 30, 10), { occluded: false });
    const { document } = exportCoco(store, { format: 'polygons' });

    const other = tempDir();
    await writeImage(join(other.path, 'one.png'), W, H);
    const s2 = ProjectStore.open(other.path);
    try {
      await indexFolder(s2);
      expect(importCoco(s2, JSON.parse(JSON.stringify(document))).skipped).toEqual([]);
      const car2 = s2.getCategoryByName('car')!.id;
      expect(s2.listAttributeDefs(car2).map((d) => [d.name, d.type])).toEqual([['occluded', 'boolean'], ['note', 'text']]);
      expect(s2.listAnnotations({}).map((a) => a.attributes)).toEqual([{ occluded: true, note: 'dented' }, { occluded: false, note: '' }]);
    } finally {
      s2.close();
      other.cleanup();
    }
  });

  it('values must fit the definitions the project has; an annotation whose values do not is skipped with the reason', () => {
    const car = store.addCategory({ name: 'car' }).id;
    store.addAttributeDef({ categoryId: car, name: 'occluded', type: 'boolean' });
    store.addAttributeDef({ categoryId: car, name: 'color', type: 'select', options: ['red', 'blue'] });
    const doc = cvatFile();
    doc.annotations[1]!.attributes.occluded = 'yes';
    const report = importCoco(store, doc);
    expect(report.skipped).toEqual([{ what: 'annotation', id: 2, reason: 'attribute "occluded" is true/false in the project, not "yes"' }]);
    expect(store.listAttributeDefs(car).map((d) => [d.name, d.type])).toEqual([
      ['occluded', 'boolean'], ['color', 'select'], ['rotation', 'text'], ['truncated', 'boolean'],
    ]);
    expect(store.listAnnotations({ categoryId: car }).map((a) => a.attributes)).toEqual([{ occluded: false, rotation: '0', truncated: true, color: 'red' }]);
    const bad = cvatFile();
    bad.annotations[0]!.attributes.color = 'green';
    expect(importCoco(store, { ...bad, annotations: [bad.annotations[0]] }).skipped[0]!.reason).toBe('attribute "color" is one of "red", "blue" in the project, not "green"');
  });

  it('trims attribute names as the project does; a blank name skips its annotation', () => {
    const doc = cvatFile();
    doc.annotations[0]!.attributes = { ' pose ': 'sitting' };
    doc.annotations[1]!.attributes = { ' ': true };
    const report = importCoco(store, { ...doc, annotations: doc.annotations.slice(0, 2) });
    expect(report.skipped).toEqual([{ what: 'annotation', id: 2, reason: 'an attribute needs a name' }]);
    const car = store.getCategoryByName('car')!.id;
    expect(store.listAttributeDefs(car).map((d) => d.name)).toEqual(['pose']);
    expect(store.listAnnotations({ categoryId: car }).map((a) => a.attributes)).toEqual([{ pose: 'sitting' }]);
  });
});
