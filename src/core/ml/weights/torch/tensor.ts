// Tensors of a torch checkpoint: dtypes and storages as torch pickles them, the tensors rebuilt over them (dtype,
// shape, stride, offset; views share a storage), and reading a tensor's elements from the file on demand.
import type { ByteSource } from '../bytes';
import type { StDType } from '../safetensors';
import { FormatError } from './format';
import type { Buildable } from './pickle';

export interface DType {
  /** torch's name (`float32`, `complex64`, …). */
  name: string;
  size: number;
  /** null: a dtype the converter has no use for (complex, quantized, float8, unsigned > 8 bits). */
  st: StDType | null;
}

const DTYPE_TABLE: [string, number, StDType | null, string[]][] = [
  ['float32', 4, 'F32', ['float']], ['float64', 8, 'F64', ['double']], ['float16', 2, 'F16', ['half']], ['bfloat16', 2, 'BF16', []],
  ['int64', 8, 'I64', ['long']], ['int32', 4, 'I32', ['int']], ['int16', 2, 'I16', ['short']], ['int8', 1, 'I8', []],
  ['uint8', 1, 'U8', []], ['bool', 1, 'BOOL', []],
  ['complex32', 4, null, ['chalf']], ['complex64', 8, null, ['cfloat']], ['complex128', 16, null, ['cdouble']],
  ['uint16', 2, null, []], ['uint32', 4, null, []], ['uint64', 8, null, []],
  ['float8_e4m3fn', 1, null, []], ['float8_e5m2', 1, null, []], ['float8_e4m3fnuz', 1, null, []], ['float8_e5m2fnuz', 1, null, []],
  ['qint8', 1, null, []], ['quint8', 1, null, []], ['qint32', 4, null, []], ['quint4x2', 1, null, []], ['quint2x4', 1, null, []],
];

/** `torch.<name>` dtype globals, aliases included. */
export const DTYPES = new Map<string, DType>();
for (const [name, size, st, aliases] of DTYPE_TABLE) for (const n of [name, ...aliases]) DTYPES.set(n, { name, size, st });

/** Storage classes (`torch.FloatStorage`, …) by the dtype of their elements; an UntypedStorage holds bytes. */
export const STORAGE_DTYPES: Record<string, string> = {
  DoubleStorage: 'float64', FloatStorage: 'float32', HalfStorage: 'float16', BFloat16Storage: 'bfloat16', LongStorage: 'int64',
  IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8', ByteStorage: 'uint8', BoolStorage: 'bool',
  ComplexFloatStorage: 'complex64', ComplexDoubleStorage: 'complex128', QInt8Storage: 'qint8', QUInt8Storage: 'quint8',
  QInt32Storage: 'qint32', QUInt4x2Storage: 'quint4x2', QUInt2x4Storage: 'quint2x4', UntypedStorage: 'uint8',
};

/** The value of a dtype global such as `torch.float32`. */
export class TorchDType {
  constructor(readonly dtype: DType) {}
}

/** The value of a storage class global such as `torch.FloatStorage` (named in persistent ids). */
export class StorageType {
  constructor(readonly dtype: DType) {}
}

export class TorchStorage {
  /** Where the storage's bytes start in the file, once the container has said. */
  fileOffset = -1;
  constructor(
    readonly key: string,
    readonly dtype: DType,
    /** In elements of `dtype`. */
    readonly numel: number,
    /** Legacy files (torch < 1.6) may pickle a storage as a view of another. */
    readonly base?: { storage: TorchStorage; byteOffset: number },
  ) {}
  get nbytes(): number {
    return this.numel * this.dtype.size;
  }
  offsetInFile(): number {
    return this.base ? this.base.storage.offsetInFile() + this.base.byteOffset : this.fileOffset;
  }
}

export class TorchSize {
  constructor(readonly dims: readonly number[]) {}
}

export class TorchTensor implements Buildable {
  isParameter = false;
  constructor(
    readonly storage: TorchStorage,
    readonly dtype: DType,
    readonly shape: number[],
    readonly stride: number[],
    /** In elements of `dtype`. */
    readonly storageOffset: number,
    public requiresGrad: boolean,
  ) {}
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  /** Bytes from the first to the last element the view reads (0 when it has none). */
  get spanBytes(): number {
    if (this.numel === 0) return 0;
    return (this.shape.reduce((a, d, i) => a + (d - 1) * this.stride[i]!, 0) + 1) * this.dtype.size;
  }
  /** BUILD on a tensor (older pickles) carries hooks and attributes the reader has no use for. */
  setState(): void {}
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** A tuple (or torch.Size) of non-negative integers, else null. */
export function dims(v: unknown): number[] | null {
  const a = v instanceof TorchSize ? v.dims : Array.isArray(v) ? v : null;
  return a && a.every(isCount) ? [...(a as number[])] : null;
}

/** `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, …)`, checked against the storage it views. */
export function rebuildTensor(args: readonly unknown[], dtype?: DType): TorchTensor {
  const [storage, offset, size, stride, requiresGrad] = args;
  if (!(storage instanceof TorchStorage)) throw new FormatError('a tensor without a storage');
  const shape = dims(size);
  const strides = dims(stride);
  if (!shape || !strides || shape.length !== strides.length || !isCount(offset))
    throw new FormatError('a tensor has a negative or non-integer shape, stride or offset');
  const t = new TorchTensor(storage, dtype ?? storage.dtype, shape, strides, offset, requiresGrad === true);
  if (offset * t.dtype.size + t.spanBytes > storage.nbytes) throw new FormatError(`a tensor reaches past the end of its storage (${storage.numel} elements)`);
  return t;
}

/**
 * The tensor's elements in row-major order of its shape, little-endian: only the byte range the view spans is read;
 * a view that is not contiguous (transposed, sliced, expanded) is gathered from it.
 */
export function readTensorBytes(src: ByteSource, t: TorchTensor, bigEndian: boolean): Uint8Array {
  const size = t.dtype.size;
  const n = t.numel;
  if (n === 0) return new Uint8Array(0);
  const { shape, stride } = t;
  const span = src.read(t.storage.offsetInFile() + t.storageOffset * size, t.spanBytes);
  let out = span;
  if (!isContiguous(shape, stride)) {
    out = new Uint8Array(n * size);
    const nd = shape.length;
    const run = shape[nd - 1]!;
    const step = stride[nd - 1]!;
    const idx = new Array<number>(nd - 1).fill(0);
    let base = 0; // element offset of the current row
    for (let o = 0; o < out.length;) {
      if (step === 1) {
        out.set(span.subarray(base * size, (base + run) * size), o);
        o += run * size;
      } else {
        for (let j = 0; j < run; j++, o += size) for (let b = 0; b < size; b++) out[o + b] = span[(base + j * step) * size + b]!;
      }
      for (let d = nd - 2; d >= 0; d--) {
        base += stride[d]!;
        if (++idx[d]! < shape[d]!) break;
        base -= stride[d]! * shape[d]!;
        idx[d] = 0;
      }
    }
  }
  if (bigEndian && size > 1) for (let i = 0; i < out.length; i += size) out.subarray(i, i + size).reverse();
  return out;
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}
