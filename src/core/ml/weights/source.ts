// WeightSource: what model builders read. Names are always diffusers/transformers names; a source may
// rename (original single-file checkpoints) and reshape tensors on the way. Underneath is a TensorFile:
// a safetensors file or a PyTorch checkpoint, opened by what the file holds.
import { closeSync, openSync, readSync } from 'node:fs';
import { SafetensorsFile, SafetensorsError, type RawTensor, type StDType } from './safetensors';
import { TorchFile, torchFormatOf } from './torch';

/** Named tensors in a file, read on demand (safetensors or a PyTorch checkpoint). */
export interface TensorFile {
  keys(): string[];
  has(name: string): boolean;
  info(name: string): { readonly dtype: StDType; readonly shape: number[] };
  /** The tensor in its stored type, F16/BF16 as raw bits. */
  readRaw(name: string): RawTensor;
  /** Floating tensors as float32. */
  readFloat32(name: string): Float32Array;
  close(): void;
}

export interface WeightSource {
  keys(): string[];
  has(name: string): boolean;
  shape(name: string): number[];
  /** Stored element type (F16 sources can be exported to fp16 without a float32 round trip). */
  dtype(name: string): StDType;
  /** The tensor as float32, read on demand (not cached). */
  read(name: string): Float32Array;
  /** Raw fp16 bits when stored as F16, else undefined. */
  readF16Bits?(name: string): Uint16Array | undefined;
}

export interface MappedEntry {
  /** Key in the underlying file. */
  src: string;
  /** Target shape when the tensor must be reshaped (same element count). */
  shape?: number[];
}

/** A view of one file under diffusers names, given diffusers name -> source entry. */
export class MappedSource implements WeightSource {
  constructor(private readonly file: TensorFile, private readonly map: Map<string, MappedEntry>, private readonly label = 'weights') {}

  keys(): string[] {
    return [...this.map.keys()];
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  private entry(name: string): MappedEntry {
    const e = this.map.get(name);
    if (!e) throw new SafetensorsError(`${this.label}: missing weight '${name}'`);
    return e;
  }
  shape(name: string): number[] {
    const e = this.entry(name);
    return e.shape ? [...e.shape] : [...this.file.info(e.src).shape];
  }
  dtype(name: string): StDType {
    return this.file.info(this.entry(name).src).dtype;
  }
  read(name: string): Float32Array {
    const e = this.entry(name);
    const data = this.file.readFloat32(e.src);
    const i = firstNonFinite(data);
    if (i >= 0) this.refuse(name, e, String(data[i]).replace('Infinity', 'Inf'), i, data.length);
    return data;
  }
  readF16Bits(name: string): Uint16Array | undefined {
    const e = this.entry(name);
    if (this.file.info(e.src).dtype !== 'F16') return undefined;
    const bits = this.file.readRaw(e.src).data as Uint16Array;
    const i = firstNonFiniteHalf(bits);
    if (i >= 0) this.refuse(name, e, bits[i]! & 0x3ff ? 'NaN' : bits[i]! & 0x8000 ? '-Inf' : 'Inf', i, bits.length);
    return bits;
  }
  /**
   * A damaged checkpoint (NaN/Inf from a diverged fine-tune or a bad merge) would export into a bundle whose every
   * output is NaN. Weights are checked as they are read for export, so it costs no second pass over the file.
   */
  private refuse(name: string, e: MappedEntry, what: string, index: number, count: number): never {
    const key = e.src === name ? '' : ` (${e.src})`;
    throw new SafetensorsError(`${this.label}: weight '${name}'${key} holds ${what} (element ${index} of ${count})`);
  }
}

/** Index of the first NaN or ±Inf, or -1. */
function firstNonFinite(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v - v !== 0) return i; // NaN - NaN and Inf - Inf are NaN
  }
  return -1;
}

/** Index of the first fp16 NaN or ±Inf (all exponent bits set), or -1. */
function firstNonFiniteHalf(bits: Uint16Array): number {
  for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0x7c00) === 0x7c00) return i;
  return -1;
}

/** Identity view (diffusers folders), optionally restricted to keys under `prefix` with the prefix removed. */
export function fileSource(file: TensorFile, prefix = '', label?: string): MappedSource {
  const map = new Map<string, MappedEntry>();
  for (const k of file.keys()) if (k.startsWith(prefix)) map.set(legacyDiffusersName(k.slice(prefix.length)), { src: k });
  return new MappedSource(file, map, label);
}

/** diffusers < 0.14 saved the VAE attention as query/key/value/proj_attn; diffusers renames them at load. */
export function legacyDiffusersName(k: string): string {
  return k.replace(/(attentions\.\d+)\.(query|key|value|proj_attn)\./, (_m, a: string, p: string) =>
    `${a}.${({ query: 'to_q', key: 'to_k', value: 'to_v', proj_attn: 'to_out.0' } as Record<string, string>)[p]}.`);
}

/** Opens `path` as an identity source (diffusers/transformers layout). */
export function openWeights(path: string): MappedSource {
  return fileSource(openTensorFile(path), '', path);
}

const TORCH_EXTENSIONS = /\.(ckpt|pt|pth|bin)$/i;

/**
 * What `path` holds, by its first bytes: a zip archive or a pickle is a PyTorch checkpoint, a u64 length followed
 * by '{' is safetensors; a file that is neither is taken by its extension, so the error comes from the reader the
 * user expects.
 */
export function weightsFormat(path: string): 'safetensors' | 'torch' {
  const head = new Uint8Array(9);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, 9, 0);
  } finally {
    closeSync(fd);
  }
  if (torchFormatOf(head.subarray(0, n))) return 'torch';
  if (n === 9 && head[8] === 0x7b) return 'safetensors';
  return TORCH_EXTENSIONS.test(path) ? 'torch' : 'safetensors';
}

export function openTensorFile(path: string): TensorFile {
  return weightsFormat(path) === 'torch' ? TorchFile.open(path) : SafetensorsFile.open(path);
}
