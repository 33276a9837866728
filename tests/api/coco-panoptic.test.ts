// coco.export {kind: 'panoptic'} and coco.import of a panoptic file through the contract, in web mode.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Backend } from '../../src/core/api/backend';
import sharp from 'sharp';
import { encode, fromCompressedString, toCocoRle, type Rle } from '../../src/shared/masks';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';
import { readPanoptic } from '../helpers/panoptic-reader';

const H = 30;
const W = 40;
let dir: ReturnType<typeof tempDir>;
let folder: string;
let backend: Backend;
const call = (m: string, input: unknown) => backend.dispatch(m, input) as Promise<any>;

beforeEach(async () => {
  dir = tempDir();
  folder = join(dir.path, 'photos');
  mkdirSync(join(dir.path, 'outside'));
  await makeImageFolder(folder, 2, () => [W, H]);
  backend = new Backend({ shell: 'web' });
  backend.openProject(folder);
  await backend.jobs.wait((await call('project.index', {})).jobId);
});
afterEach(async () => {
  await backend.close();
  dir.cleanup();
});

describe('coco.export kind panoptic', () => {
  it('writes the JSON and the PNG folder at out (dot-named: indexing again does not take the PNGs for images) and imports back', async () => {
    const sky = await call('categories.add', { name: 'sky', isthing: false });
    const img = (await call('images.list', {})).items[0];
    for (const x of [0, 10]) await call('annotations.add', { imageId: img.id, categoryId: sky.id, mask: toCocoRle(encode(rectMask(H, W, x, 0, x + 15, 5), H, W), false) });
    const out = join(folder, '.panoptic.json');

    const r = await call('coco.export', { kind: 'panoptic', out });

    expect(r.path).toBe(out);
    expect(r.report).toMatchObject({ images: 2, annotations: 2, segments: 1, stuffMerged: [{ path: img.path, category: 'sky', masks: 2 }], changedHands: { pixels: 0 } });
    expect((await readPanoptic(out, join(folder, '.panoptic'))).problems).toEqual([]);
    await backend.jobs.wait((await call('project.index', {})).jobId);
    expect((await call('project.stats', {})).images).toBe(2);

    const ids = (await call('annotations.list', { imageId: img.id })).map((a: { id: number }) => a.id);
    await call('annotations.deleteMany', { imageId: img.id, ids });
    const report = await call('coco.import', { file: out });
    expect(report).toEqual({ images: 1, annotations: 1, categoriesCreated: 0, skipped: [] });
    const [merged] = await call('annotations.list', { imageId: img.id });
    expect(merged).toMatchObject({ categoryId: sky.id, area: 25 * 5, bbox: [0, 0, 25, 5], source: 'import' });
  });

  it('needs out, and in web mode only inside the project folder', async () => {
    await expect(call('coco.export', { kind: 'panoptic' })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^a panoptic export is a JSON and a folder of PNGs: give out/) });
    const outside = join(dir.path, 'outside', 'p.json');
    await expect(call('coco.export', { kind: 'panoptic', out: outside })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/^web mode reads and writes files only inside the project folder/) });
    expect(existsSync(outside)).toBe(false);
    expect(existsSync(join(dir.path, 'outside', 'p'))).toBe(false);
    await expect(call('coco.export', { kind: 'semantic', out: join(folder, 'x.json') })).rejects.toMatchObject({ code: 'bad_request' });
  });
});

