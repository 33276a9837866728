// Folder indexing speed: first full index (with thumbnails), no-change re-index, and re-index with 1% changed.
// Baselines in the same run: sharp thumbnailing alone (no sniff/sha1/database) on a subset, and the bare walk+stat.
// The generated folder is cached under os.tmpdir() between runs; its .difflabel is removed before each run.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ProjectStore, indexFolder } from '../src/core/project';
import { walkFolder } from '../src/core/project/walk';

const COUNT = Number(process.env.BENCH_IMAGES ?? 2000);
const DIR = join(os.tmpdir(), `difflabel-bench-index-${COUNT}`);
const SIZES: Array<[number, number]> = [[640, 480], [800, 600], [1024, 768], [1280, 720], [1600, 900], [1920, 1080]];
const log = (s: string) => process.stderr.write(`${s}\n`);

/** A smooth gradient with mild noise (photo-like compressibility), varied per image. */
function pixels(w: number, h: number, seed: number): Buffer {
  const px = Buffer.alloc(w * h * 3);
  let s = seed >>> 0;
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i += 3) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const n = (s >>> 28) - 8;
      px[i] = ((x * 255) / w + n + seed) & 255;
      px[i + 1] = ((y * 255) / h + n) & 255;
      px[i + 2] = (((x + y) * 128) / (w + h) + seed * 3 + n) & 255;
    }
  }
  return px;
}

async function writeImage(i: number, seed: number): Promise<string> {
  const [w, h] = SIZES[i % SIZES.length]!;
  const png = i % 4 === 3; // a quarter PNG
  const rel = join(`dir${Math.floor(i / 250)}`, `img_${String(i).padStart(5, '0')}.${png ? 'png' : 'jpg'}`);
  const img = sharp(pixels(w, h, seed), { raw: { width: w, height: h, channels: 3 } });
  const buf = png ? await img.png({ compressionLevel: 6 }).toBuffer() : await img.jpeg({ quality: 88 }).toBuffer();
  mkdirSync(join(DIR, rel, '..'), { recursive: true });
  writeFileSync(join(DIR, rel), buf);
  return rel;
}

async function generate(): Promise<number> {
  const marker = join(DIR, '.complete');
  if (existsSync(marker)) return 0;
  const t0 = performance.now();
  rmSync(DIR, { recursive: true, force: true });
  for (let i = 0; i < COUNT; i += 2) {
    await Promise.all([writeImage(i, i), i + 1 < COUNT ? writeImage(i + 1, i + 1) : null]);
    if (i % 200 === 0) log(`generating ${i}/${COUNT}`);
  }
  writeFileSync(marker, '');
  return performance.now() - t0;
}

async function thumbnailOnly(files: string[]): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const buf = await readFile(files[next++]!);
      await sharp(buf, { failOn: 'error', autoOrient: true }).resize(256, 256, { fit: 'inside' }).webp({ quality: 80 }).toBuffer();
    }
  };
  await Promise.all([worker(), worker()]);
  return performance.now() - t0;
}

function dirBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isFile() ? statSync(join(dir, e.name)).size : 0), 0);
}

const generatedMs = await generate();
rmSync(join(DIR, '.difflabel'), { recursive: true, force: true });
const all = (await walkFolder(DIR)).files;
const imageBytes = all.reduce((n, f) => n + f.bytes, 0);
// Read every file once so all timings below see a warm page cache (no run pays the cold disk alone).
for (const f of all) await readFile(f.abs);

// Baseline: sharp alone on every 7th file (7 is coprime with the size and format cycles, so the mix is kept).
log('baseline…');
const subset = all.filter((_, i) => i % 7 === 3).map((f) => f.abs);
const thumbMs = await thumbnailOnly(subset);

log('first index…');
const store = ProjectStore.open(DIR);
const first = await indexFolder(store);
log('no-change re-index…');
const noChange = await indexFolder(store);

log('changing 1%…');
const changed = Math.max(1, Math.round(COUNT / 100));
const seed = Date.now() % 100000;
for (let k = 0; k < changed; k++) await writeImage(Math.floor((k * COUNT) / changed), seed + k);
const onePercent = await indexFolder(store);

log('walk baseline…');
const walkT0 = performance.now();
await walkFolder(DIR);
const walkMs = performance.now() - walkT0;
const stats = store.stats();
store.close();

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
console.log(JSON.stringify({
  benchmark: 'index',
  images: COUNT,
  imageBytes,
  folder: DIR,
  generatedMs: generatedMs ? round(generatedMs, 0) : 'cached',
  firstIndex: {
    ms: round(first.durationMs, 0), imagesPerSec: round((first.added * 1000) / first.durationMs),
    added: first.added, failed: first.failed.length,
  },
  noChangeReindex: { ms: round(noChange.durationMs), unchanged: noChange.unchanged, msPer200Images: round((noChange.durationMs * 200) / COUNT, 2) },
  onePercentChanged: { ms: round(onePercent.durationMs, 0), changed, updated: onePercent.updated, unchanged: onePercent.unchanged },
  baseline: {
    thumbnailOnly: { images: subset.length, imagesPerSec: round((subset.length * 1000) / thumbMs), note: 'sharp read+decode+resize+webp, concurrency 2, no sniff/sha1/db/write' },
    walkStatMs: round(walkMs),
  },
  sizes: { dbBytes: statSync(store.dbPath).size, thumbsBytes: dirBytes(join(DIR, '.difflabel', 'thumbs')), statsBytes: stats.bytes },
  machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, totalMemBytes: os.totalmem(), node: process.version, sharpThreads: sharp.concurrency() },
}));
