// torch.save checkpoints (zip and legacy formats, views, shared storages, Lightning- and DeepSpeed-like layouts)
// read by the project's pickle reader: every tensor's dtype, shape, stride, offset and values exactly; a file whose
// pickle would call code must be refused, never run.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { readTorchCheckpoint, TorchCheckpointError } from '../ml/weights';
import { readJsonObject, type GoldenKind, type OutputCheck } from './compare';

interface ExpectedTensor {
  path: string[];
  dtype: string;
  shape: number[];
  stride: number[];
  storage_offset: number;
  sha256_values: string;
}
interface ExpectedFile {
  tensors?: ExpectedTensor[];
  /** Present on a file whose pickle calls functions when loaded naively. */
  naive_load_calls?: unknown[];
}

const DTYPE: Record<string, string> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', int64: 'I64', bool: 'BOOL' };

export const torchPicklesKind: GoldenKind = {
  title: 'torch.save checkpoint files',
  async check(dir) {
    const files = readJsonObject(join(dir, 'expected.json'))['files'] as Record<string, ExpectedFile>;
    return Object.entries(files).map(([name, exp]) => (exp.naive_load_calls ? refused(dir, name) : tensors(dir, name, exp.tensors ?? [])));
  },
};

/** How many expected tensors came out other than torch wrote them (sha256 of the values in logical row-major order). */
function tensors(dir: string, name: string, want: ExpectedTensor[]): OutputCheck {
  const base = { name, measure: 'mismatches', tolerance: 0, total: want.length } as const;
  let got;
  try {
    got = readTorchCheckpoint(join(dir, name));
  } catch (e) {
    return { ...base, error: Infinity, detail: (e as Error).message };
  }
  const wrong = want.filter((t) => {
    const g = got.get(t.path.join('.'));
    if (!g) return true;
    const sha = createHash('sha256').update(new Uint8Array(g.data.buffer, g.data.byteOffset, g.data.byteLength)).digest('hex');
    return g.dtype !== DTYPE[t.dtype] || `${g.shape}` !== `${t.shape}` || `${g.stride}` !== `${t.stride}` || g.storageOffset !== t.storage_offset || sha !== t.sha256_values;
  });
  const named = new Set(want.map((t) => t.path.join('.')));
  const extra = [...got.keys()].filter((k) => !named.has(k));
  const error = wrong.length + extra.length;
  return { ...base, error, ...(error ? { detail: wrong.length ? `first: ${wrong[0]!.path.join('.')}` : `not written by torch: ${extra[0]}` } : {}) };
}

/** A file whose pickle calls code must be refused by the reader (the payload itself never runs: see the tests). */
function refused(dir: string, name: string): OutputCheck {
  const base = { name, measure: 'mismatches', tolerance: 0, total: 1 } as const;
  try {
    readTorchCheckpoint(join(dir, name));
    return { ...base, error: 1, detail: 'read without complaint: a pickle that calls code must be refused' };
  } catch (e) {
    return e instanceof TorchCheckpointError ? { ...base, error: 0 } : { ...base, error: 1, detail: `failed other than refused: ${(e as Error).message}` };
  }
}