describe('coco.import kind panoptic', () => {
  /** Masks of a backend's project by "<image path> <category>", decoded. */
  const masksOf = async (b: Backend) => {
    const api = (m: string, input: unknown) => b.dispatch(m, input) as Promise<any>;
    const names = new Map((await api('categories.list', {})).map((c: { id: number; name: string }) => [c.id, c.name]));
    const out = new Map<string, Rle>();
    for (const img of (await api('images.list', {})).items)
      for (const a of await api('annotations.list', { imageId: img.id })) out.set(`${img.path} ${names.get(a.categoryId)}`, fromCompressedString(a.mask.counts, H, W));
    return out;
  };
  /** The export of this project (a road up to the last pixel and a car on each image), copied into `target` as `.panoptic.json` and `.panoptic/`. */
  const exportInto = async (target: string) => {
    const road = await call('categories.add', { name: 'road', isthing: false });
    const car = await call('categories.add', { name: 'car', isthing: true });
    for (const [k, img] of (await call('images.list', {})).items.entries()) {
      await call('annotations.add', { imageId: img.id, categoryId: road.id, mask: toCocoRle(encode(rectMask(H, W, 0, H - 4, W, H), H, W), false) });
      await call('annotations.add', { imageId: img.id, categoryId: car.id, mask: toCocoRle(encode(rectMask(H, W, 5 + k, 12, 20 + k, 25), H, W), false) });
    }
    await call('coco.export', { kind: 'panoptic', out: join(folder, '.panoptic.json') });
    cpSync(join(folder, '.panoptic.json'), join(target, '.panoptic.json'));
    cpSync(join(folder, '.panoptic'), join(target, '.panoptic'), { recursive: true });
    return join(target, '.panoptic.json');
  };
  let fresh: Backend;
  let freshFolder: string;
  const freshCall = (m: string, input: unknown) => fresh.dispatch(m, input) as Promise<any>;
  beforeEach(() => {
    // the first image only, not indexed yet: the import indexes first
    freshFolder = join(dir.path, 'fresh');
    cpSync(join(folder, 'a'), join(freshFolder, 'a'), { recursive: true });
    fresh = new Backend({ shell: 'web' });
    fresh.openProject(freshFolder);
  });
  afterEach(() => fresh.close());

  it('imports an export into a fresh project: the masks come back pixel for pixel, its categories created, the image it lacks reported', async () => {
    const json = await exportInto(freshFolder);
    const [, second] = JSON.parse(readFileSync(json, 'utf8')).images;

    const report = await freshCall('coco.import', { file: json, kind: 'panoptic' });

    expect(report).toEqual({
      images: 1, annotations: 2, categoriesCreated: 2, skipped: [
        { what: 'image', id: second.id, reason: 'no image "b/img001.png" in the project folder' },
        { what: 'annotation', id: '#1', reason: `image ${second.id}: its image was skipped` },
      ],
    });
    const original = await masksOf(backend);
    const back = await masksOf(fresh);
    expect([...back.keys()].sort()).toEqual(['a/img000.png car', 'a/img000.png road']);
    // the same runs, none empty: a mask that reaches the last pixel ends with its own run, not a run of 0 after it
    for (const [k, m] of back) expect(Array.from(m.counts), k).toEqual(Array.from(original.get(k)!.counts));
    expect((await freshCall('categories.list', {})).map((c: { name: string; isthing: boolean }) => [c.name, c.isthing])).toEqual([['road', false], ['car', true]]);
  });

  it('refuses a file of the other kind, and a panoptic import without a file, importing nothing', async () => {
    const json = await exportInto(freshFolder);
    const instances = join(freshFolder, 'instances.json');
    writeFileSync(instances, JSON.stringify((await call('coco.export', {})).document));

    await expect(freshCall('coco.import', { file: instances, kind: 'panoptic' })).rejects.toMatchObject({
      code: 'bad_request', message: `${instances} is not COCO panoptic (no annotation has segments_info): import it as COCO instances`,
    });
    await expect(freshCall('coco.import', { file: json, kind: 'instances' })).rejects.toMatchObject({
      code: 'bad_request', message: `${json} is COCO panoptic (its annotations have segments_info and PNGs): import it as COCO panoptic`,
    });
    await expect(freshCall('coco.import', { document: JSON.parse(readFileSync(json, 'utf8')), kind: 'panoptic' })).rejects.toMatchObject({
      code: 'bad_request', message: 'a COCO panoptic import reads a JSON and its folder of PNGs: give file, the JSON path',
    });
    expect((await freshCall('project.stats', {})).annotations).toBe(0);
  });

  it('refuses a missing PNG folder, a PNG of another size and a segment id listed twice, naming the file, importing nothing', async () => {
    const json = await exportInto(freshFolder);
    const doc = JSON.parse(readFileSync(json, 'utf8'));
    const png = join(freshFolder, '.panoptic', doc.annotations[0].file_name);
    const refused = (message: string) => expect(freshCall('coco.import', { file: json, kind: 'panoptic' })).rejects.toMatchObject({ code: 'bad_request', message });

    await sharp(png).resize(W * 2, H * 2, { kernel: 'nearest' }).toFile(`${png}.big`);
    cpSync(`${png}.big`, png);
    await refused(`${doc.annotations[0].file_name}: the PNG is ${W * 2}×${H * 2} but its image is ${W}×${H}`);

    doc.annotations[0].segments_info.push(doc.annotations[0].segments_info[0]);
    writeFileSync(json, JSON.stringify(doc));
    await refused(`${doc.annotations[0].file_name}: segment id ${doc.annotations[0].segments_info[0].id} is listed twice in segments_info`);

    rmSync(join(freshFolder, '.panoptic'), { recursive: true });
    await refused(`the PNG folder ${join(freshFolder, '.panoptic')} is missing (a panoptic JSON's PNGs are in the folder of its name beside it)`);
    expect((await freshCall('project.stats', {})).annotations).toBe(0);
  });
});
