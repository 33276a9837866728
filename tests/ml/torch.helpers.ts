// Writing PyTorch checkpoints in tests: pickle opcodes, a stored zip (ZIP64 on demand) and the torch.save layout
// (data.pkl in protocol 2 with _rebuild_tensor_v2 and persistent ids, data/<n> storage entries, version).
// Hostile files are crafted from the same pieces.
import { closeSync, openSync, writeSync } from 'node:fs';
import { crc32, deflateRawSync } from 'node:zlib';
import type { StDType, WriteTensor } from '../../src/core/ml/weights';

/** Protocol 2–4 pickles opcode by opcode (the byte values are the pickle module's). */
export class PickleWriter {
  private readonly chunks: Buffer[] = [];
  private readonly globals = new Map<string, number>();
  private nextMemo = 0;

  op(...bytes: number[]): this {
    this.chunks.push(Buffer.from(bytes));
    return this;
  }
  raw(b: Uint8Array | string): this {
    this.chunks.push(Buffer.from(b as Uint8Array));
    return this;
  }
  proto(n = 2): this {
    return this.op(0x80, n);
  }
  mark(): this {
    return this.op(0x28);
  }
  stop(): this {
    return this.op(0x2e);
  }
  none(): this {
    return this.op(0x4e);
  }
  bool(b: boolean): this {
    return this.op(b ? 0x88 : 0x89);
  }
  int(n: number | bigint): this {
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < 256) return this.op(0x4b, n);
    if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < 65536) return this.op(0x4d, n & 0xff, n >> 8);
    if (typeof n === 'number' && Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a;
      b.writeInt32LE(n, 1);
      return this.raw(b);
    }
    // LONG1: little-endian two's complement, as short as it can be
    let v = BigInt(n);
    const bytes: number[] = [];
    do {
      bytes.push(Number(v & 0xffn));
      v >>= 8n;
    } while (!((v === 0n && (bytes.at(-1)! & 0x80) === 0) || (v === -1n && (bytes.at(-1)! & 0x80) !== 0)));
    return this.op(0x8a, bytes.length, ...bytes);
  }
  float(x: number): this {
    const b = Buffer.alloc(9);
    b[0] = 0x47;
    b.writeDoubleBE(x, 1);
    return this.raw(b);
  }
  str(s: string): this {
    const u = Buffer.from(s, 'utf8');
    const h = Buffer.alloc(5);
    h[0] = 0x58;
    h.writeUInt32LE(u.length, 1);
    return this.raw(h).raw(u);
  }
  /** SHORT_BINBYTES (protocol 3). */
  bytes(b: Uint8Array): this {
    return this.op(0x43, b.length).raw(b);
  }
  /** GLOBAL, memoized the way pickle does: the second use is a BINGET. */
  global(module: string, name: string): this {
    const k = `${module}\n${name}\n`;
    const m = this.globals.get(k);
    if (m !== undefined) return this.get(m);
    this.raw(Buffer.from(`c${k}`, 'utf8'));
    this.globals.set(k, this.nextMemo);
    return this.put();
  }
  /** BINPUT at the next memo index; returns this (the index is `lastMemo`). */
  put(): this {
    this.lastMemo = this.nextMemo++;
    return this.op(0x71, this.lastMemo);
  }
  lastMemo = -1;
  get(i: number): this {
    return this.op(0x68, i);
  }
  emptyTuple(): this {
    return this.op(0x29);
  }
  emptyDict(): this {
    return this.op(0x7d);
  }
  emptyList(): this {
    return this.op(0x5d);
  }
  /** Builds a tuple from the `n` items already pushed after a mark (or TUPLE1–3 without one). */
  tuple(n: number): this {
    if (n === 0) return this.emptyTuple();
    if (n <= 3) return this.op(0x84 + n);
    return this.op(0x74);
  }
  ints(xs: number[]): this {
    if (xs.length > 3) this.mark();
    for (const x of xs) (Number.isInteger(x) ? this.int(x) : this.float(x));
    return this.tuple(xs.length);
  }
  setitem(): this {
    return this.op(0x73);
  }
  setitems(): this {
    return this.op(0x75);
  }
  append(): this {
    return this.op(0x61);
  }
  appends(): this {
    return this.op(0x65);
  }
  reduce(): this {
    return this.op(0x52);
  }
  build(): this {
    return this.op(0x62);
  }
  newobj(): this {
    return this.op(0x81);
  }
  binpersid(): this {
    return this.op(0x51);
  }
  /** `collections.OrderedDict()` as torch's state dicts pickle it. */
  orderedDict(): this {
    return this.global('collections', 'OrderedDict').emptyTuple().reduce();
  }
  toBytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.chunks));
  }
}

