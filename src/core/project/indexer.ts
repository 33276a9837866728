// Folder indexing: finds images by content, records size/format/sha1, makes thumbnails, and on later runs
// re-reads only files whose size or mtime changed. Files that cannot be used are recorded with status
// 'error' and the reason; the run goes on. A labeler's work is never deleted: an image found at another
// path (same content) keeps its row, one whose file is gone is kept as missing, masks that no longer fit a
// resized image are set aside.
import { createHash } from 'node:crypto';
import { BmpError } from './bmp';
import { decodeWithAccurateErrors } from './decode-gate';
import { ImageFileReader, makeThumbnail, type ImageFile, openImage, probeSize } from './image-source';
import { hasImageExtension } from './sniff';
import type { IndexEntry, ProjectStore } from './store';
import { removeThumbnail, writeThumbnail } from './thumbnails';
import type { IndexedImage } from './types';
import { walkFolder, type FoundFile } from './walk';

export interface IndexOptions {
  onProgress?(done: number, total: number, path: string): void;
  signal?: AbortSignal;
  /** Images whose header claims more pixels are refused before decoding (decompression bombs). */
  maxPixels?: number;
}

export interface IndexReport {
  /** Each file seen lands in exactly one of added / updated / unchanged / moved / returned / failed (or is ignored: not an image). */
  added: number;
  updated: number;
  unchanged: number;
  failed: Array<{ path: string; reason: string }>;
  /** Images found again at another path (same content): their row, masks and history follow. */
  moved: Array<{ from: string; to: string }>;
  /** Missing images whose file is back where it was. */
  returned: string[];
  /** Images whose file is gone and that carried no work: removed. */
  removed: number;
  /** Every image whose file is missing after this run (gone now or before), kept with its work; not exported. */
  missing: Array<{ path: string; annotations: number; since: number }>;
  /** Images that changed size, with how many masks were set aside because they no longer fit. */
  setAside: Array<{ path: string; annotations: number; width: number; height: number; was: { width: number; height: number } }>;
  /** Images that have a size again at which masks were set aside: those masks are back. */
  restored: Array<{ path: string; annotations: number; width: number; height: number }>;
  /** Links whose target is gone and folders that could not be listed: the images indexed under them are left as they were. */
  danglingLinks: Array<{ path: string; target: string; images: number }>;
  unreadableDirs: Array<{ path: string; reason: string; images: number }>;
  durationMs: number;
}

export const DEFAULT_MAX_PIXELS = 250e6;
// Files in flight. At 2 the cores idled while the main thread hashed and stored (10k images: 90 s, 1.5 cores busy);
// at 4 both stay busy (63 s); more gains nothing (6: 63 s, 8: 62 s), as libuv runs sharp on 4 threads.
const CONCURRENCY = 4;
// Rows per transaction while indexing (indexing is not a user edit). Each commit waits for its fsync with the event
// loop blocked: at 32 rows that was ~0.2 ms of wall time per image, at 128 ~0.08 (README.md, Indexing speed).
const BATCH = 128;

type Outcome =
  | { kind: 'ignored' }
  | { kind: 'vanished' }
  | { kind: 'touched'; id: number; mtimeMs: number }
  | { kind: 'indexed'; item: IndexedImage; thumb: Buffer | null };

type Move = { id: number; from: string; path: string; mtimeMs: number };

