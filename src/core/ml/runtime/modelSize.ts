// The external data files an .onnx file's tensors reference (models over 2 GB keep weights outside the
// protobuf): for the session memory budget's estimate, and for the bundle checks that confine them.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

// The protobuf is walked straight from the file, skipping over tensor data, so a self-contained 500 MB model
// costs a few reads, not a 500 MB buffer. Field numbers (onnx.proto) of every path that leads to a TensorProto:
// initializers, sparse initializers, node attributes (Constant values, subgraphs), functions, training graphs.
type Kind = 'model' | 'training' | 'function' | 'graph' | 'node' | 'attribute' | 'sparse' | 'tensor';
const CHILDREN: Record<Exclude<Kind, 'tensor'>, Record<number, Kind>> = {
  model: { 7: 'graph', 20: 'training', 25: 'function' },
  training: { 1: 'graph', 2: 'graph' },
  function: { 7: 'node', 11: 'attribute' },
  graph: { 1: 'node', 5: 'tensor', 15: 'sparse' },
  node: { 5: 'attribute' },
  attribute: { 5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparse', 23: 'sparse' },
  sparse: { 1: 'tensor', 2: 'tensor' },
};
const TENSOR_EXTERNAL_DATA = 13;
const TENSOR_DATA_LOCATION = 14;
const EXTERNAL = 1;
const MAX_DEPTH = 64;
const MAX_ENTRY_BYTES = 1 << 16; // an external_data key/value entry is a short string

class ProtoFile {
  private readonly buf = Buffer.alloc(1 << 16);
  private start = 0;
  private len = 0;
  readonly size: number;

  constructor(private readonly fd: number) {
    this.size = fstatSync(fd).size;
  }

  private byte(pos: number): number {
    if (pos < this.start || pos >= this.start + this.len) {
      this.start = pos;
      this.len = readSync(this.fd, this.buf, 0, this.buf.length, pos);
      if (this.len === 0) throw new Error('truncated protobuf');
    }
    return this.buf[pos - this.start]!;
  }

  varint(pos: number): [number, number] {
    let v = 0;
    for (let i = 0, scale = 1; i < 10; i++, scale *= 128) {
      const b = this.byte(pos + i);
      v += (b & 0x7f) * scale;
      if (b < 0x80) return [v, pos + i + 1];
    }
    throw new Error('bad varint');
  }

  bytes(pos: number, len: number): Buffer {
    const out = Buffer.alloc(len);
    if (readSync(this.fd, out, 0, len, pos) !== len) throw new Error('truncated protobuf');
    return out;
  }
}

function walk(f: ProtoFile, kind: Kind, start: number, end: number, depth: number, found: Set<string>): void {
  if (depth > MAX_DEPTH) throw new Error('protobuf nested too deeply');
  let location: string | undefined;
  let dataLocation = 0;
  let pos = start;
  while (pos < end) {
    const [tag, p] = f.varint(pos);
    const field = Math.floor(tag / 8);
    switch (tag % 8) {
      case 0: {
        const [v, next] = f.varint(p);
        if (kind === 'tensor' && field === TENSOR_DATA_LOCATION) dataLocation = v;
        pos = next;
        break;
      }
      case 1:
        pos = p + 8;
        break;
      case 5:
        pos = p + 4;
        break;
      case 2: {
        const [len, body] = f.varint(p);
        pos = body + len;
        if (pos > end) throw new Error('truncated protobuf');
        if (kind === 'tensor') {
          if (field === TENSOR_EXTERNAL_DATA) {
            if (len > MAX_ENTRY_BYTES) throw new Error('oversized external_data entry');
            const entry = entryOf(f.bytes(body, len));
            if (entry.key === 'location') location = entry.value;
          }
        } else {
          const child = CHILDREN[kind][field];
          if (child) walk(f, child, body, pos, depth + 1, found);
        }
        break;
      }
      default:
        throw new Error(`wire type ${tag % 8} does not occur in ONNX`);
    }
  }
  if (pos !== end) throw new Error('truncated protobuf');
  if (dataLocation === EXTERNAL && location) found.add(location);
}

/** StringStringEntryProto {key = 1, value = 2} from its bytes; other fields are skipped as protobuf readers do. */
function entryOf(b: Buffer): { key?: string; value?: string } {
  const varint = (pos: number): [number, number] => {
    let v = 0;
    for (let i = 0, scale = 1; i < 10 && pos + i < b.length; i++, scale *= 128) {
      v += (b[pos + i]! & 0x7f) * scale;
      if (b[pos + i]! < 0x80) return [v, pos + i + 1];
    }
    throw new Error('bad varint');
  };
  const out: { key?: string; value?: string } = {};
  let pos = 0;
  while (pos < b.length) {
    const [tag, p] = varint(pos);
    const wire = tag % 8;
    if (wire === 0) pos = varint(p)[1];
    else if (wire === 1) pos = p + 8;
    else if (wire === 5) pos = p + 4;
    else if (wire === 2) {
      const [len, body] = varint(p);
      pos = body + len;
      if (pos > b.length) break;
      const field = Math.floor(tag / 8);
      if (field === 1) out.key = b.toString('utf8', body, pos);
      else if (field === 2) out.value = b.toString('utf8', body, pos);
    } else break;
  }
  if (pos !== b.length) throw new Error('bad external_data entry');
  return out;
}

/**
 * The external data locations an .onnx file names, as written (ONNX resolves them against the model's folder).
 * Throws when the file is not a well-formed protobuf.
 */
export function externalDataLocations(modelPath: string): string[] {
  const fd = openSync(modelPath, 'r');
  try {
    const f = new ProtoFile(fd);
    const found = new Set<string>();
    walk(f, 'model', 0, f.size, 0, found);
    return [...found];
  } finally {
    closeSync(fd);
  }
}

/** External data file paths (absolute) referenced by an .onnx file. */
export function externalDataFiles(modelPath: string): string[] {
  try {
    return externalDataLocations(modelPath).map((loc) => resolve(dirname(modelPath), loc));
  } catch {
    return []; // not readable here: ONNX Runtime will report the real problem when loading
  }
}

/** Bytes on disk of a model including its external data. */
export function estimateModelBytes(modelPath: string): number {
  let total = statSync(modelPath).size;
  for (const f of externalDataFiles(modelPath)) {
    try {
      total += statSync(f).size;
    } catch {
      // a missing external file fails the load itself, with ONNX Runtime's message
    }
  }
  return total;
}