export const STORAGE_CLASS: Record<StDType, string> = {
  F64: 'DoubleStorage', F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage', I64: 'LongStorage', I32: 'IntStorage',
  I16: 'ShortStorage', I8: 'CharStorage', U8: 'ByteStorage', BOOL: 'BoolStorage',
};

/** A tensor as torch.save writes it: `_rebuild_tensor_v2(persistent storage, 0, shape, contiguous stride, False, OrderedDict())`. */
export function pickleTensor(p: PickleWriter, key: string, dtype: StDType, shape: number[]): PickleWriter {
  const numel = shape.reduce((a, b) => a * b, 1);
  const stride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  p.global('torch._utils', '_rebuild_tensor_v2').mark();
  p.mark().str('storage').global('torch', STORAGE_CLASS[dtype]).str(key).str('cpu').int(numel).tuple(5).binpersid();
  p.int(0).ints(shape).ints(stride).bool(false).orderedDict();
  return p.tuple(6).reduce();
}

export interface ZipFileEntry {
  name: string;
  data: Uint8Array;
  /** 8 = deflate (torch never writes it). */
  method?: 0 | 8;
}

export interface ZipOptions {
  /** Write ZIP64 records for every entry and the directory, whatever the sizes. */
  zip64?: boolean;
}

interface ZipLayoutEntry {
  name: string;
  size: number;
  compressedSize: number;
  crc: number;
  method: number;
}

/**
 * Where a stored zip's pieces go, as torch's writer lays it out: each local header padded (extra field 'FB') so the
 * data starts at a multiple of 64. Returns the header bytes to write at each entry's offset, the data offsets, and the
 * central directory + end records to write at `tailOffset`.
 */
