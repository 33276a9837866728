// Folder indexing speed: first full index (with thumbnails), no-change re-index, and re-index with 1% changed.
// Peers in the same run, on every 35th file: sharp's bare decode+resize (no encoding, no sniff/sha1/database), the
// thumbnail as made now (makeThumbnail) and as made before (WebP q80 at the default effort 4), with the sharpness of
// both (mean gradient magnitude of the decoded thumbnails) and their sizes; reading and hashing a file as now
// (ImageFileReader, one buffer kept) and as before (first bytes, then fs.readFile: a fresh buffer per file); and the
// bare walk+stat. The first index's rows of those files are checked against their own bytes (sha1, displayed size).
// The generated folder is cached under os.tmpdir() between runs; its .difflabel is removed before each run.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ProjectStore, indexFolder } from '../src/core/project';
import { ImageFileReader, makeThumbnail, openImage } from '../src/core/project/image-source';
import { SNIFF_BYTES, sniffImageFormat } from '../src/core/project/sniff';
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

/** CPU ms of this process (every thread: libvips', libuv's) since c0: what a busy shared machine distorts least. */
const cpuMs = (c0: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};

type Variant = (buf: Buffer) => Promise<Buffer>;
const VARIANTS: Record<string, Variant> = {
  bareDecodeResize: (buf) => sharp(buf).resize(256, 256, { fit: 'inside' }).raw().toBuffer(),
  thumbnailNow: (buf) => makeThumbnail(openImage(buf, sniffImageFormat(buf)!, 250e6)),
  thumbnailBefore: (buf) => sharp(buf, { failOn: 'error', autoOrient: true }).resize(256, 256, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 80 }).toBuffer(),
};

/** Wall and CPU (all threads of this process) ms per file at concurrency 2 (as the indexer), and the outputs. */
async function perFile(files: string[], fn: Variant): Promise<{ ms: number; cpuMs: number; out: Buffer[] }> {
  const out: Buffer[] = new Array(files.length);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      out[i] = await fn(await readFile(files[i]!));
    }
  };
  await Promise.all([worker(), worker()]);
  return { ms: (performance.now() - t0) / files.length, cpuMs: cpuMs(c0) / files.length, out };
}

type Read = (path: string) => Promise<Buffer>;
const READS: Record<string, () => Read> = {
  readNow: () => {
    const reader = new ImageFileReader();
    return async (path) => (await reader.read(path))!.buf;
  },
  readBefore: () => async (path) => {
    const fh = await open(path, 'r');
    try {
      await fh.read(Buffer.alloc(SNIFF_BYTES), 0, SNIFF_BYTES, 0);
    } finally {
      await fh.close();
    }
    return readFile(path);
  },
};

/** CPU ms per file (all threads) to read and sha1 each file, two at a time as the indexer (each with its own reader). */
async function readAndHash(files: string[], make: () => Read): Promise<number> {
  const c0 = process.cpuUsage();
  let next = 0;
  const worker = async () => {
    const read = make();
    while (next < files.length) createHash('sha1').update(await read(files[next++]!)).digest('hex');
  };
  await Promise.all([worker(), worker()]);
  return cpuMs(c0) / files.length;
}

