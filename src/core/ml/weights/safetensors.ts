// Lazy safetensors reader and a writer. Format: u64 LE header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}, then the raw little-endian data.
import { writeFileSync } from 'node:fs';
import { fromBFloat16Bits, fromFloat16Bits } from '../graph/half';
import { parseJson } from '../../json';
import type { DType, TensorData } from '../graph/dtypes';
import { bufferBytes, fileBytes, type ByteSource } from './bytes';

export type StDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const ST_BYTES: Record<StDType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface TensorInfo {
  readonly name: string;
  readonly dtype: StDType;
  readonly shape: number[];
  /** Byte offset inside the data section. */
  readonly begin: number;
  readonly byteLength: number;
}

export interface RawTensor {
  dtype: StDType;
  shape: number[];
  /** F16/BF16 as raw bits (Uint16Array). */
  data: TensorData | Int16Array;
}

export class SafetensorsError extends Error {}

const MAX_HEADER = 100 * 1024 * 1024; // the reference implementation's limit

export class SafetensorsFile {
  readonly metadata: Record<string, string>;
  private readonly tensors = new Map<string, TensorInfo>();
  private readonly dataStart: number;

  private constructor(private readonly src: ByteSource, private readonly label: string) {
    const fail = (msg: string): never => {
      throw new SafetensorsError(`${label}: ${msg}`);
    };
    if (src.size < 8) fail(`file is ${src.size} bytes, too short for a safetensors header`);
    const n = Number(new DataView(src.read(0, 8).buffer).getBigUint64(0, true));
    if (n > MAX_HEADER) fail(`header length ${n} is implausible (corrupt or not a safetensors file)`);
    if (8 + n > src.size) fail(`header length ${n} runs past the end of the ${src.size}-byte file (truncated?)`);
    let header: Record<string, unknown>;
    try {
      header = parseJson(new TextDecoder('utf-8', { fatal: true }).decode(src.read(8, n))) as Record<string, unknown>;
    } catch (e) {
      throw new SafetensorsError(`${label}: header is ${e instanceof SyntaxError ? (e as Error).message : 'not UTF-8 text'}: corrupt or not a safetensors file`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
    this.dataStart = 8 + n;
    const dataSize = src.size - this.dataStart;
    this.metadata = {};
    const spans: [number, number, string][] = [];
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') {
        this.metadata = (raw ?? {}) as Record<string, string>;
        continue;
      }
      const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof e !== 'object' || e === null) fail(`entry '${name}' is not an object`);
      const dtype = e.dtype as StDType;
      if (typeof dtype !== 'string' || !(dtype in ST_BYTES)) fail(`tensor '${name}' has unsupported dtype ${JSON.stringify(e.dtype)}`);
      const shape = e.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor '${name}' has a bad shape ${JSON.stringify(shape)}`);
      const off = e.data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[1] < off[0])
        fail(`tensor '${name}' has bad data_offsets ${JSON.stringify(off)}`);
      const [b, end] = off as [number, number];
      const count = (shape as number[]).reduce((a, c) => a * c, 1);
      if (end - b !== count * ST_BYTES[dtype])
        fail(`tensor '${name}' ${dtype}[${(shape as number[]).join(',')}] needs ${count * ST_BYTES[dtype]} bytes but spans ${end - b}`);
      if (end > dataSize) fail(`tensor '${name}' ends at byte ${end} but the data section has only ${dataSize} bytes (truncated file?)`);
      spans.push([b, end, name]);
      this.tensors.set(name, { name, dtype, shape: shape as number[], begin: b, byteLength: end - b });
    }
    spans.sort((p, q) => p[0] - q[0]);
    let pos = 0;
    for (const [b, end, name] of spans) {
      if (b < pos) fail(`tensor '${name}' overlaps the previous tensor`);
      if (b > pos) fail(`gap of ${b - pos} bytes before tensor '${name}'`);
      pos = end;
    }
    if (pos !== dataSize) fail(`${dataSize - pos} trailing bytes after the last tensor`);
  }

  static open(path: string): SafetensorsFile {
    const src = fileBytes(path, () => new SafetensorsError(`${path}: unexpected end of file`));
    try {
      return new SafetensorsFile(src, path);
    } catch (e) {
      src.close();
      throw e;
    }
  }

  static fromBytes(bytes: Uint8Array, label = 'safetensors buffer'): SafetensorsFile {
    return new SafetensorsFile(bufferBytes(bytes), label);
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new SafetensorsError(`${this.label}: no tensor named '${name}'`);
    return t;
  }

  /** The tensor in its stored type: F16/BF16 as raw bits, so fp16 weights can be exported without a round trip. */
  readRaw(name: string): RawTensor {
    const t = this.info(name);
    return { dtype: t.dtype, shape: [...t.shape], data: typedArrayOf(t.dtype, this.src.read(this.dataStart + t.begin, t.byteLength)) };
  }

  /** Floating tensors converted to float32. */
  readFloat32(name: string): Float32Array {
    const r = this.readRaw(name);
    const f = toFloat32(r);
    if (!f) throw new SafetensorsError(`${this.label}: tensor '${name}' is ${r.dtype}, not floating point`);
    return f;
  }

  close(): void {
    this.src.close();
  }
}

/** `bytes` (a fresh, aligned buffer) as the typed array of `dtype`; F16/BF16 as their raw bits. */
export function typedArrayOf(dtype: StDType, bytes: Uint8Array): TensorData | Int16Array {
  const { buffer: buf, byteOffset: at } = bytes;
  const n = bytes.byteLength / ST_BYTES[dtype];
  switch (dtype) {
    case 'F64': return new Float64Array(buf, at, n);
    case 'F32': return new Float32Array(buf, at, n);
    case 'F16': case 'BF16': return new Uint16Array(buf, at, n);
    case 'I64': return new BigInt64Array(buf, at, n);
    case 'I32': return new Int32Array(buf, at, n);
    case 'I16': return new Int16Array(buf, at, n);
    case 'I8': return new Int8Array(buf, at, n);
    case 'U8': case 'BOOL': return new Uint8Array(buf, at, n);
  }
}

/** A floating tensor's values as float32; null for integer and bool tensors. */
export function toFloat32(r: RawTensor): Float32Array | null {
  switch (r.dtype) {
    case 'F32': return r.data as Float32Array;
    case 'F16': return fromFloat16Bits(r.data as Uint16Array);
    case 'BF16': return fromBFloat16Bits(r.data as Uint16Array);
    case 'F64': return Float32Array.from(r.data as Float64Array);
    default: return null;
  }
}

export interface WriteTensor {
  dtype: StDType;
  shape: number[];
  data: TensorData | Int16Array;
}

export function stDTypeOf(d: DType): StDType {
  const m: Record<DType, StDType> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int64: 'I64', int32: 'I32', int8: 'I8', uint8: 'U8', bool: 'BOOL' };
  return m[d];
}

/** Serialises tensors in sorted-name order, contiguous, header padded with spaces to a multiple of 8. */
export function encodeSafetensors(tensors: Record<string, WriteTensor>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata) header['__metadata__'] = metadata;
  let pos = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const count = t.shape.reduce((a, c) => a * c, 1);
    if (t.data.length !== count) throw new SafetensorsError(`tensor '${name}': ${t.data.length} elements for shape [${t.shape.join(',')}]`);
    const len = count * ST_BYTES[t.dtype];
    if (t.data.byteLength !== len) throw new SafetensorsError(`tensor '${name}': data type does not match ${t.dtype}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [pos, pos + len] };
    pos += len;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + pos);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let off = 8 + hb.length;
  for (const name of names) {
    const d = tensors[name]!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), off);
    off += d.byteLength;
  }
  return out;
}

export function writeSafetensors(path: string, tensors: Record<string, WriteTensor>, metadata?: Record<string, string>): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}