export function zipLayout(entries: ZipLayoutEntry[], opts: ZipOptions = {}) {
  const z64 = Boolean(opts.zip64);
  const headers: { offset: number; bytes: Buffer }[] = [];
  const dataOffsets: number[] = [];
  let pos = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const zipExtra = z64 ? Buffer.alloc(20) : Buffer.alloc(0);
    if (z64) {
      zipExtra.writeUInt16LE(0x0001, 0);
      zipExtra.writeUInt16LE(16, 2);
      zipExtra.writeBigUInt64LE(BigInt(e.size), 4);
      zipExtra.writeBigUInt64LE(BigInt(e.compressedSize), 12);
    }
    const unpadded = pos + 30 + name.length + zipExtra.length + 4;
    const pad = (64 - (unpadded % 64)) % 64;
    const fb = Buffer.alloc(4 + pad);
    fb.write('FB', 0, 'latin1');
    fb.writeUInt16LE(pad, 2);
    const extra = Buffer.concat([zipExtra, fb]);
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(z64 ? 45 : 20, 4);
    h.writeUInt16LE(e.method, 8);
    h.writeUInt16LE(0x21, 12); // 1980-01-01
    h.writeUInt32LE(e.crc >>> 0, 14);
    h.writeUInt32LE(z64 ? 0xffffffff : e.compressedSize, 18);
    h.writeUInt32LE(z64 ? 0xffffffff : e.size, 22);
    h.writeUInt16LE(name.length, 26);
    h.writeUInt16LE(extra.length, 28);
    headers.push({ offset: pos, bytes: Buffer.concat([h, name, extra]) });
    pos += 30 + name.length + extra.length;
    dataOffsets.push(pos);
    pos += e.compressedSize;
  }
  const cd: Buffer[] = [];
  entries.forEach((e, i) => {
    const name = Buffer.from(e.name, 'utf8');
    const extra = z64 ? Buffer.alloc(28) : Buffer.alloc(0);
    if (z64) {
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(24, 2);
      extra.writeBigUInt64LE(BigInt(e.size), 4);
      extra.writeBigUInt64LE(BigInt(e.compressedSize), 12);
      extra.writeBigUInt64LE(BigInt(headers[i]!.offset), 20);
    }
    const h = Buffer.alloc(46);
    h.writeUInt32LE(0x02014b50, 0);
    h.writeUInt16LE(z64 ? 45 : 20, 4);
    h.writeUInt16LE(z64 ? 45 : 20, 6);
    h.writeUInt16LE(e.method, 10);
    h.writeUInt16LE(0x21, 14);
    h.writeUInt32LE(e.crc >>> 0, 16);
    h.writeUInt32LE(z64 ? 0xffffffff : e.compressedSize, 20);
    h.writeUInt32LE(z64 ? 0xffffffff : e.size, 24);
    h.writeUInt16LE(name.length, 28);
    h.writeUInt16LE(extra.length, 30);
    h.writeUInt32LE(z64 ? 0xffffffff : headers[i]!.offset, 42);
    cd.push(h, name, extra);
  });
  const cdBytes = Buffer.concat(cd);
  const tail: Buffer[] = [cdBytes];
  const cdOffset = pos;
  if (z64) {
    const r = Buffer.alloc(56);
    r.writeUInt32LE(0x06064b50, 0);
    r.writeBigUInt64LE(44n, 4);
    r.writeUInt16LE(45, 12);
    r.writeUInt16LE(45, 14);
    r.writeBigUInt64LE(BigInt(entries.length), 24);
    r.writeBigUInt64LE(BigInt(entries.length), 32);
    r.writeBigUInt64LE(BigInt(cdBytes.length), 40);
    r.writeBigUInt64LE(BigInt(cdOffset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(cdOffset + cdBytes.length), 8);
    loc.writeUInt32LE(1, 16);
    tail.push(r, loc);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(z64 ? 0xffff : entries.length, 8);
  end.writeUInt16LE(z64 ? 0xffff : entries.length, 10);
  end.writeUInt32LE(z64 ? 0xffffffff : cdBytes.length, 12);
  end.writeUInt32LE(z64 ? 0xffffffff : cdOffset, 16);
  tail.push(end);
  return { headers, dataOffsets, tailOffset: cdOffset, tail: Buffer.concat(tail) };
}

/** A zip archive in memory; entries stored unless `method: 8`. */
export function zipArchive(entries: ZipFileEntry[], opts: ZipOptions = {}): Uint8Array {
  const payloads = entries.map((e) => (e.method === 8 ? deflateRawSync(e.data) : Buffer.from(e.data)));
  const layout = zipLayout(entries.map((e, i) => ({
    name: e.name, size: e.data.length, compressedSize: payloads[i]!.length, crc: crc32(e.data), method: e.method ?? 0,
  })), opts);
  const out = Buffer.alloc(layout.tailOffset + layout.tail.length);
  layout.headers.forEach((h, i) => {
    h.bytes.copy(out, h.offset);
    payloads[i]!.copy(out, layout.dataOffsets[i]!);
  });
  layout.tail.copy(out, layout.tailOffset);
  return new Uint8Array(out);
}

const bytesOf = (t: WriteTensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

export interface TorchSaveOptions {
  /** Wrap the state dict the way PyTorch Lightning checkpoints (SD 1.x .ckpt files) do. */
  lightning?: boolean;
  /**
   * Wrap it as DeepSpeed's engine saves model states (mp_rank_00_model_states.pt): `{module: state_dict,
   * buffer_names, optimizer: None, param_shapes: [OrderedDict(name → torch.Size)], sparse_tensor_module_names: set(),
   * global_steps, ds_version}`.
   */
  deepspeed?: boolean;
  /** Folder name inside the zip (torch uses the file's stem, or `archive` for file objects). */
  prefix?: string;
  zip64?: boolean;
  /** Store the data big-endian and say so in `byteorder` (torch ≥ 2.1 writes that record). */
  byteorder?: 'little' | 'big';
}

/**
 * What `torch.save(state_dict, path)` writes, for tensors stored contiguously (one storage each, keys '0', '1', …).
 * With `lightning`, the dict is wrapped as `{epoch, global_step (a numpy scalar), pytorch-lightning_version,
 * state_dict, callbacks (keyed by the ModelCheckpoint class), hyper_parameters (an AttributeDict)}`.
 */
export function torchSave(tensors: Record<string, WriteTensor>, opts: TorchSaveOptions = {}): Uint8Array {
  const p = new PickleWriter().proto(2);
  if (opts.lightning) {
    p.emptyDict().put().mark();
    p.str('epoch').int(3);
    // numpy.int64(1234) as Lightning writes global_step: scalar(dtype('i8'), b'\xd2\x04\0\0\0\0\0\0')
    p.str('global_step').global('numpy.core.multiarray', 'scalar').global('numpy', 'dtype').str('i8').bool(false).bool(true).tuple(3).reduce();
    p.mark().int(3).str('<').none().none().none().int(-1).int(-1).int(0).tuple(8).build();
    p.global('_codecs', 'encode').str('\u00d2\u0004\0\0\0\0\0\0').str('latin1').tuple(2).reduce().tuple(2).reduce();
    p.str('pytorch-lightning_version').str('1.4.2');
    p.str('state_dict');
  }
  if (opts.deepspeed) p.emptyDict().put().mark().str('module');
  p.orderedDict().put().mark();
  const entries: ZipFileEntry[] = [];
  const prefix = opts.prefix ?? 'archive';
  Object.entries(tensors).forEach(([k, t], i) => {
    p.str(k);
    pickleTensor(p, String(i), t.dtype, t.shape);
    const bytes = bytesOf(t);
    entries.push({ name: `${prefix}/data/${i}`, data: opts.byteorder === 'big' ? swapBytes(bytes, t.data.BYTES_PER_ELEMENT) : bytes });
  });
  p.setitems();
  if (opts.deepspeed) {
    p.str('buffer_names').emptyList().str('optimizer').none();
    p.str('param_shapes').emptyList().orderedDict().mark();
    for (const [k, t] of Object.entries(tensors)) p.str(k).global('torch', 'Size').ints(t.shape).tuple(1).reduce();
    p.setitems().append();
    p.str('sparse_tensor_module_names').global('builtins', 'set').emptyList().tuple(1).reduce();
    p.str('global_steps').int(80000).str('ds_version').str('0.12.6');
    p.setitems();
  }
  if (opts.lightning) {
    p.str('callbacks').emptyDict().global('pytorch_lightning.callbacks.model_checkpoint', 'ModelCheckpoint');
    p.emptyDict().str('monitor').none().setitem().setitem();
    p.str('hyper_parameters').global('pytorch_lightning.utilities.parsing', 'AttributeDict').emptyTuple().newobj();
    p.mark().str('base_learning_rate').float(1e-4).str('scale_factor').float(0.18215).setitems();
    p.setitems();
  }
  p.stop();
  entries.sort((a, b) => (a.name < b.name ? -1 : 1)); // torch writes storages in sorted-key order
  const all: ZipFileEntry[] = [{ name: `${prefix}/data.pkl`, data: p.toBytes() }];
  if (opts.byteorder) all.push({ name: `${prefix}/byteorder`, data: Buffer.from(opts.byteorder) });
  all.push(...entries, { name: `${prefix}/version`, data: Buffer.from('3\n') });
  return zipArchive(all, { zip64: opts.zip64 });
}

function swapBytes(b: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i += size) for (let j = 0; j < size; j++) out[i + j] = b[i + size - 1 - j]!;
  return out;
}

/**
 * A checkpoint of `hugeBytes` + 16 bytes written sparsely at `path` (the huge storage is zeros except its last 16
 * bytes, which hold 1, 2, 3, 4 as float32): `huge` (a 1-D float32 over the whole storage), `tail` (a view of its last 4
 * elements) and `after` (a small tensor whose entry starts past the huge one). ZIP64, as torch writes files over 4 GB.
 */
export function writeSparseCheckpoint(path: string, hugeBytes: number): void {
  const n = hugeBytes / 4;
  const p = new PickleWriter().proto(2).orderedDict().put().mark();
  p.str('huge').global('torch._utils', '_rebuild_tensor_v2').mark();
  p.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(n).tuple(5).binpersid().put();
  const storageMemo = p.lastMemo;
  p.int(0).ints([n]).ints([1]).bool(false).orderedDict().tuple(6).reduce();
  p.str('tail').global('torch._utils', '_rebuild_tensor_v2').mark().get(storageMemo).int(n - 4).ints([4]).ints([1]).bool(false).orderedDict().tuple(6).reduce();
  p.str('after');
  pickleTensor(p, '1', 'F32', [2]);
  p.setitems().stop();
  const pkl = p.toBytes();
  const after = new Uint8Array(Float32Array.of(5, 6).buffer);
  const last = new Uint8Array(Float32Array.of(1, 2, 3, 4).buffer);
  const layout = zipLayout([
    { name: 'big/data.pkl', size: pkl.length, compressedSize: pkl.length, crc: crc32(pkl), method: 0 },
    { name: 'big/data/0', size: hugeBytes, compressedSize: hugeBytes, crc: 0, method: 0 }, // the reader never checks CRCs
    { name: 'big/data/1', size: 8, compressedSize: 8, crc: crc32(after), method: 0 },
    { name: 'big/version', size: 2, compressedSize: 2, crc: crc32('3\n'), method: 0 },
  ], { zip64: true });
  const fd = openSync(path, 'w');
  try {
    const put = (b: Uint8Array, at: number) => writeSync(fd, b, 0, b.length, at);
    layout.headers.forEach((h) => put(h.bytes, h.offset));
    put(pkl, layout.dataOffsets[0]!);
    put(last, layout.dataOffsets[1]! + hugeBytes - 16);
    put(after, layout.dataOffsets[2]!);
    put(Buffer.from('3\n'), layout.dataOffsets[3]!);
    put(layout.tail, layout.tailOffset);
  } finally {
    closeSync(fd);
  }
}

/**
 * A legacy-format file (torch < 1.6): the magic number, protocol version and sys info pickles, `object` (a whole
 * pickle whose persistent ids name `storages` by key), the storage key list, then each storage as an int64
 * element count and its bytes.
 */
export function legacyFile(object: Uint8Array, storages: { key: string; numel: number; data: Uint8Array }[]): Uint8Array {
  const magic = new PickleWriter().proto(2).int(0x1950a86a20f9469cfc6cn).stop();
  const version = new PickleWriter().proto(2).int(1001).stop();
  const sysInfo = new PickleWriter().proto(2).emptyDict().mark().str('protocol_version').int(1001).str('little_endian').bool(true).setitems().stop();
  const keys = new PickleWriter().proto(2).emptyList().mark();
  for (const s of storages) keys.str(s.key);
  keys.appends().stop();
  const parts: Uint8Array[] = [magic.toBytes(), version.toBytes(), sysInfo.toBytes(), object, keys.toBytes()];
  for (const s of storages) {
    const n = Buffer.alloc(8);
    n.writeBigInt64LE(BigInt(s.numel));
    parts.push(n, s.data);
  }
  return new Uint8Array(Buffer.concat(parts));
}
