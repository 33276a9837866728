// `npm run bench -- coco [--images N] [--masks M]`: COCO export of N images × M masks (default 2,000 × 20),
// as RLE and as polygons, and import of the exported file into a fresh project. Baseline in the same run:
// JSON.stringify of the finished document (what any exporter pays), so the mask work is the difference.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportCoco } from '../src/core/formats/coco/export';
import { importCoco } from '../src/core/formats/coco/import';
import { area, bbox, encode, toCompressedString } from '../src/shared/masks';
import { ProjectStore } from '../src/core/project';

const { values } = parseArgs({ options: { images: { type: 'string', default: '2000' }, masks: { type: 'string', default: '20' } } });
const N = Number(values.images);
const M = Number(values.masks);
const W = 640;
const H = 480;

/** A blobby mask: an ellipse with a notch and, for every third mask, a hole — realistic run counts. */
function blob(i: number): Uint8Array {
  const m = new Uint8Array(W * H);
  const cx = 60 + ((i * 97) % (W - 120));
  const cy = 60 + ((i * 57) % (H - 120));
  const rx = 20 + (i % 40);
  const ry = 15 + ((i * 7) % 35);
  for (let y = Math.max(0, cy - ry); y < Math.min(H, cy + ry); y++)
    for (let x = Math.max(0, cx - rx); x < Math.min(W, cx + rx); x++) {
      const d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2;
      const notch = x > cx && Math.abs(y - cy) < ry / 5;
      const hole = i % 3 === 0 && ((x - cx + rx / 2) / rx) ** 2 + ((y - cy) / ry) ** 2 < 0.04; // left of the notch: a closed hole
      if (d <= 1 && !notch && !hole) m[y * W + x] = 1;
    }
  return m;
}

function time<T>(fn: () => T): { ms: number; value: T } {
  const t = performance.now();
  const value = fn();
  return { ms: performance.now() - t, value };
}

const dir = mkdtempSync(join(tmpdir(), 'difflabel-bench-coco-'));
try {
  const store = ProjectStore.open(dir);
  const imgs = store.saveIndexedImages(
    Array.from({ length: N }, (_, i) => ({ path: `img${i}.jpg`, width: W, height: H, bytes: 1, mtimeMs: 0, sha1: null, format: 'jpeg', error: null })),
  );
  const cats = Array.from({ length: 10 }, (_, i) => store.addCategory({ name: `class${i}` }));
  const masks = Array.from({ length: 97 }, (_, i) => {
    const rle = encode(blob(i), H, W);
    return { rle: toCompressedString(rle), area: area(rle), bbox: bbox(rle) };
  });
  const fill = time(() => {
    for (let i = 0; i < N; i++)
      store.addAnnotations(
        Array.from({ length: M }, (_, j) => {
          const m = masks[(i * M + j) % masks.length]!;
          return { imageId: imgs[i]!.id, categoryId: cats[j % cats.length]!.id, height: H, width: W, source: 'bench', ...m };
        }),
      );
  });
  const rle = time(() => exportCoco(store, { format: 'rle' }));
  const poly = time(() => exportCoco(store, { format: 'polygons' }));
  const json = time(() => JSON.stringify(poly.value.document));
  const file = join(dir, 'coco.json');
  writeFileSync(file, json.value);

  const other = mkdtempSync(join(tmpdir(), 'difflabel-bench-coco-import-'));
  const target = ProjectStore.open(other);
  target.saveIndexedImages(
    Array.from({ length: N }, (_, i) => ({ path: `img${i}.jpg`, width: W, height: H, bytes: 1, mtimeMs: 0, sha1: null, format: 'jpeg', error: null })),
  );
  const imported = time(() => importCoco(target, JSON.parse(json.value)));
  target.close();
  rmSync(other, { recursive: true, force: true });
  store.close();

  const annotations = N * M;
  console.log(
    JSON.stringify(
      {
        bench: 'coco',
        images: N,
        masksPerImage: M,
        imageSize: [W, H],
        annotations,
        fillStoreMs: Math.round(fill.ms),
        exportRle: { ms: Math.round(rle.ms), annotationsPerSec: Math.round(annotations / (rle.ms / 1000)) },
        exportPolygons: {
          ms: Math.round(poly.ms),
          annotationsPerSec: Math.round(annotations / (poly.ms / 1000)),
          polygons: poly.value.report.polygons,
          rleBecauseHoles: poly.value.report.rleBecauseHoles,
          fileMB: +(statSync(file).size / 1e6).toFixed(1),
        },
        baselineJsonStringifyMs: Math.round(json.ms),
        importPolygonsFile: { ms: Math.round(imported.ms), annotationsPerSec: Math.round(annotations / (imported.ms / 1000)), imported: imported.value.annotations },
        machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, memGB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