export async function indexFolder(store: ProjectStore, opts: IndexOptions = {}): Promise<IndexReport> {
  const t0 = performance.now();
  const { signal, onProgress } = opts;
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  signal?.throwIfAborted();

  const { files, unreadableDirs, danglingLinks } = await walkFolder(store.folder, signal);
  const entries = store.listIndexEntries();
  const present = new Map(entries.filter((e) => e.missingSince === null).map((e) => [e.path, e]));
  const report: IndexReport = {
    added: 0, updated: 0, unchanged: 0, failed: [], moved: [], returned: [], removed: 0, missing: [], setAside: [],
    restored: [], danglingLinks: [], unreadableDirs: [], durationMs: 0,
  };
  let done = 0;
  const progress = (path: string) => onProgress?.(++done, files.length, path);

  // What could not be seen may still be there: the images indexed under it are left alone.
  const under = (dir: string, path: string) => dir === '' || path === dir || path.startsWith(`${dir}/`);
  const hiddenImages = (dir: string) => [...present.keys()].filter((p) => under(dir, p)).length;
  report.unreadableDirs = unreadableDirs.map((d) => ({ ...d, images: hiddenImages(d.path) }));
  report.danglingLinks = danglingLinks.map((l) => ({ ...l, images: hiddenImages(l.path) }));
  const hidden = [...unreadableDirs, ...danglingLinks].map((d) => d.path);
  const unseen = (path: string) => hidden.some((d) => under(d, path));

  const toRead: FoundFile[] = [];
  for (const f of files) {
    const e = present.get(f.path);
    if (e && e.bytes === f.bytes && e.mtimeMs === f.mtimeMs) {
      report.unchanged++;
      progress(f.path);
    } else toRead.push(f);
  }

  // Images whose content may have left their path: missing ones, and present ones whose file is gone or changed.
  // A file that was one of them has the same bytes and sha1; only files of such a byte size are hashed first.
  const seen = new Set(files.map((f) => f.path));
  const reading = new Set(toRead.map((f) => f.path));
  const displaced = entries.filter(
    (e) => e.sha1 !== null && (e.missingSince !== null || reading.has(e.path) || (!seen.has(e.path) && !unseen(e.path))),
  );
  const sizes = new Set(displaced.map((e) => e.bytes));
  const hashes = new Map<string, string>();
  await pool(toRead.filter((f) => sizes.has(f.bytes)), signal, async (f, reader) => {
    const file = await reader.read(f.abs).catch(() => null); // unreadable: examined (and reported) below
    if (file) hashes.set(f.path, sha1Of(file.buf));
  });
  signal?.throwIfAborted();

  const moves = findMoves(toRead, hashes, present, displaced);
  const moving = new Set(moves.map((m) => m.id));
  const movedTo = new Set(moves.map((m) => m.path));
  // Gone: not found (and not hidden), or its path now holds another image's content.
  const gone = [...present.values()].filter(
    (e) => !moving.has(e.id) && ((!seen.has(e.path) && !unseen(e.path)) || movedTo.has(e.path)),
  );
  const goneIds = new Set(gone.map((e) => e.id));
  store.transaction(() => {
    retire(store, [...goneIds], report);
    store.relinkImages(moves);
  });
  for (const m of moves) {
    if (m.from === m.path) report.returned.push(m.path);
    else report.moved.push({ from: m.from, to: m.path });
    progress(m.path);
  }

  // The present image at each path now, for the files still to read.
  const atPath = new Map([...present].filter(([, e]) => !moving.has(e.id) && !goneIds.has(e.id)));
  const vanished: number[] = [];
  let batch: Array<{ item: IndexedImage; thumb: Buffer | null }> = [];
  const flush = () => {
    if (batch.length === 0) return;
    const saved = store.saveIndexedImages(batch.map((b) => b.item));
    batch.forEach(({ item, thumb }, i) => {
      const { id, was, setAside, restored } = saved[i]!;
      const { path, width, height } = item;
      if (setAside > 0) report.setAside.push({ path, annotations: setAside, width, height, was: was! });
      if (restored > 0) report.restored.push({ path, annotations: restored, width, height });
      if (item.error) {
        report.failed.push({ path, reason: item.error });
        removeThumbnail(store, id);
      } else {
        if (atPath.has(path)) report.updated++;
        else report.added++;
        writeThumbnail(store, id, thumb!);
      }
    });
    batch = [];
  };

  try {
    await pool(toRead.filter((f) => !movedTo.has(f.path)), signal, async (f, reader) => {
      const known = atPath.get(f.path);
      const out = await examine(f, known, maxPixels, reader);
      if (out.kind === 'touched') {
        store.touchIndexedImage(out.id, out.mtimeMs);
        report.unchanged++;
      } else if (out.kind === 'vanished') {
        report.failed.push({ path: f.path, reason: 'vanished while indexing' });
        if (known) vanished.push(known.id);
      } else if (out.kind === 'indexed') {
        batch.push(out);
        if (batch.length >= BATCH) flush();
      }
      progress(f.path);
    });
  } finally {
    flush(); // keep what was done, also when cancelled
  }
  signal?.throwIfAborted();
  retire(store, vanished, report);

  report.missing = store.listImages({ missing: true }).map((i) => ({ path: i.path, annotations: i.annotationCount, since: i.missingSince! }));
  for (const list of [report.setAside, report.restored, report.failed]) list.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  report.durationMs = performance.now() - t0;
  return report;
}

