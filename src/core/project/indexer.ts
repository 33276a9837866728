// Folder indexing: finds images by content, records size/format/sha1, makes thumbnails, and on later runs
// re-reads only files whose size or mtime changed. Files that cannot be used are recorded with status
// 'error' and the reason; the run goes on.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { BmpError } from './bmp';
import { decodeWithAccurateErrors } from './decode-gate';
import { makeThumbnail, openImage, probeSize } from './image-source';
import { hasImageExtension, sniffImageFormat, type ImageFormat } from './sniff';
import type { IndexEntry, ProjectStore } from './store';
import { readHead, removeThumbnail, writeThumbnail } from './thumbnails';
import type { IndexedImage } from './types';
import { walkFolder, type FoundFile } from './walk';

export interface IndexOptions {
  onProgress?(done: number, total: number, path: string): void;
  signal?: AbortSignal;
  /** Images whose header claims more pixels are refused before decoding (decompression bombs). */
  maxPixels?: number;
}

export interface IndexReport {
  /** Each file seen lands in exactly one of added / updated / unchanged / failed (or is ignored: not an image). */
  added: number;
  updated: number;
  removed: number;
  unchanged: number;
  failed: Array<{ path: string; reason: string }>;
  /** Annotations deleted with removed images, or because an image changed size under them. */
  annotationsRemoved: number;
  durationMs: number;
}

export const DEFAULT_MAX_PIXELS = 250e6;
const CONCURRENCY = 2; // decoding is memory- and CPU-heavy; sharp already uses threads per image
const BATCH = 32; // rows per transaction while indexing (indexing is not a user edit)

type Outcome =
  | { kind: 'ignored' }
  | { kind: 'touched'; id: number; mtimeMs: number }
  | { kind: 'indexed'; item: IndexedImage; thumb: Buffer | null };

export async function indexFolder(store: ProjectStore, opts: IndexOptions = {}): Promise<IndexReport> {
  const t0 = performance.now();
  const { signal, onProgress } = opts;
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  signal?.throwIfAborted();

  const { files, unreadableDirs } = await walkFolder(store.folder, signal);
  const known = new Map(store.listIndexEntries().map((e) => [e.path, e]));
  const report: IndexReport = { added: 0, updated: 0, removed: 0, unchanged: 0, failed: [], annotationsRemoved: 0, durationMs: 0 };
  let done = 0;
  const progress = (path: string) => onProgress?.(++done, files.length, path);

  const toRead: FoundFile[] = [];
  for (const f of files) {
    const e = known.get(f.path);
    if (e && e.bytes === f.bytes && e.mtimeMs === f.mtimeMs) {
      report.unchanged++;
      progress(f.path);
    } else toRead.push(f);
  }

  let batch: Array<{ item: IndexedImage; thumb: Buffer | null }> = [];
  const flush = () => {
    if (batch.length === 0) return;
    const saved = store.saveIndexedImages(batch.map((b) => b.item));
    batch.forEach((b, i) => {
      const { id, annotationsRemoved } = saved[i]!;
      report.annotationsRemoved += annotationsRemoved;
      if (b.item.error) {
        report.failed.push({ path: b.item.path, reason: b.item.error });
        removeThumbnail(store, id);
      } else {
        if (known.has(b.item.path)) report.updated++;
        else report.added++;
        writeThumbnail(store, id, b.thumb!);
      }
    });
    batch = [];
  };

  let next = 0;
  const worker = async () => {
    while (next < toRead.length && !signal?.aborted) {
      const f = toRead[next++]!;
      const out = await examine(f, known.get(f.path), maxPixels);
      if (out.kind === 'touched') {
        store.touchIndexedImage(out.id, out.mtimeMs);
        report.unchanged++;
      } else if (out.kind === 'indexed') {
        batch.push(out);
        if (batch.length >= BATCH) flush();
      }
      progress(f.path);
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    flush(); // keep what was done, also when cancelled
  }
  signal?.throwIfAborted();

  // Gone from disk: remove, unless under a directory we could not list (it may come back).
  const seen = new Set(files.map((f) => f.path));
  const gone = [...known.values()].filter(
    (e) => !seen.has(e.path) && !unreadableDirs.some((d) => d === '' || e.path.startsWith(`${d}/`)),
  );
  if (gone.length > 0) {
    report.annotationsRemoved += store.removeImages(gone.map((e) => e.id));
    for (const e of gone) removeThumbnail(store, e.id);
    report.removed = gone.length;
  }
  report.durationMs = performance.now() - t0;
  return report;
}

/** Reads one new or changed file and decides what it is. */
async function examine(f: FoundFile, known: IndexEntry | undefined, maxPixels: number): Promise<Outcome> {
  // Only files named like images, or already indexed, are worth a failure record; other non-images are ignored.
  const promised = known !== undefined || hasImageExtension(f.path);
  const fail = (reason: string, extra: Partial<IndexedImage> = {}): Outcome =>
    promised
      ? { kind: 'indexed', thumb: null, item: { path: f.path, width: 0, height: 0, bytes: f.bytes, mtimeMs: f.mtimeMs, sha1: null, format: null, error: reason, ...extra } }
      : { kind: 'ignored' };

  if (f.bytes === 0) return fail('empty file');
  let format: ImageFormat | null;
  let buf: Buffer;
  try {
    format = sniffImageFormat(await readHead(f.abs));
    if (!format) return fail('not an image');
    buf = await readFile(f.abs);
  } catch (e) {
    return fail(`unreadable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const sha1 = createHash('sha1').update(buf).digest('hex');
  if (known && known.sha1 === sha1 && known.status !== 'error') return { kind: 'touched', id: known.id, mtimeMs: f.mtimeMs };

  const base = { sha1, format, bytes: buf.length };
  let size: { width: number; height: number };
  try {
    size = await decodeWithAccurateErrors(() => probeSize(buf, format));
  } catch (e) {
    return fail(describe(e), base);
  }
  if (size.width * size.height > maxPixels) {
    return fail(`too large: ${size.width}×${size.height} pixels exceeds the limit of ${maxPixels}`, { ...base, ...size });
  }
  let thumb: Buffer;
  try {
    thumb = await decodeWithAccurateErrors(async () => makeThumbnail(openImage(buf, format, maxPixels)));
  } catch (e) {
    return fail(describe(e), { ...base, ...size });
  }
  return { kind: 'indexed', thumb, item: { path: f.path, ...size, bytes: buf.length, mtimeMs: f.mtimeMs, sha1, format, error: null } };
}

function describe(e: unknown): string {
  const msg = (e instanceof Error ? e.message : String(e)).trim().split('\n')[0]!;
  if (e instanceof BmpError && msg.startsWith('unsupported')) return msg;
  return `corrupt image: ${msg}`;
}
