// The per-image tensor cache: a pipeline's expensive per-image tensor (DiffSeg's aggregated attention, 64 MiB) kept so
// that later calls on the image (clicks) cost milliseconds. Two levels:
//   memory: LRU bounded by bytes; each entry also holds values derived from its tensor (e.g. proposals per parameter
//           set, click regions), dropped with it, so an entry counts `entryWeight` × the tensor's bytes;
//   disk:   <dir>/<key>.f16 — float16 of the values × a per-tensor scale (chosen so typical values are ~1, where fp16
//           keeps ~3 significant digits), bounded by total size, least recently used files evicted first (a hit
//           touches the file's mtime). With keepPositive, values below fp16's smallest subnormal are clamped up to
//           it, never to 0 (a pipeline that takes logs needs that). Writes run in the background; a failed one only
//           costs speed.
// Keys are the caller's (cacheKey: a sha1 of what the tensor depends on); derived values are keyed inside an entry.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { f32ToF16Bits, fromFloat16Bits } from '../../ml/graph/half';

export const DEFAULT_MEMORY_BYTES = 512 * 2 ** 20;
export const DEFAULT_DISK_BYTES = 2 * 2 ** 30;
const MAGIC = 0x31415344; // 'DSA1': the files DiffSeg wrote before the cache was shared read the same
const HEADER = 16;

export interface TensorCacheOptions {
  memoryBytes?: number;
  /** Folder for the disk level; null = memory only. */
  diskDir?: string | null;
  diskBytes?: number;
}

export interface TensorEncoding {
  /** Multiplier applied before rounding to float16 (stored in the file); default 1. */
  scale?: (t: Float32Array) => number;
  /** Never round a positive value to 0. */
  keepPositive?: boolean;
  /** Memory counted per entry, in multiples of the tensor's bytes (derived values as large as it: 2). */
  entryWeight?: number;
}

interface Entry {
  tensor: Float32Array;
  bytes: number;
  derived: Map<string, unknown>;
}

/** A cache key: sha1 of what the tensor depends on (image sha1, model id, preprocessing version, …). */
export function cacheKey(...parts: string[]): string {
  return createHash('sha1').update(parts.join('|')).digest('hex');
}

export class TensorCache {
  private readonly mem = new Map<string, Entry>(); // insertion order = recency (oldest first)
  private memBytes = 0;
  readonly memoryLimit: number;
  readonly diskDir: string | null;
  readonly diskLimit: number;
  /** Counters for tests and benchmarks. */
  readonly stats = { memoryHits: 0, diskHits: 0, misses: 0, diskWrites: 0, evictedMemory: 0, evictedDisk: 0 };
  private pendingWrites = new Set<Promise<void>>();

  constructor(opts: TensorCacheOptions = {}, private readonly encoding: TensorEncoding = {}) {
    this.memoryLimit = opts.memoryBytes ?? DEFAULT_MEMORY_BYTES;
    this.diskDir = opts.diskDir ?? null;
    this.diskLimit = opts.diskBytes ?? DEFAULT_DISK_BYTES;
  }

  /** The tensor for `key`, from memory or disk; null when neither has it. */
  async get(key: string): Promise<Float32Array | null> {
    const e = this.mem.get(key);
    if (e) {
      this.mem.delete(key);
      this.mem.set(key, e);
      this.stats.memoryHits++;
      return e.tensor;
    }
    const fromDisk = await this.readDisk(key);
    if (fromDisk) {
      this.stats.diskHits++;
      this.putMemory(key, fromDisk);
      return fromDisk;
    }
    this.stats.misses++;
    return null;
  }

  /** Stores in memory now and on disk in the background (see flush()). */
  put(key: string, tensor: Float32Array): void {
    this.putMemory(key, tensor);
    if (this.diskDir) {
      const p = this.writeDisk(key, tensor).catch(() => undefined); // a full or read-only disk only costs speed
      this.pendingWrites.add(p);
      void p.finally(() => this.pendingWrites.delete(p));
    }
  }

