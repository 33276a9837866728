// ModelProto serialisation with protobufjs, inline or with initializers in an external `.onnx.data` file.
import protobuf from 'protobufjs';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { coerceData, DTYPE_BYTES, ONNX_DTYPE, rawBytes } from './dtypes';
import type { AttrValue, GraphBuilder, InitializerRecord, NodeRecord, Value } from './builder';
import { OPS, type AttrKind } from './ops';
import { ONNX_SCHEMA } from './onnxSchema';
import { numel } from './shape';

let modelType: protobuf.Type | undefined;
function ModelProto(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(ONNX_SCHEMA).lookupType('onnx.ModelProto');
  return modelType;
}

/** Protobuf messages are limited to 2 GiB; leave headroom for the graph itself. */
export const INLINE_LIMIT_BYTES = 2 ** 31 - 64 * 2 ** 20;

export interface SaveOptions {
  /** true: always external; false: never; 'auto' (default): only when the model would exceed 2 GB. */
  externalData?: boolean | 'auto';
  /** Initializers smaller than this stay inline even with external data (ONNX's convention is 1 KiB). */
  externalThreshold?: number;
}

const enum AttrType { FLOAT = 1, INT = 2, STRING = 3, FLOATS = 6, INTS = 7, STRINGS = 8 }
const EXTERNAL = 1;

/** An attribute typed by the operator table; one the table does not type follows its value (integers are ints). */
function attrProto(name: string, v: AttrValue, kind: AttrKind | undefined): object {
  const enc = (s: string) => new TextEncoder().encode(s);
  if (typeof v === 'number') {
    return kind === 'float' || (kind === undefined && !Number.isInteger(v)) ? { name, type: AttrType.FLOAT, f: v } : { name, type: AttrType.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: AttrType.STRING, s: enc(v) };
  if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === 'string') return { name, type: AttrType.STRINGS, strings: (v as string[]).map(enc) };
    const nums = v as number[];
    return kind === 'ints' || (kind === undefined && nums.every(Number.isInteger))
      ? { name, type: AttrType.INTS, ints: nums }
      : { name, type: AttrType.FLOATS, floats: nums };
  }
  if ('float' in v) return { name, type: AttrType.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: AttrType.FLOATS, floats: v.floats };
  if ('int' in v) return { name, type: AttrType.INT, i: v.int };
  return { name, type: AttrType.INTS, ints: v.ints };
}

function attrsProto(n: NodeRecord): object[] {
  const kinds = n.domain === '' ? OPS[n.opType]?.attrs : undefined;
  return Object.entries(n.attrs)
    .filter((e): e is [string, AttrValue] => e[1] !== undefined)
    .map(([k, v]) => attrProto(k, v, kinds?.[k]));
}

function valueInfo(v: Value): object {
  const shape = v.shape
    ? { dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : typeof d === 'string' ? { dim_param: d } : {})) }
    : undefined;
  return { name: v.name, type: { tensor_type: { elem_type: ONNX_DTYPE[v.dtype], shape } } };
}

export function irVersionFor(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

export function initializerBytes(r: InitializerRecord): number {
  return numel(r.shape) * DTYPE_BYTES[r.dtype];
}

export function materialize(r: InitializerRecord): Uint8Array {
  const data = coerceData(typeof r.source === 'function' ? r.source() : r.source, r.dtype);
  if (data.length !== numel(r.shape))
    throw new Error(`initializer ${r.name}: provider returned ${data.length} elements for shape [${r.shape.join(',')}]`);
  return rawBytes(data);
}

type TensorWriter = (r: InitializerRecord) => object;

function modelObject(g: GraphBuilder, tensor: TensorWriter): object {
  if (g.outputs.length === 0) throw new Error(`graph '${g.name}' has no outputs`);
  const opsets = [{ domain: '', version: g.opset }, ...Object.entries(g.extraOpsets).map(([domain, version]) => ({ domain, version }))];
  return {
    ir_version: irVersionFor(g.opset),
    producer_name: 'difflabel',
    opset_import: opsets,
    graph: {
      name: g.name,
      node: g.nodes.map((n) => ({
        name: n.name, op_type: n.opType, domain: n.domain || undefined, input: n.inputs, output: n.outputs, attribute: attrsProto(n),
      })),
      initializer: [...g.initializers.values()].map(tensor),
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
  };
}

function encode(obj: object): Uint8Array {
  const T = ModelProto();
  return T.encode(T.fromObject(obj)).finish();
}

export function totalInitializerBytes(g: GraphBuilder): number {
  let n = 0;
  for (const r of g.initializers.values()) n += initializerBytes(r);
  return n;
}

/** The whole ModelProto in memory (initializers inline). */
export function toBytes(g: GraphBuilder): Uint8Array {
  const total = totalInitializerBytes(g);
  if (total > INLINE_LIMIT_BYTES)
    throw new Error(`graph '${g.name}' holds ${total} bytes of weights, over protobuf's 2 GB limit: save() it with external data`);
  return encode(modelObject(g, (r) => ({ name: r.name, dims: r.shape, data_type: ONNX_DTYPE[r.dtype], raw_data: materialize(r) })));
}

/**
 * Writes `path` (and `path + '.data'` when external). Initializers are materialised one at a time and
 * written straight to the data file, so peak memory stays near the largest single tensor.
 */
export function saveModel(g: GraphBuilder, path: string, opts: SaveOptions = {}): { external: boolean; dataPath?: string } {
  const mode = opts.externalData ?? 'auto';
  const external = mode === true || (mode === 'auto' && totalInitializerBytes(g) > INLINE_LIMIT_BYTES);
  if (!external) {
    writeFileSync(path, toBytes(g));
    return { external: false };
  }
  const threshold = opts.externalThreshold ?? 1024;
  const dataPath = `${path}.data`;
  const location = basename(dataPath);
  const fd = openSync(dataPath, 'w');
  let offset = 0;
  try {
    const obj = modelObject(g, (r) => {
      const base = { name: r.name, dims: r.shape, data_type: ONNX_DTYPE[r.dtype] };
      if (initializerBytes(r) < threshold) return { ...base, raw_data: materialize(r) };
      offset = Math.ceil(offset / 4096) * 4096; // page-aligned so ORT can map tensors in place
      const bytes = materialize(r);
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, offset + done);
      const entry = {
        ...base,
        data_location: EXTERNAL,
        external_data: [
          { key: 'location', value: location },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(bytes.length) },
        ],
      };
      offset += bytes.length;
      return entry;
    });
    writeFileSync(path, encode(obj));
  } finally {
    closeSync(fd);
  }
  return { external: true, dataPath };
}

/** Decodes a ModelProto (tests and tools inspect what was written). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const T = ModelProto();
  return T.toObject(T.decode(bytes), { longs: Number, bytes: Array, defaults: false }) as Record<string, unknown>;
}
