// `difflabel export --format coco-panoptic` and `import` of a panoptic JSON, end to end through the binary.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProjectStore, indexFolder } from '../../src/core/project';
import { area, bbox, encode, toCompressedString } from '../../src/shared/masks';
import { makeImageFolder, tempDir } from '../helpers/folder';
import { rectMask } from '../helpers/masks';
import { readPanoptic } from '../helpers/panoptic-reader';

const root = join(__dirname, '..', '..');
const cli = (...args: string[]) =>
  spawnSync(join(root, 'node_modules', '.bin', 'node'), [join(root, 'bin', 'difflabel.mjs'), ...args], { encoding: 'utf8', cwd: root });

let dir: ReturnType<typeof tempDir>;
let folder: string;

beforeAll(async () => {
  dir = tempDir();
  folder = join(dir.path, 'photos');
  await makeImageFolder(folder, 3, () => [40, 30]);
  const store = ProjectStore.open(folder);
  await indexFolder(store);
  const img = store.getImageByPath('a/img000.png')!;
  const person = store.addCategory({ name: 'person', isthing: true });
  const road = store.addCategory({ name: 'road', isthing: false });
  for (const [categoryId, mask] of [[road.id, rectMask(30, 40, 0, 15, 40, 30)], [person.id, rectMask(30, 40, 5, 10, 15, 20)], [null, rectMask(30, 40, 0, 0, 2, 2)]] as const) {
    const rle = encode(mask, 30, 40);
    store.addAnnotation({ imageId: img.id, categoryId, rle: toCompressedString(rle), height: 30, width: 40, area: area(rle), bbox: bbox(rle), source: 'manual' });
  }
  store.close();
});
afterAll(() => dir.cleanup());

describe('difflabel export --format coco-panoptic', () => {
  it('writes the JSON and its PNG folder, reports overlaps and skipped masks (exit 3), and imports back', async () => {
    const out = join(dir.path, 'panoptic.json');
    let r = cli('export', folder, '--format', 'coco-panoptic', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(3);
    expect(r.stdout).toMatch(/^wrote .*panoptic\.json and .*panoptic: 3 images, 2 segments from 2 masks, 2 categories$/m);
    expect(r.stdout).toMatch(/^ {2}overlapping masks: 50 pixels went to the mask drawn on top, on 1 images$/m);
    expect(r.stdout).toMatch(/^ {2}skipped annotation 3: no category assigned/m);
    expect((await readPanoptic(out, join(dir.path, 'panoptic'))).problems).toEqual([]);

    const copy = join(dir.path, 'copy');
    cpSync(folder, copy, { recursive: true });
    rmSync(join(copy, '.difflabel'), { recursive: true });
    r = cli('import', copy, out);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/imported 2 annotations on 1 images; 2 categories created; 0 skipped/);
    const s2 = ProjectStore.open(copy);
    try {
      expect(s2.listCategories().map((c) => [c.name, c.isthing])).toEqual([['person', true], ['road', false]]);
      expect(s2.listAnnotations({}).map((a) => a.area).sort()).toEqual([100, 40 * 15 - 50].sort());
    } finally {
      s2.close();
    }
  });

  it('refuses the instance options, and a damaged panoptic file on import with its reason (exit 1)', () => {
    const r = cli('export', folder, '--format', 'coco-panoptic', '--polygons', '--out', join(dir.path, 'x.json'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--polygons, --rle, --force-polygons and --tolerance are for --format coco/);
    expect(existsSync(join(dir.path, 'x.json'))).toBe(false);

    const out = join(dir.path, 'damaged.json');
    expect(cli('export', folder, '--format', 'coco-panoptic', '--out', out).status).toBe(3);
    rmSync(join(dir.path, 'damaged', 'a', 'img000.png'));
    const i = cli('import', folder, out);
    expect(i.status).toBe(1);
    expect(i.stderr).toMatch(/a\/img000\.png: the PNG is missing from /);
    expect(i.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
