// Saving a graph whose weights already sit in another model's external data file (the DiffSeg UNet variant
// reuses unet.onnx.data: SD 1.5's UNet is 3.4 GB in fp32, so writing it twice would double the bundle).
// Every initializer of `g` that the base model stores externally under the same name, dtype and dims is
// written as a reference to the base's data file (same location/offset/length); the rest stay inline.
import protobuf from 'protobufjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative, sep } from 'node:path';
import { GraphBuilder, ONNX_DTYPE, makeData } from '../graph';
import { ONNX_SCHEMA } from '../graph/onnxSchema';

const EXTERNAL = 1;
let modelType: protobuf.Type | undefined;
const ModelProto = () => (modelType ??= protobuf.Root.fromJSON(ONNX_SCHEMA).lookupType('onnx.ModelProto'));

interface TensorObj {
  name: string;
  dims?: number[];
  data_type?: number;
  raw_data?: Uint8Array;
  data_location?: number;
  external_data?: { key: string; value: string }[];
}
type ModelObj = { graph: { initializer?: TensorObj[] } };

function readModel(path: string): ModelObj {
  const T = ModelProto();
  return T.toObject(T.decode(readFileSync(path)), { longs: Number, enums: Number }) as ModelObj;
}

/**
 * Writes `g` to `path`, pointing shared initializers at the external data of the model at `basePath`
 * (which must be in the same folder or below it). Consumes `g`: its shared initializers are emptied.
 */
export function saveSharingWeights(g: GraphBuilder, path: string, basePath: string): { shared: number; inline: number } {
  const base = new Map<string, TensorObj>();
  for (const t of readModel(basePath).graph.initializer ?? []) if (t.data_location === EXTERNAL) base.set(t.name, t);
  // External locations are relative to the model file; rebase them if the two models sit in different folders.
  const rebase = (loc: string) => relative(dirname(path), `${dirname(basePath)}/${loc}`).split(sep).join('/');
  const shared = new Map<string, TensorObj>();
  for (const [name, r] of [...g.initializers]) {
    const b = base.get(name);
    if (!b || r.dtype === 'bfloat16' || b.data_type !== ONNX_DTYPE[r.dtype] || (b.dims ?? []).join(',') !== r.shape.join(',')) continue;
    shared.set(name, b);
    // An empty placeholder keeps the graph valid while serialising without reading the weights.
    g.initializers.set(name, { name, dtype: r.dtype, shape: [0], source: makeData(r.dtype, []) });
  }
  const T = ModelProto();
  const obj = T.toObject(T.decode(g.toBytes()), { longs: Number, enums: Number }) as ModelObj;
  for (const t of obj.graph.initializer ?? []) {
    const b = shared.get(t.name);
    if (!b) continue;
    t.dims = b.dims;
    delete t.raw_data;
    t.data_location = EXTERNAL;
    t.external_data = (b.external_data ?? []).map((e) => (e.key === 'location' ? { key: e.key, value: rebase(e.value) } : e));
  }
  writeFileSync(path, T.encode(T.fromObject(obj)).finish());
  return { shared: shared.size, inline: g.initializers.size - shared.size };
}
