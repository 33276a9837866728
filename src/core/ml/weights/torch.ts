// PyTorch checkpoints (.ckpt, .pt, .pth, .bin) read without Python and without running anything in them: the zip
// format of torch ≥ 1.6 and the legacy format before it. The pickle is read by our own machine (./torch/pickle.ts)
// with an allow-list of globals (./torch/globals.ts); tensors are read from the file lazily, one at a time.
import { fileBytes, type ByteSource } from './bytes';
import { toFloat32, typedArrayOf, type RawTensor, type StDType } from './safetensors';
import type { TensorFile } from './source';
import { FormatError, shown } from './torch/format';
import { checkpointGlobal } from './torch/globals';
import { PickleReader, PyDict, PyObject, unpickle, type PickleEnv } from './torch/pickle';
import { readTensorBytes, StorageType, TorchStorage, TorchTensor } from './torch/tensor';
import { entryDataOffset, readZipEntries, type ZipEntry } from './torch/zip';

export { PyDict, PyGlobal, PyObject, PySet } from './torch/pickle';
export { TorchSize, TorchStorage, TorchTensor } from './torch/tensor';

export class TorchCheckpointError extends Error {}

export interface TorchTensorInfo {
  readonly name: string;
  readonly dtype: StDType;
  readonly shape: number[];
  readonly stride: number[];
  /** In elements. */
  readonly storageOffset: number;
  /** Tensors that view one storage share this object. */
  readonly storage: TorchStorage;
  readonly requiresGrad: boolean;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
const MAX_DEPTH = 1000;
const MAX_TENSOR_BYTES = 2 ** 32;
/** Module state keys that torch.save(model) pickles and state_dict() leaves out of tensor names. */
const MODULE_STATE = new Set(['_parameters', '_buffers', '_modules']);

/** Whether the first bytes are a zip archive or a pickle (the legacy format); null: neither. */
export function torchFormatOf(head: Uint8Array): 'zip' | 'legacy' | null {
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5)) return 'zip';
  if (head.length >= 2 && head[0] === 0x80 && head[1]! >= 2 && head[1]! <= 5) return 'legacy';
  return null;
}

export class TorchFile implements TensorFile {
  readonly format: 'zip' | 'legacy';
  /** The unpickled object: plain data, tensors, and inert records for whatever is not on the allow-list. */
  readonly root: unknown;
  readonly byteOrder: 'little' | 'big' = 'little';
  /** A TorchScript archive (torch.jit.save: `code/` and `constants.pkl` beside data.pkl); only data.pkl is read. */
  readonly torchScript: boolean = false;
  /** Classes and functions the pickle names that are not on the allow-list (recorded, never called). */
  readonly foreignGlobals: string[];
  /** State-dict tensors left out because the converter cannot use their dtype, as `name (dtype: not supported)`. */
  readonly skipped: string[] = [];
  private readonly tensors = new Map<string, { info: TorchTensorInfo; tensor: TorchTensor }>();
  /** Every tensor in the object, with its path from the root. */
  private readonly all: { path: (string | number)[]; tensor: TorchTensor }[];