  /** A value derived from the entry's tensor (e.g. proposals for one parameter set), computed once. */
  async derived<T>(key: string, sub: string, compute: () => Promise<T> | T): Promise<T> {
    const e = this.mem.get(key);
    if (!e) return compute();
    if (e.derived.has(sub)) return e.derived.get(sub) as T;
    const v = await compute();
    e.derived.set(sub, v);
    return v;
  }

  hasInMemory(key: string): boolean {
    return this.mem.has(key);
  }

  /** Waits for background disk writes. */
  async flush(): Promise<void> {
    await Promise.all([...this.pendingWrites]);
  }

  clearMemory(): void {
    this.mem.clear();
    this.memBytes = 0;
  }

  private putMemory(key: string, tensor: Float32Array): void {
    const old = this.mem.get(key);
    if (old) {
      this.memBytes -= old.bytes;
      this.mem.delete(key);
    }
    const bytes = tensor.byteLength * (this.encoding.entryWeight ?? 1);
    if (bytes > this.memoryLimit) return;
    while (this.memBytes + bytes > this.memoryLimit && this.mem.size) {
      const [k, v] = this.mem.entries().next().value!;
      this.mem.delete(k);
      this.memBytes -= v.bytes;
      this.stats.evictedMemory++;
    }
    this.mem.set(key, { tensor, bytes, derived: new Map() });
    this.memBytes += bytes;
  }

  private file(key: string): string {
    return join(this.diskDir!, `${key}.f16`);
  }

  private async readDisk(key: string): Promise<Float32Array | null> {
    if (!this.diskDir) return null;
    let buf: Buffer;
    try {
      buf = await readFile(this.file(key));
    } catch {
      return null;
    }
    if (buf.byteLength < HEADER || buf.readUInt32LE(0) !== MAGIC) return null;
    const n = buf.readUInt32LE(4);
    const scale = buf.readFloatLE(8);
    if (buf.byteLength !== HEADER + 2 * n) return null; // truncated: recompute
    const bits = new Uint16Array(n);
    new Uint8Array(bits.buffer).set(buf.subarray(HEADER));
    const out = fromFloat16Bits(bits);
    const inv = 1 / scale;
    for (let i = 0; i < n; i++) out[i]! *= inv;
    try {
      const now = new Date();
      utimesSync(this.file(key), now, now);
    } catch {
      /* evicted meanwhile */
    }
    return out;
  }

  private async writeDisk(key: string, tensor: Float32Array): Promise<void> {
    mkdirSync(this.diskDir!, { recursive: true });
    const n = tensor.length;
    const scale = this.encoding.scale?.(tensor) ?? 1;
    const keepPositive = this.encoding.keepPositive ?? false;
    const buf = Buffer.alloc(HEADER + 2 * n);
    buf.writeUInt32LE(MAGIC, 0);
    buf.writeUInt32LE(n, 4);
    buf.writeFloatLE(scale, 8);
    const bits = new Uint16Array(buf.buffer, buf.byteOffset + HEADER, n);
    for (let i = 0; i < n; i++) {
      const v = tensor[i]! * scale;
      const h = f32ToF16Bits(v);
      bits[i] = keepPositive && h === 0 && v > 0 ? 1 : h;
    }
    const tmp = `${this.file(key)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await writeFile(tmp, buf);
    renameSync(tmp, this.file(key));
    this.stats.diskWrites++;
    this.evictDisk(key);
  }

  /** Deletes the least recently used files until the folder fits the budget (the file just written stays). */
  private evictDisk(keep: string): void {
    const files = readdirSync(this.diskDir!)
      .filter((f) => f.endsWith('.f16'))
      .map((f) => {
        try {
          const s = statSync(join(this.diskDir!, f));
          return { f, size: s.size, t: s.mtimeMs };
        } catch {
          return null;
        }
      })
      .filter((x): x is { f: string; size: number; t: number } => x !== null)
      .sort((a, b) => a.t - b.t);
    let total = files.reduce((a, b) => a + b.size, 0);
    for (const x of files) {
      if (total <= this.diskLimit) break;
      if (x.f === `${keep}.f16`) continue;
      rmSync(join(this.diskDir!, x.f), { force: true });
      total -= x.size;
      this.stats.evictedDisk++;
    }
  }
}
