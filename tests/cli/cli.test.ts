import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { area, encode, toCompressedString, bbox, decode, fromCocoRle, polygonsToRle } from '../../src/shared/masks';
import { ProjectStore, indexFolder } from '../../src/core/project';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { clearRect, rectMask } from '../helpers/masks';

const root = join(__dirname, '..', '..');
const cli = (...args: string[]) =>
  spawnSync(join(root, 'node_modules', '.bin', 'node'), [join(root, 'bin', 'difflabel.mjs'), ...args], { encoding: 'utf8', cwd: root });

let dir: ReturnType<typeof tempDir>;
let folder: string;

beforeAll(async () => {
  dir = tempDir();
  folder = join(dir.path, 'photos');
  await makeImageFolder(folder, 12, () => [40, 30]);
  writeFileSync(join(folder, 'broken.jpg'), 'this is not an image');
  writeFileSync(join(folder, 'empty.png'), '');
});
afterAll(() => dir.cleanup());

describe('difflabel CLI', () => {
  it('has --help on every command', () => {
    for (const cmd of [[], ['index'], ['stats'], ['export'], ['import'], ['serve']]) {
      const r = cli(...cmd, '--help');
      expect(r.status, cmd.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/Usage: difflabel/);
    }
  });

  it('indexes a folder, reports broken files with reasons and exits 3; a second run changes nothing', () => {
    let r = cli('index', folder);
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/12 added, 0 updated, 0 removed, 0 unchanged, 2 failed/);
    expect(r.stdout).toMatch(/failed: broken\.jpg: .+/);
    expect(r.stdout).toMatch(/failed: empty\.png: .+/);
    r = cli('index', folder, '--json');
    expect(r.status).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ added: 0, updated: 0, unchanged: 14, failed: [], stillFailing: [{ path: "broken.jpg" }, { path: "empty.png" }] });
    r = cli('stats', folder, '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ images: 14, byStatus: { unlabeled: 12, error: 2 } });
  });

  it('exports and imports COCO end to end', () => {
    const store = ProjectStore.open(folder);
    const cat = store.addCategory({ name: 'box' });
    const img = store.getImageByPath('a/img000.png')!;
    const holed = encode(clearRect(rectMask(30, 40, 5, 5, 30, 25), 40, 10, 10, 20, 20), 30, 40);
    const solid = encode(rectMask(30, 40, 0, 0, 8, 8), 30, 40);
    for (const rle of [holed, solid])
      store.addAnnotation({ imageId: img.id, categoryId: cat.id, rle: toCompressedString(rle), height: 30, width: 40, area: area(rle), bbox: bbox(rle), source: 'manual' });
    store.close();

    const out = join(dir.path, 'coco.json');
    let r = cli('export', folder, '--format', 'coco', '--polygons', '--out', out);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/1 masks with holes were written as RLE/);
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    expect(doc.images).toHaveLength(12);
    expect(doc.annotations).toHaveLength(2);
    const masks = doc.annotations.map((a: any) => decode(Array.isArray(a.segmentation) ? polygonsToRle(a.segmentation, 30, 40) : fromCocoRle(a.segmentation)));
    expect(masks).toContainEqual(decode(holed));
    expect(masks).toContainEqual(decode(solid));

    // Into a second project made from the same images.
    const copy = join(dir.path, 'copy');
    spawnSync('cp', ['-r', folder, copy]);
    spawnSync('rm', ['-rf', join(copy, '.difflabel')]);
    cli('index', copy);
    r = cli('import', copy, out);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/imported 2 annotations on 1 images; 1 categories created; 0 skipped/);
    const s2 = ProjectStore.open(copy);
    expect(s2.listAnnotations({}).map((a) => a.rle).sort()).toEqual([toCompressedString(holed), toCompressedString(solid)].sort());
    s2.close();
  });

  it('fails clearly with meaningful exit codes', () => {
    let r = cli('index', join(dir.path, 'nope'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/folder not found/);
    r = cli('export', folder, '--out');
    expect(r.status).toBe(2);
    r = cli('export', folder, '--polygons', '--rle', '--out', join(dir.path, 'x.json'));
    expect(r.status).toBe(2);
    r = cli('frobnicate');
    expect(r.status).toBe(2);
    const bad = join(dir.path, 'bad.json');
    writeFileSync(bad, JSON.stringify({ images: [] }));
    r = cli('import', folder, bad);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/missing "annotations", "categories"/);
    // A database from the future is refused, not touched.
    const db = join(folder, '.difflabel', 'project.sqlite');
    const other = join(dir.path, 'corrupt');
    spawnSync('mkdir', ['-p', join(other, '.difflabel')]);
    writeFileSync(join(other, '.difflabel', 'project.sqlite'), readFileSync(db).subarray(0, 100));
    r = cli('stats', other);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error: /);
    expect(readFileSync(join(other, '.difflabel', 'project.sqlite')).length).toBe(100);
  });

  it('export refuses to write over the project database, and a missing folder, with exit 1', () => {
    const db = join(folder, '.difflabel', 'project.sqlite');
    let r = cli('export', folder, '--out', db);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error: .+ is inside the project's \.difflabel folder/);
    expect(readFileSync(db).subarray(0, 16).toString('latin1')).toBe('SQLite format 3\0');
    r = cli('export', folder, '--out', join(dir.path, 'nope', 'coco.json'));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`error: folder not found: ${join(dir.path, 'nope')}\n`);
    r = cli('stats', folder, '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ images: 14, annotations: 2 });
  });

  it('export lists the images whose masks it left out and exits 3; import reports odd ids and keeps the good entries', async () => {
    const left = join(dir.path, 'left');
    await makeImageFolder(left, 2, () => [40, 30]);
    const store = ProjectStore.open(left);
    await indexFolder(store);
    const cat = store.addCategory({ name: 'box' });
    const rle = encode(rectMask(30, 40, 0, 0, 8, 8), 30, 40);
    for (const img of store.listImages({}))
      store.addAnnotation({ imageId: img.id, categoryId: cat.id, rle: toCompressedString(rle), height: 30, width: 40, area: area(rle), bbox: bbox(rle), source: 'manual' });
    writeFileSync(join(left, 'a', 'img000.png'), 'no longer an image');
    await indexFolder(store);
    store.close();

    const out = join(dir.path, 'left.json');
    let r = cli('export', left, '--out', out);
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/wrote .+: 1 images, 1 annotations/);
    expect(r.stdout).toMatch(/\n {2}left out: a\/img000\.png \(1 mask\): the file could not be read \(.+\): fix or replace it, then index the folder again\n/);
    expect(JSON.parse(readFileSync(out, 'utf8')).annotations).toHaveLength(1);

    const deep = '['.repeat(100_000) + '1' + ']'.repeat(100_000);
    const file = join(dir.path, 'deep.json');
    writeFileSync(file, `{"images": [{"id": 1, "file_name": "b/img001.png", "width": 40, "height": 30}], "categories": [{"id": 1, "name": "box"}],
      "annotations": [{"id": ${deep}, "image_id": 1, "category_id": 1, "segmentation": [[20, 20, 30, 20, 30, 28]]},
                      {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [[20, 20, 30, 20, 30, 28]]}]}`);
    r = cli('import', left, file);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/imported 1 annotations on 1 images; 0 categories created; 1 skipped\n {2}skipped annotation "#0 \(id is an array\)": id: /);
    const check = ProjectStore.open(left);
    expect(check.listAnnotations({ imageId: check.getImageByPath('b/img001.png')!.id })).toHaveLength(2);
    check.close();
  });

  it('import indexes the folder first, so a COCO file for a folder never opened before imports in one step', async () => {
    const fresh = join(dir.path, 'fresh');
    await makeImageFolder(fresh, 2, () => [40, 30]);
    const file = join(dir.path, 'fresh.json');
    writeFileSync(file, JSON.stringify({
      images: [{ id: 1, file_name: 'a/img000.png', width: 40, height: 30 }, { id: 2, file_name: 'gone.png', width: 40, height: 30 }],
      annotations: [{ id: 1, image_id: 1, category_id: 7, segmentation: [[2, 2, 12, 2, 12, 9]] }],
      categories: [{ id: 7, name: 'box' }],
    }));
    const r = cli('import', fresh, file);
    expect(r.stdout).toMatch(/imported 1 annotations on 1 images; 1 categories created; 1 skipped\n {2}skipped image 2: no image "gone\.png" in the project folder\n/);
    expect(r.stdout).not.toMatch(/index the folder first/);
    expect(r.status).toBe(3);
    const check = ProjectStore.open(fresh);
    expect(check.stats().images).toBe(2);
    expect(check.listAnnotations()).toHaveLength(1);
    check.close();
  });
});