/** Mean gradient magnitude (central differences, grey 0–255) of an encoded image, and its size. */
async function sharpness(img: Buffer): Promise<{ g: number; w: number; h: number }> {
  const { data, info } = await sharp(img).greyscale().raw().toBuffer({ resolveWithObject: true });
  const { width: w, height: h } = info;
  let sum = 0;
  for (let y = 1; y < h - 1; y++) for (let x = 1; x < w - 1; x++) {
    const i = y * w + x;
    sum += Math.hypot(data[i + 1]! - data[i - 1]!, data[i + w]! - data[i - w]!) / 2;
  }
  return { g: sum / Math.max(1, (w - 2) * (h - 2)), w, h };
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

// Peers on every 35th file (35 is coprime with the size and format cycles, so the mix is kept), interleaved 3 times.
log('peers…');
const subsetFiles = all.filter((_, i) => i % 35 === 3);
const subset = subsetFiles.map((f) => f.abs);
const peerMs: Record<string, number[]> = {};
const peerCpu: Record<string, number[]> = {};
const outputs: Record<string, Buffer[]> = {};
for (let r = 0; r < 3; r++) {
  for (const [name, fn] of Object.entries(VARIANTS)) {
    const { ms, cpuMs, out } = await perFile(subset, fn);
    (peerMs[name] ??= []).push(ms);
    (peerCpu[name] ??= []).push(cpuMs);
    if (name !== 'bareDecodeResize') outputs[name] = out;
  }
  for (const [name, make] of Object.entries(READS)) (peerCpu[name] ??= []).push(await readAndHash(subset, make));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
let gNow = 0, gBefore = 0, sameSize = 0;
for (let i = 0; i < subset.length; i++) {
  const a = await sharpness(outputs.thumbnailNow![i]!), b = await sharpness(outputs.thumbnailBefore![i]!);
  gNow += a.g;
  gBefore += b.g;
  if (a.w === b.w && a.h === b.h) sameSize++;
}
const bytesOf = (bs: Buffer[]) => bs.reduce((n, b) => n + b.length, 0) / bs.length;

log('first index…');
const store = ProjectStore.open(DIR);
const firstCpu0 = process.cpuUsage();
const first = await indexFolder(store);
const firstCpuMs = cpuMs(firstCpu0);
// The rows as each file's own bytes say: sha1 of fs.readFile's bytes, size from sharp's header probe, oriented.
let sameAsFile = 0;
for (const f of subsetFiles) {
  const bytes = await readFile(f.abs);
  const m = await sharp(bytes).metadata();
  const row = store.getImageByPath(f.path)!;
  const sha1 = createHash('sha1').update(bytes).digest('hex');
  if (row.sha1 === sha1 && row.bytes === bytes.length && row.width === (m.autoOrient?.width ?? m.width) && row.height === (m.autoOrient?.height ?? m.height)) sameAsFile++;
}
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
    ms: round(first.durationMs, 0), imagesPerSec: round((first.added * 1000) / first.durationMs), cpuMsPerImage: round(firstCpuMs / first.added, 2),
    added: first.added, failed: first.failed.length,
  },
  noChangeReindex: { ms: round(noChange.durationMs), unchanged: noChange.unchanged, msPer200Images: round((noChange.durationMs * 200) / COUNT, 2) },
  onePercentChanged: { ms: round(onePercent.durationMs, 0), changed, updated: onePercent.updated, unchanged: onePercent.unchanged },
  peers: {
    note: 'every 35th file, fs.readFile+decode+resize (+encode), concurrency 2, no sniff/sha1/db/write; readNow/readBefore: read+sha1 only; median of 3; cpu = all threads',
    images: subset.length,
    msPerImage: Object.fromEntries(Object.entries(peerMs).map(([k, v]) => [k, round(median(v), 2)])),
    cpuMsPerImage: Object.fromEntries(Object.entries(peerCpu).map(([k, v]) => [k, round(median(v), 2)])),
    firstIndexPerImageVsBareDecodeResize: { wall: round(first.durationMs / first.added / median(peerMs.bareDecodeResize!), 2), cpu: round(firstCpuMs / first.added / median(peerCpu.bareDecodeResize!), 2) },
    readAndSha1NowVsBefore: { cpu: round(median(peerCpu.readNow!) / median(peerCpu.readBefore!), 2) },
    rowsSameAsFileBytes: `${sameAsFile}/${subsetFiles.length}`,
    thumbnailNowVsBefore: { wall: round(median(peerMs.thumbnailNow!) / median(peerMs.thumbnailBefore!), 2), cpu: round(median(peerCpu.thumbnailNow!) / median(peerCpu.thumbnailBefore!), 2) },
    sharpness: { now: round(gNow / subset.length, 2), before: round(gBefore / subset.length, 2), ratio: round(gNow / gBefore, 3), sameDimensions: `${sameSize}/${subset.length}` },
    thumbBytes: { now: round(bytesOf(outputs.thumbnailNow!), 0), before: round(bytesOf(outputs.thumbnailBefore!), 0) },
    walkStatMs: round(walkMs),
  },
  sizes: { dbBytes: statSync(store.dbPath).size, thumbsBytes: dirBytes(join(DIR, '.difflabel', 'thumbs')), statsBytes: stats.bytes },
  machine: { loadavg: os.loadavg().map((v) => round(v, 2)), cpu: os.cpus()[0]?.model, cores: os.cpus().length, totalMemBytes: os.totalmem(), node: process.version, sharpThreads: sharp.concurrency() },
}));
