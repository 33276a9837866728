// WeightSource: what model builders read. Names are always diffusers/transformers names; a source may
// rename (original single-file checkpoints) and reshape tensors on the way.
import { SafetensorsFile, SafetensorsError, type StDType } from './safetensors';

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
  constructor(private readonly file: SafetensorsFile, private readonly map: Map<string, MappedEntry>, private readonly label = 'weights') {}

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
    return this.file.readFloat32(this.entry(name).src);
  }
  readF16Bits(name: string): Uint16Array | undefined {
    const e = this.entry(name);
    if (this.file.info(e.src).dtype !== 'F16') return undefined;
    return this.file.readRaw(e.src).data as Uint16Array;
  }
}

/** Identity view (diffusers folders), optionally restricted to keys under `prefix` with the prefix removed. */
export function fileSource(file: SafetensorsFile, prefix = '', label?: string): MappedSource {
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
  return fileSource(SafetensorsFile.open(path), '', path);
}