/**
 * Which displaced image each hashed file is: same bytes and sha1, preferring the image last seen at that path,
 * then images that were present when this run began. A file that still holds its own image's content is none.
 */
function findMoves(toRead: FoundFile[], hashes: Map<string, string>, present: Map<string, IndexEntry>, displaced: IndexEntry[]): Move[] {
  const byContent = new Map<string, IndexEntry[]>();
  for (const e of displaced) {
    if (hashes.get(e.path) === e.sha1 && e.missingSince === null) continue; // only touched: it stays
    const key = `${e.bytes}:${e.sha1}`;
    byContent.set(key, [...(byContent.get(key) ?? []), e]);
  }
  for (const list of byContent.values()) list.sort((a, b) => Number(a.missingSince !== null) - Number(b.missingSince !== null) || a.id - b.id);
  const claimed = new Set<number>();
  const moves: Move[] = [];
  for (const f of toRead) {
    const h = hashes.get(f.path);
    if (h === undefined || present.get(f.path)?.sha1 === h) continue;
    const candidates = (byContent.get(`${f.bytes}:${h}`) ?? []).filter((e) => !claimed.has(e.id));
    const e = candidates.find((c) => c.path === f.path) ?? candidates[0];
    if (!e) continue;
    claimed.add(e.id);
    moves.push({ id: e.id, from: e.path, path: f.path, mtimeMs: f.mtimeMs });
  }
  return moves;
}

/** Images whose file is gone: kept as missing when they carry work, else removed with their thumbnail. */
function retire(store: ProjectStore, ids: number[], report: IndexReport): void {
  if (ids.length === 0) return;
  const { removed } = store.retireImages(ids);
  for (const id of removed) removeThumbnail(store, id);
  report.removed += removed.length;
}

/** Runs fn over items, CONCURRENCY at a time (each with its own file reader), until done or cancelled. */
async function pool<T>(items: T[], signal: AbortSignal | undefined, fn: (item: T, reader: ImageFileReader) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    const reader = new ImageFileReader();
    while (next < items.length && !signal?.aborted) await fn(items[next++]!, reader);
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

const sha1Of = (buf: Buffer) => createHash('sha1').update(buf).digest('hex');

/** Reads one new or changed file and decides what it is. */
async function examine(f: FoundFile, known: IndexEntry | undefined, maxPixels: number, reader: ImageFileReader): Promise<Outcome> {
  // Only files named like images, or already indexed, are worth a failure record; other non-images are ignored.
  const promised = known !== undefined || hasImageExtension(f.path);
  const fail = (reason: string, extra: Partial<IndexedImage> = {}): Outcome =>
    promised
      ? { kind: 'indexed', thumb: null, item: { path: f.path, width: 0, height: 0, bytes: f.bytes, mtimeMs: f.mtimeMs, sha1: null, format: null, error: reason, ...extra } }
      : { kind: 'ignored' };

  if (f.bytes === 0) return fail('empty file');
  let file: ImageFile | null;
  try {
    file = await reader.read(f.abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'vanished' };
    return fail(`unreadable: ${code ?? (e as Error).message}`);
  }
  if (!file) return fail('not an image');
  const { format, buf } = file;
  const sha1 = sha1Of(buf);
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