  private constructor(private readonly src: ByteSource, private readonly label: string) {
    const head = src.read(0, Math.min(src.size, 4));
    const format = torchFormatOf(head);
    if (!format) throw new FormatError('not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save file)');
    this.format = format;
    const foreign = new Set<string>();
    const storages = new Map<string, TorchStorage>();
    const global = (m: string, n: string) => checkpointGlobal(m, n, foreign);
    if (format === 'zip') {
      const entries = readZipEntries(src);
      const first = entries.keys().next().value ?? '';
      const prefix = first.includes('/') ? first.slice(0, first.indexOf('/')) : null;
      const pkl = prefix === null ? undefined : entries.get(`${prefix}/data.pkl`);
      if (!pkl) throw new FormatError('the zip archive holds no data.pkl: not a PyTorch checkpoint');
      this.torchScript = entries.has(`${prefix}/constants.pkl`) || [...entries.keys()].some((k) => k.startsWith(`${prefix}/code/`));
      const order = entries.get(`${prefix}/byteorder`);
      if (order) {
        const text = new TextDecoder().decode(src.read(entryDataOffset(src, order), Math.min(order.size, 16)));
        if (text !== 'little' && text !== 'big') throw new FormatError('the byteorder record is neither little nor big');
        this.byteOrder = text;
      }
      const env: PickleEnv = {
        global,
        persistentLoad: (pid, bad) => {
          const s = storageOf(pid, storages, bad);
          if (s.fileOffset < 0) s.fileOffset = zipStorage(src, entries, prefix!, s);
          return s;
        },
      };
      const start = entryDataOffset(src, pkl);
      this.root = unpickle(new PickleReader(src, start, start + pkl.size), env);
    } else this.root = readLegacy(src, { global, persistentLoad: (pid, bad) => storageOf(pid, storages, bad, true) }, storages);
    this.foreignGlobals = [...foreign];

    this.all = collectTensors(this.root);
    const sd = stateDictPath(this.root);
    const named = new Set<string>(); // the first tensor of a name wins
    for (const { path, tensor } of this.all) {
      if (path.length <= sd.length || !sd.every((k, i) => path[i] === k)) continue;
      const name = path.slice(sd.length).join('.');
      if (named.has(name)) continue;
      named.add(name);
      const st = tensor.dtype.st;
      if (!st) this.skipped.push(`${name} (${tensor.dtype.name}: not supported)`);
      else this.tensors.set(name, {
        info: { name, dtype: st, shape: tensor.shape, stride: tensor.stride, storageOffset: tensor.storageOffset, storage: tensor.storage, requiresGrad: tensor.requiresGrad },
        tensor,
      });
    }
  }

  static open(path: string): TorchFile {
    const src = fileBytes(path, () => new TorchCheckpointError(`${path}: the file ended while it was read (was it changed?)`));
    try {
      return new TorchFile(src, path);
    } catch (e) {
      src.close();
      if (e instanceof FormatError) throw new TorchCheckpointError(`${path}: ${e.message}`);
      throw e;
    }
  }

  /** Tensor names as state_dict() gives them; a Lightning checkpoint is read through its `state_dict`. */
  keys(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  private entry(name: string): { info: TorchTensorInfo; tensor: TorchTensor } {
    const t = this.tensors.get(name);
    if (!t) throw new TorchCheckpointError(`${this.label}: no tensor named '${name}'`);
    return t;
  }

  info(name: string): TorchTensorInfo {
    return this.entry(name).info;
  }

  /** The elements in row-major order of the shape (views materialised); F16/BF16 as raw bits. */
  readRaw(name: string): RawTensor {
    const { info, tensor } = this.entry(name);
    return { dtype: info.dtype, shape: [...info.shape], data: typedArrayOf(info.dtype, this.bytesOf(tensor, name)) };
  }

  readFloat32(name: string): Float32Array {
    const r = this.readRaw(name);
    const f = toFloat32(r);
    if (!f) throw new TorchCheckpointError(`${this.label}: tensor '${name}' is ${r.dtype}, not floating point`);
    return f;
  }

  /** Every tensor of the object (not only the state dict's), with its path from the root. */
  allTensors(): { path: (string | number)[]; tensor: TorchTensor }[] {
    return this.all;
  }

  /** The tensor's elements (see readTensorBytes), refused when it or the part of the storage it spans is too big. */
  bytesOf(tensor: TorchTensor, name: string): Uint8Array {
    const bytes = tensor.numel * tensor.dtype.size;
    if (bytes > MAX_TENSOR_BYTES)
      throw new TorchCheckpointError(`${this.label}: tensor '${name}' has ${tensor.numel} elements (${bytes} bytes), too many to read into memory`);
    if (tensor.spanBytes > MAX_TENSOR_BYTES)
      throw new TorchCheckpointError(`${this.label}: tensor '${name}' spreads over ${tensor.spanBytes} bytes of its storage, too many to read into memory`);
    return readTensorBytes(this.src, tensor, this.byteOrder === 'big');
  }

  close(): void {
    this.src.close();
  }
}

/** The storage a persistent id `('storage', type, key, location, numel[, view])` names; one object per key. */
function storageOf(pid: unknown, storages: Map<string, TorchStorage>, bad: (why: string) => FormatError, legacy = false): TorchStorage {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) throw bad('a persistent id that is not a storage');
  const [, type, key, , numel, view] = pid as unknown[];
  if (!(type instanceof StorageType)) throw bad('a storage of a type that is not a torch storage class');
  if (typeof key !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) throw bad('a storage with a malformed key or size');
  let s = storages.get(key);
  if (!s) storages.set(key, (s = new TorchStorage(key, type.dtype, numel)));
  if (!legacy || view === null || view === undefined) return s;
  // legacy views: (view key, offset, size) in elements of the root storage
  const [viewKey, offset, size] = Array.isArray(view) ? view : [];
  if (typeof viewKey !== 'string' || typeof offset !== 'number' || typeof size !== 'number' || offset < 0 || size < 0 || offset + size > s.numel)
    throw bad('a storage view outside its storage');
  let v = storages.get(viewKey);
  if (!v) storages.set(viewKey, (v = new TorchStorage(viewKey, type.dtype, size, { storage: s, byteOffset: offset * type.dtype.size })));
  return v;
}

