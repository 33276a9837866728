// `npm run bench -- coco [--images N] [--masks M]`: COCO export of N images × M masks (default 2,000 × 20),
// as RLE and as polygons, streamed to a file (the CLI and desktop path) and built in memory (the web download),
// and import of the exported file into a fresh project. Baseline in the same run: JSON.stringify of the finished
// document (what any exporter pays), so the mask work is the difference. Times are wall and CPU (this process,
// all threads: on a shared machine the wall clock also counts other processes), and the garbage collector's
// pauses; perImageCpuUs compares runs of different N (it stays flat when the cost is linear).
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { exportCoco, writeCocoFile } from '../src/core/formats/coco/export';
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

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function time<T>(fn: () => T): { ms: number; value: T } {
  const t = performance.now();
  const value = fn();
  return { ms: performance.now() - t, value };
}

/** Wall and CPU time of one export, and the GC pauses in it (observed once the event loop turns). */
async function measure<T>(fn: () => T | Promise<T>): Promise<{ ms: number; cpuMs: number; gcMs: number; value: T }> {
  globalThis.gc?.();
  await new Promise((r) => setImmediate(r));
  const g = gcMs, c = cpuMs(), t = performance.now();
  const value = await fn();
  const ms = performance.now() - t, cpu = cpuMs() - c;
  await new Promise((r) => setImmediate(r));
  return { ms, cpuMs: cpu, gcMs: gcMs - g, value };
}

const figures = (m: { ms: number; cpuMs: number; gcMs: number }) => ({
  ms: Math.round(m.ms),
  cpuMs: Math.round(m.cpuMs),
  gcMs: Math.round(m.gcMs),
  annotationsPerCpuSec: Math.round((N * M) / (m.cpuMs / 1000)),
  perImageCpuUs: Math.round((m.cpuMs * 1000) / N),
});

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
  const rleFile = await measure(() => writeCocoFile(store, join(dir, 'rle.json'), { format: 'rle' }));
  const polyFile = await measure(() => writeCocoFile(store, join(dir, 'polygons.json'), { format: 'polygons' }));
  const rle = await measure(() => exportCoco(store, { format: 'rle' }));
  const poly = await measure(() => exportCoco(store, { format: 'polygons' }));
  const json = await measure(() => JSON.stringify(poly.value.document));
  const file = join(dir, 'coco.json');
  writeFileSync(file, json.value);
  if (statSync(file).size !== statSync(join(dir, 'polygons.json')).size) throw new Error('the streamed and the in-memory polygon exports differ');

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
        exportRleFile: figures(rleFile),
        exportPolygonsFile: {
          ...figures(polyFile),
          polygons: polyFile.value.polygons,
          rleBecauseHoles: polyFile.value.rleBecauseHoles,
          fileMB: +(statSync(file).size / 1e6).toFixed(1),
        },
        exportRleInMemory: figures(rle),
        exportPolygonsInMemory: figures(poly),
        baselineJsonStringify: figures(json),
        polygonsFileVsStringify: +(polyFile.cpuMs / json.cpuMs).toFixed(2),
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
