// Checking feeds against a session's input metadata before ONNX Runtime sees them (its own errors name
// neither the model nor the input), and zero feeds for warm-up.
import { InputValidationError, type Feeds, type TensorData, type TensorInput, type TensorType, type ValueInfo } from './types';

const ARRAY_TYPE: Array<[new (n: number) => TensorData, TensorType]> = [
  [Float32Array, 'float32'],
  [Float64Array, 'float64'],
  [Int8Array, 'int8'],
  [Uint8Array, 'uint8'],
  [Int16Array, 'int16'],
  [Uint16Array, 'uint16'],
  [Int32Array, 'int32'],
  [Uint32Array, 'uint32'],
  [BigInt64Array, 'int64'],
  [BigUint64Array, 'uint64'],
];

/** The array class each element type is carried in. */
export const ARRAY_FOR_TYPE: Record<TensorType, new (n: number) => TensorData> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
};

export function tensorTypeOf(t: TensorInput): TensorType {
  if (t.type) return t.type;
  for (const [cls, type] of ARRAY_TYPE) if (t.data instanceof cls) return type;
  throw new InputValidationError(`unsupported tensor data ${Object.prototype.toString.call(t.data)}`);
}

const fmtShape = (s: ReadonlyArray<number | string>) => `[${s.join(', ')}]`;

/** Throw an InputValidationError naming the model and input if feeds do not fit the model's inputs. */
export function validateFeeds(modelKey: string, inputs: readonly ValueInfo[], feeds: Feeds): void {
  const m = `model "${modelKey}"`;
  const names = inputs.map((i) => i.name);
  for (const name of Object.keys(feeds)) {
    if (!names.includes(name)) throw new InputValidationError(`${m} has no input "${name}" (inputs: ${names.join(', ')})`);
  }
  const symbols = new Map<string, { value: number; input: string }>();
  for (const info of inputs) {
    const feed = feeds[info.name];
    if (!feed) throw new InputValidationError(`${m}: missing input "${info.name}" ${info.type}${fmtShape(info.shape)}`);
    const type = tensorTypeOf(feed);
    const want = info.type;
    if (want !== type) {
      throw new InputValidationError(`${m}: input "${info.name}" must be ${want}, got ${type} (${feed.data.constructor.name})`);
    }
    const dims = feed.dims;
    if (!dims.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new InputValidationError(`${m}: input "${info.name}" has invalid dims ${fmtShape(dims)}`);
    }
    if (info.shape.length > 0 && dims.length !== info.shape.length) {
      throw new InputValidationError(`${m}: input "${info.name}" must have rank ${info.shape.length} ${fmtShape(info.shape)}, got dims ${fmtShape(dims)}`);
    }
    info.shape.forEach((want, axis) => {
      const got = dims[axis]!;
      if (typeof want === 'number' && want >= 0) {
        if (got !== want) throw new InputValidationError(`${m}: input "${info.name}" dim ${axis} must be ${want} ${fmtShape(info.shape)}, got dims ${fmtShape(dims)}`);
      } else if (typeof want === 'string' && want !== '') {
        const seen = symbols.get(want);
        if (seen && seen.value !== got) {
          throw new InputValidationError(`${m}: dim "${want}" is ${seen.value} in input "${seen.input}" but ${got} in input "${info.name}"`);
        }
        symbols.set(want, { value: got, input: info.name });
      }
    });
    const count = dims.reduce((a, b) => a * b, 1);
    if (feed.data.length !== count) {
      throw new InputValidationError(`${m}: input "${info.name}" dims ${fmtShape(dims)} need ${count} elements, data has ${feed.data.length}`);
    }
  }
}

/** Throw if some requested output does not exist. */
export function validateOutputNames(modelKey: string, outputs: readonly ValueInfo[], names: readonly string[]): void {
  const known = outputs.map((o) => o.name);
  for (const n of names) {
    if (!known.includes(n)) throw new InputValidationError(`model "${modelKey}" has no output "${n}" (outputs: ${known.join(', ')})`);
  }
}

/** Zero-filled feeds for a warm-up run; symbolic dims become 1. */
export function zeroFeeds(inputs: readonly ValueInfo[]): Feeds {
  const feeds: Feeds = {};
  for (const info of inputs) {
    if (info.type === 'string' || info.type === 'non-tensor') {
      throw new Error(`cannot warm up: input "${info.name}" is ${info.type}`);
    }
    const dims = info.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : 1));
    const n = dims.reduce((a, b) => a * b, 1);
    feeds[info.name] = { type: info.type, data: new ARRAY_FOR_TYPE[info.type](n), dims };
  }
  return feeds;
}