/** Where a zip checkpoint's storage lies: entry `<prefix>/data/<key>`, exactly as long as the pickle says. */
function zipStorage(src: ByteSource, entries: Map<string, ZipEntry>, prefix: string, s: TorchStorage): number {
  const e = entries.get(`${prefix}/data/${s.key}`);
  if (!e) throw new FormatError(`storage ${shown(s.key)} has no entry data/${shown(s.key)} in the archive`);
  if (e.size !== s.nbytes) throw new FormatError(`storage ${shown(s.key)} holds ${e.size} bytes but the pickle declares ${s.numel} ${s.dtype.name} elements`);
  return entryDataOffset(src, e);
}

/**
 * torch < 1.6 (`_use_new_zipfile_serialization=False`): pickles of the magic number, the protocol version, sys info,
 * the object and the storage keys, then each storage as an int64 element count and its bytes (always little-endian).
 */
function readLegacy(src: ByteSource, env: PickleEnv, storages: Map<string, TorchStorage>): unknown {
  const r = new PickleReader(src, 0, src.size);
  if (unpickle(r, env) !== LEGACY_MAGIC) throw new FormatError("not a legacy torch.save file: it does not start with torch's magic number");
  if (unpickle(r, env) !== LEGACY_PROTOCOL) throw new FormatError('unsupported legacy torch.save protocol version');
  unpickle(r, env); // sys_info: byte order and C type sizes of the writer; storages are little-endian whatever it says
  const root = unpickle(r, env);
  const keys = unpickle(r, env);
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) throw new FormatError('the legacy storage list is not a list of keys');
  let pos = r.pos;
  keys.forEach((key: string, i) => {
    const what = `legacy storage ${i + 1} of ${keys.length}`;
    const s = storages.get(key);
    if (!s || s.base) throw new FormatError(`${what} is listed but no tensor uses it`);
    if (pos + 8 > src.size) throw new FormatError(`${what} runs past the end of the file (truncated?)`);
    const numel = new DataView(src.read(pos, 8).buffer).getBigInt64(0, true);
    if (numel !== BigInt(s.numel)) throw new FormatError(`${what}: its element count says ${numel}, the pickle ${s.numel}`);
    if (pos + 8 + s.nbytes > src.size) throw new FormatError(`${what} runs past the end of the file (truncated?)`);
    s.fileOffset = pos + 8;
    pos += 8 + s.nbytes;
  });
  for (const s of storages.values()) if (!s.base && s.fileOffset < 0) throw new FormatError('a storage the pickle uses is not in the file');
  return root;
}

