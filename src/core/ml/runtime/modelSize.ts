// Memory estimate of a model: the .onnx file plus the external data files its initializers reference
// (models over 2 GB keep weights outside the protobuf). Used for the session memory budget.
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import protobuf from 'protobufjs';

// Only the fields on the path to TensorProto.external_data; protobufjs skips everything else.
const SUBSET = `
syntax = "proto3";
package onnx;
message StringStringEntryProto { string key = 1; string value = 2; }
message TensorProto { repeated StringStringEntryProto external_data = 13; int32 data_location = 14; }
message GraphProto { repeated TensorProto initializer = 5; }
message ModelProto { GraphProto graph = 7; }
`;
const ModelProto = protobuf.parse(SUBSET).root.lookupType('onnx.ModelProto');

interface Decoded {
  graph?: { initializer?: Array<{ externalData?: Array<{ key: string; value: string }>; dataLocation?: number }> };
}

// A graph-only .onnx with external weights is small; a self-contained one is not worth decoding (it has none).
const MAX_DECODE_BYTES = 256 * 1024 * 1024;

/** External data file paths (absolute) referenced by an .onnx file. */
export function externalDataFiles(modelPath: string): string[] {
  if (statSync(modelPath).size > MAX_DECODE_BYTES) return [];
  let model: Decoded;
  try {
    model = ModelProto.toObject(ModelProto.decode(readFileSync(modelPath))) as Decoded;
  } catch {
    return []; // not decodable here: ONNX Runtime will report the real problem when loading
  }
  const files = new Set<string>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== 1) continue; // 1 = EXTERNAL
    const loc = t.externalData?.find((e) => e.key === 'location')?.value;
    if (loc) files.add(resolve(dirname(modelPath), loc));
  }
  return [...files];
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
