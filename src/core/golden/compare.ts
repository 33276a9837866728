// Checking the project against golden cases: reference outputs of the real implementations (diffusers,
// transformers, openai/CLIP, …) for tiny configurations. A kind runs the project's implementation on a case's
// inputs and returns one check per reference output: its error and the tolerance it must stay within.
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import type { z } from 'zod';
import { parseJson } from '../json';
import type { GraphBuilder } from '../ml/graph';
import type { SafetensorsFile } from '../ml/weights';

/** The case folder's manifest.json (`kind` says which kind module checks it; the rest is the kind's). */
export type CaseManifest = Record<string, unknown> & { kind: string };

export interface GoldenKind {
  /** What the reference computed, in a few words. */
  readonly title: string;
  /**
   * Runs the project's implementation on the case in `dir` and compares it with every reference output there;
   * an output the kind did not compare must come back as a failing check, never be left out.
   */
  check(dir: string, manifest: CaseManifest): Promise<OutputCheck[]>;
}

export interface OutputCheck {
  /** The reference output, prefixed with its run where a case has several (`t300/noise_pred`). */
  name: string;
  /** 'max_abs': the largest |ours − reference|; 'mismatches': how many of `total` entries differ (exact outputs). */
  measure: 'max_abs' | 'mismatches';
  /** Infinity when nothing comparable came out (no such output, other dims, NaN); `detail` says why. */
  error: number;
  tolerance: number;
  total?: number;
  detail?: string;
}

/** fp32 re-implementations of fp32 references: float32 reordering alone moves these outputs by up to 2.7e-5. */
export const MODEL_ATOL = 1e-4;

export const withinTolerance = (c: OutputCheck): boolean => c.error <= c.tolerance;

/** Runs a built graph once in onnxruntime-node. */
export async function runGraph(g: GraphBuilder, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(g.toBytes(), { intraOpNumThreads: 2 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** A floating-point tensor of a reference file as a float32 graph input. */
export const floatTensor = (f: SafetensorsFile, name: string): ort.Tensor => new ort.Tensor('float32', f.readFloat32(name), f.info(name).shape);

/** An I64 tensor of a reference file (token ids, masks) as an int64 graph input. */
export function int64Tensor(f: SafetensorsFile, name: string): ort.Tensor {
  const r = f.readRaw(name);
  if (r.dtype !== 'I64') throw new Error(`${name} is ${r.dtype}, expected I64`);
  return new ort.Tensor('int64', r.data as BigInt64Array, r.shape);
}

/** max |got − want|; Infinity as soon as a difference is NaN. */
/** The largest |value| (a tolerance's scale). */
export function maxAbs(v: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]!));
  return m;
}

export const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

export function maxAbsDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`${got.length} values compared with ${want.length}`);
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

const dimsText = (d: readonly (number | bigint)[]) => `[${d.join(',')}]`;

/** Our float32 tensor against reference values: the same dims, then max |error|. */
export function compareValues(name: string, got: ort.Tensor | undefined, want: { data: ArrayLike<number>; dims: readonly number[] }, tolerance: number): OutputCheck {
  const base = { name, measure: 'max_abs', tolerance } as const;
  if (!got) return { ...base, error: Infinity, detail: 'the implementation gave no such output' };
  if (dimsText(got.dims) !== dimsText(want.dims)) return { ...base, error: Infinity, detail: `dims ${dimsText(got.dims)}, reference ${dimsText(want.dims)}` };
  if (got.type !== 'float32') return { ...base, error: Infinity, detail: `${got.type} output, reference float32` };
  const error = maxAbsDiff(got.data as Float32Array, want.data);
  return Number.isFinite(error) ? { ...base, error } : { ...base, error, detail: 'NaN or infinite values' };
}

/** Our tensor against the reference file's `ref`, reported as `label`. */
export const compareTensor = (label: string, got: ort.Tensor | undefined, file: SafetensorsFile, ref: string, tolerance = MODEL_ATOL): OutputCheck =>
  compareValues(label, got, { data: file.readFloat32(ref), dims: file.info(ref).shape }, tolerance);

/** An exact check: `differs` describes how item i differs from the reference, or gives undefined. */
export function exactCheck<T>(name: string, items: readonly T[], differs: (item: T, i: number) => string | undefined): OutputCheck {
  const diffs = items.map(differs).filter((d): d is string => d !== undefined);
  const check: OutputCheck = { name, measure: 'mismatches', error: diffs.length, tolerance: 0, total: items.length };
  return diffs.length ? { ...check, detail: diffs.length > 1 ? `${diffs[0]} (and ${diffs.length - 1} more)` : diffs[0] } : check;
}

/**
 * One reference outputs file: compares our tensors with its entries and remembers which ones were compared, so
 * that `checks()` can report every entry nothing looked at (a reference output is never skipped silently).
 */
export class ReferenceOutputs {
  private readonly compared = new Set<string>();
  private readonly list: OutputCheck[] = [];

  /** `prefix` names the run (`t300/`) where a case has several. */
  constructor(readonly file: SafetensorsFile, private readonly prefix = '') {}

  /** Our output against the reference entry `ref` (same name unless the implementation calls it otherwise). */
  tensor(got: ort.Tensor | undefined, ref: string, tolerance = MODEL_ATOL): void {
    this.add(compareTensor(this.prefix + ref, got, this.file, ref, tolerance), ref);
  }

  /** A check made from reference entries some other way (`covers` lists them). */
  add(check: OutputCheck, ...covers: string[]): void {
    for (const c of covers) this.compared.add(c);
    this.list.push(check);
  }

  checks(): OutputCheck[] {
    const missed = this.file.keys().filter((k) => !this.compared.has(k));
    return [...this.list, ...missed.map((k) => ({ name: this.prefix + k, measure: 'max_abs', error: Infinity, tolerance: 0, detail: 'not compared' }) satisfies OutputCheck)];
  }
}

/** A JSON file of a case that must hold an object. */
export function readJsonObject(path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = parseJson(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${path} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** A JSON file of a case, checked against what the kind reads from it. */
export function readJsonAs<T>(path: string, schema: z.ZodType<T>): T {
  const r = schema.safeParse(readJsonObject(path));
  if (!r.success) throw new Error(`${path}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}
