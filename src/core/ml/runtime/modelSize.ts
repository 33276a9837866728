// The external data files an .onnx file's initializers reference (models over 2 GB keep weights outside the
// protobuf): for the session memory budget's estimate, and for the bundle checks that confine them.
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

/**
 * The external data locations an .onnx file names, as written (ONNX resolves them against the model's folder).
 * Throws when the file is not a decodable model.
 */
export function externalDataLocations(modelPath: string): string[] {
  const model = ModelProto.toObject(ModelProto.decode(readFileSync(modelPath))) as Decoded;
  const locs = new Set<string>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== 1) continue; // 1 = EXTERNAL
    const loc = t.externalData?.find((e) => e.key === 'location')?.value;
    if (loc) locs.add(loc);
  }
  return [...locs];
}

// A graph-only .onnx with external weights is small; a self-contained one is not worth decoding for an estimate.
const MAX_DECODE_BYTES = 256 * 1024 * 1024;

/** External data file paths (absolute) referenced by an .onnx file. */
export function externalDataFiles(modelPath: string): string[] {
  if (statSync(modelPath).size > MAX_DECODE_BYTES) return [];
  try {
    return externalDataLocations(modelPath).map((loc) => resolve(dirname(modelPath), loc));
  } catch {
    return []; // not decodable here: ONNX Runtime will report the real problem when loading
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
