// Tensor element types the builder knows, their ONNX enum values and typed-array storage.
import { toFloat16Bits } from './half';

export type DType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

/** float16/bfloat16 data is held as raw bits in a Uint16Array; bool as Uint8Array of 0/1. */
export type TensorData = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, bfloat16: 16,
};

export const DTYPE_BYTES: Record<DType, number> = {
  float32: 4, float16: 2, bfloat16: 2, float64: 8, int64: 8, int32: 4, int8: 1, uint8: 1, bool: 1,
};

export function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float16' || d === 'bfloat16' || d === 'float64';
}

/** Coerces data to the storage type of `dtype` (Float32Array -> float16 bits is the fp16 export path). */
export function coerceData(data: TensorData, dtype: DType): TensorData {
  if (dtype === 'float16' && data instanceof Float32Array) return toFloat16Bits(data);
  if (dtype === 'float32' && data instanceof Float64Array) return Float32Array.from(data);
  const ok =
    (dtype === 'float32' && data instanceof Float32Array) ||
    ((dtype === 'float16' || dtype === 'bfloat16') && data instanceof Uint16Array) ||
    (dtype === 'float64' && data instanceof Float64Array) ||
    (dtype === 'int64' && data instanceof BigInt64Array) ||
    (dtype === 'int32' && data instanceof Int32Array) ||
    (dtype === 'int8' && data instanceof Int8Array) ||
    ((dtype === 'uint8' || dtype === 'bool') && data instanceof Uint8Array);
  if (!ok) throw new Error(`tensor data ${data.constructor.name} does not match dtype ${dtype}`);
  return data;
}

/** Little-endian raw bytes (all supported hosts are little-endian). */
export function rawBytes(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function makeData(dtype: DType, values: ArrayLike<number> | readonly number[]): TensorData {
  switch (dtype) {
    case 'float32': return Float32Array.from(values);
    case 'float16': return toFloat16Bits(Float32Array.from(values));
    case 'float64': return Float64Array.from(values);
    case 'int64': return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v))));
    case 'int32': return Int32Array.from(values);
    case 'int8': return Int8Array.from(values);
    case 'uint8': case 'bool': return Uint8Array.from(values);
    case 'bfloat16': throw new Error('bfloat16 constants are not supported; use float32');
  }
}

/** Numbers of a small constant, for shape inference (Reshape targets, Slice bounds, ...). */
export function dataToNumbers(data: TensorData): number[] {
  if (data instanceof BigInt64Array) return Array.from(data, (v) => Number(v));
  if (data instanceof Uint16Array) throw new Error('float16 constant values are not readable for inference');
  return Array.from(data as ArrayLike<number>);
}