/** Keys from the root down to the state dict: Lightning (and SD 1.x .ckpt) files hold it under `state_dict`. */
function stateDictPath(root: unknown): string[] {
  const path: string[] = [];
  for (let o = root; o instanceof PyDict; path.push('state_dict')) {
    o = o.entries.get('state_dict');
    if (!(o instanceof PyDict || o instanceof PyObject)) break;
  }
  return path;
}

/**
 * Every tensor under `root` with its path (dict keys, list indices; a pickled module's attribute names, without
 * `_parameters`/`_buffers`/`_modules`). Each container is visited once, so shared and cyclic objects end.
 */
function collectTensors(root: unknown): { path: (string | number)[]; tensor: TorchTensor }[] {
  const found: { path: (string | number)[]; tensor: TorchTensor }[] = [];
  const seen = new Set<object>();
  type Item = { v: unknown; path: (string | number)[]; depth: number; moduleState: boolean };
  const todo: Item[] = [{ v: root, path: [], depth: 0, moduleState: false }];
  while (todo.length) {
    const { v, path, depth, moduleState } = todo.pop()!;
    if (v instanceof TorchTensor) {
      found.push({ path, tensor: v });
      continue;
    }
    if (v === null || typeof v !== 'object' || seen.has(v)) continue;
    seen.add(v);
    if (depth > MAX_DEPTH) throw new FormatError(`objects are nested more than ${MAX_DEPTH} levels deep`);
    const kids: Item[] = [];
    const entries = (m: Map<unknown, unknown>, mod: boolean) => {
      for (const [k, x] of m) {
        if (typeof k !== 'string' && typeof k !== 'number' && typeof k !== 'bigint') continue; // keyed by a class: no name
        const skip = mod && typeof k === 'string' && MODULE_STATE.has(k);
        kids.push({ v: x, path: skip ? path : [...path, typeof k === 'bigint' ? String(k) : k], depth: depth + 1, moduleState: false });
      }
    };
    const indexed = (xs: readonly unknown[]) => xs.forEach((x, i) => kids.push({ v: x, path: [...path, i], depth: depth + 1, moduleState: false }));
    if (Array.isArray(v)) indexed(v);
    else if (v instanceof PyDict) entries(v.entries, moduleState);
    else if (v instanceof PyObject) {
      kids.push({ v: v.state, path, depth: depth + 1, moduleState: true });
      entries(v.entries, false);
      indexed(v.items);
      indexed(v.args);
    }
    for (let i = kids.length - 1; i >= 0; i--) todo.push(kids[i]!); // depth first, in file order (no push(...): kids may be millions)
  }
  return found;
}

export interface CheckpointTensor {
  /** Keys and indices from the file's root object to the tensor. */
  path: (string | number)[];
  dtype: StDType;
  shape: number[];
  stride: number[];
  storageOffset: number;
  /** Tensors with the same key share a storage. */
  storageKey: string;
  storageNumel: number;
  requiresGrad: boolean;
  /** Elements in row-major order of the shape, as in RawTensor. */
  data: RawTensor['data'];
}

/**
 * Every tensor of a checkpoint file (zip or legacy), keyed by its path from the root joined with '.', values read:
 * for tests and tools that compare whole files. Converters use TorchFile, which reads one tensor at a time.
 */
export function readTorchCheckpoint(path: string): Map<string, CheckpointTensor> {
  const f = TorchFile.open(path);
  try {
    const out = new Map<string, CheckpointTensor>();
    for (const { path: p, tensor: t } of f.allTensors()) {
      const key = p.join('.');
      if (!t.dtype.st || out.has(key)) continue;
      out.set(key, {
        path: p, dtype: t.dtype.st, shape: t.shape, stride: t.stride, storageOffset: t.storageOffset, storageKey: t.storage.key,
        storageNumel: t.storage.numel, requiresGrad: t.requiresGrad, data: typedArrayOf(t.dtype.st, f.bytesOf(t, key)),
      });
    }
    return out;
  } finally {
    f.close();
  }
}
