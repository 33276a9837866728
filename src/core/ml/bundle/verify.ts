// verifyBundle: bundle.json parses, every file is present inside the bundle (confine.ts) with its size and
// sha256, every ONNX model reads only listed files and loads in ONNX Runtime with the input/output names, dtypes
// and shapes bundle.json promises, and the tokenizer loads.
// All problems are collected and thrown together as one BundleError.
import { lstatSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseJson } from '../../json';
import { bundleFileProblem, externalDataProblems, LINK_REFUSED } from './confine';
import { asBundleError, BundleError } from './errors';
import { sha256File } from './hash';
import { ODISE_GRAPHS } from './odise';
import { BUNDLE_FILE, BundleManifestSchema, type BundleManifest, type ComponentKey, type FileEntry, type TensorSpec } from './schema';
import { loadTokenizer } from './tokenizerFiles';

// bundle.json is a few kB; anything far larger is not one (and must not be read into memory whole).
const MAX_MANIFEST_BYTES = 16 << 20;

/** Reads and validates bundle.json (no file checks). */
export function readManifest(dir: string): BundleManifest {
  const path = join(dir, BUNDLE_FILE);
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) throw new BundleError(`not a model bundle: ${path} is missing`);
  if (st.isSymbolicLink()) throw new BundleError(`not a model bundle: ${path} is ${LINK_REFUSED}`);
  if (!st.isFile()) throw new BundleError(`not a model bundle: ${path} is not a regular file`);
  if (st.size > MAX_MANIFEST_BYTES) throw new BundleError(`not a model bundle: ${path} is ${st.size} bytes, too large for a bundle manifest`);
  const text = asBundleError(`cannot read ${path}`, () => readFileSync(path, 'utf8'));
  const json = asBundleError(path, () => parseJson(text));
  const v = (json as { formatVersion?: unknown } | null)?.formatVersion;
  if (typeof v === 'number' && v > 1) throw new BundleError(`${path} has format version ${v}, newer than this DiffLabel reads (1): update DiffLabel`);
  const r = BundleManifestSchema.safeParse(json);
  if (!r.success) throw new BundleError(`${path} is not a valid bundle manifest`, r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  return r.data;
}

export interface VerifyOptions {
  /** Hash every file (default true; false checks presence and size only). */
  checksums?: boolean;
  /** Load every model in ONNX Runtime (default true). */
  load?: boolean;
  onProgress?: (done: number, total: number, step: string) => void;
}

export interface VerifyReport {
  dir: string;
  name: string;
  dtype: BundleManifest['dtype'];
  components: { key: ComponentKey; model: string; inputs: string[]; outputs: string[] }[];
  files: number;
  bytes: number;
  warnings: string[];
  manifest: BundleManifest;
}

const fmtShape = (s: readonly (number | string | null)[]) => `[${s.map((d) => (d === null || d === '' ? '?' : String(d))).join(',')}]`;

/** Differences between what bundle.json declares and what ORT reports; unknown dims on either side match anything. */
function compareSpecs(what: string, declared: TensorSpec[], actual: readonly ort.InferenceSession.ValueMetadata[]): string[] {
  const problems: string[] = [];
  const dn = declared.map((s) => s.name);
  const an = actual.map((s) => s.name);
  if (dn.join('\n') !== an.join('\n')) return [`${what}: bundle.json lists [${dn.join(', ')}] but the model has [${an.join(', ')}]`];
  declared.forEach((d, i) => {
    const a = actual[i]!;
    if (!a.isTensor) return void problems.push(`${what} ${d.name}: not a tensor in the model`);
    if (a.type !== d.dtype) problems.push(`${what} ${d.name}: dtype ${d.dtype} in bundle.json, ${a.type} in the model`);
    if (a.shape.length === 0 && d.shape.length === 0) return;
    const mismatch =
      a.shape.length !== d.shape.length ||
      d.shape.some((x, j) => {
        const y = a.shape[j]!;
        return x !== null && y !== '' && (typeof x !== typeof y || x !== y);
      });
    if (mismatch) problems.push(`${what} ${d.name}: shape ${fmtShape(d.shape)} in bundle.json, ${fmtShape(a.shape)} in the model`);
  });
  return problems;
}

/** A Ref LDM-Seg bundle's parts fit together: the variant's conv_in width, the mask input, Alpha-CLIP's alpha input. */
function refLdmSegProblems(m: BundleManifest): string[] {
  if (!m.refLdmSeg) return [];
  const { variant } = m.refLdmSeg;
  const missing = ['unet', 'vae_encoder', 'vae_decoder', 'image_encoder'].filter((k) => !m.components[k]);
  if (missing.length) return [`refLdmSeg: the bundle lacks ${missing.join(', ')}`];
  const input = (key: string, name: string) => m.components[key]!.inputs.find((i) => i.name === name);
  const problems: string[] = [];
  const channels = input('unet', 'sample')?.shape[1];
  const want = variant === 'n' ? 8 : 4;
  if (channels !== want) problems.push(`refLdmSeg: variant ${variant} takes ${want} input channels, but unet's sample has ${String(channels)}`);
  if (!input('unet', 'encoder_attention_mask')) problems.push('refLdmSeg: unet has no encoder_attention_mask input');
  if (!input('image_encoder', 'alpha')) problems.push("refLdmSeg: image_encoder has no alpha input (Alpha-CLIP's)");
  return problems;
}

/** An ODISE bundle holds every graph and the tokenizer its pipeline reads (pipelines/odise/models.ts). */
function odiseProblems(m: BundleManifest): string[] {
  if (!m.odise) return [];
  const missing = [...ODISE_GRAPHS.filter((k) => !m.components[k]), ...(m.tokenizer ? [] : ['tokenizer'])];
  return missing.length ? [`odise: the bundle lacks ${missing.join(', ')}`] : [];
}

export async function verifyBundle(dir: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const manifest = readManifest(dir);
  const problems: string[] = [];
  const checked = new Map<string, boolean>(); // path -> ok (shared weight files are hashed once)
  const keys = Object.keys(manifest.components);
  const total = keys.length * (opts.load === false ? 1 : 2) + (manifest.tokenizer ? 1 : 0) + (manifest.odise ? 1 : 0);
  let done = 0;
  const step = (s: string) => opts.onProgress?.(done++, total, s);

  const checkFile = async (f: FileEntry): Promise<boolean> => {
    const hit = checked.get(f.path);
    if (hit !== undefined) return hit;
    const p = join(dir, f.path);
    const where = bundleFileProblem(dir, f.path);
    let ok = false;
    if (where) problems.push(`${f.path}: ${where}`);
    else if (statSync(p).size !== f.bytes) problems.push(`${f.path}: ${statSync(p).size} bytes, bundle.json says ${f.bytes} (truncated or replaced)`);
    else if (opts.checksums !== false && (await sha256File(p)) !== f.sha256) problems.push(`${f.path}: sha256 checksum mismatch (the file was modified or corrupted)`);
    else ok = true;
    checked.set(f.path, ok);
    return ok;
  };

  const summary: VerifyReport['components'] = [];
  let bytes = 0;
  for (const key of keys) {
    const c = manifest.components[key]!;
    step(`checking ${key} files`);
    if (!c.files.some((f) => f.path === c.model)) problems.push(`${key}: model file ${c.model} is not among its listed files`);
    let filesOk = true;
    for (const f of c.files) filesOk = (await checkFile(f)) && filesOk;
    summary.push({ key, model: c.model, inputs: c.inputs.map((s) => s.name), outputs: c.outputs.map((s) => s.name) });
    if (opts.load === false) continue;
    step(`loading ${key} in ONNX Runtime`);
    if (!filesOk) continue; // its file problems are already reported; a load would only repeat them
    const external = externalDataProblems(dir, key, c);
    problems.push(...external);
    if (external.length) continue; // never let ONNX Runtime read what bundle.json does not vouch for
    let session: ort.InferenceSession | undefined;
    try {
      session = await ort.InferenceSession.create(join(dir, c.model), { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
      problems.push(...compareSpecs(`${key} input`, c.inputs, session.inputMetadata), ...compareSpecs(`${key} output`, c.outputs, session.outputMetadata));
    } catch (e) {
      problems.push(`${key}: ONNX Runtime cannot load ${c.model}: ${(e as Error).message.split('\n')[0]}`);
    } finally {
      await session?.release();
    }
  }
  if (manifest.tokenizer) {
    step('checking the tokenizer');
    const t = manifest.tokenizer;
    let ok = true;
    for (const f of t.files) ok = (await checkFile(f)) && ok;
    const paths = t.format === 'vocab-merges' ? [t.vocab, t.merges] : [t.bpe];
    if (paths.some((p) => !p)) problems.push(`tokenizer: format ${t.format} needs ${t.format === 'vocab-merges' ? 'vocab and merges' : 'bpe'}`);
    else if (paths.some((p) => !t.files.some((f) => f.path === p))) problems.push('tokenizer: its files are not all listed with checksums');
    else if (ok) {
      try {
        const abs = paths.map((p) => join(dir, p!));
        loadTokenizer(t.format === 'vocab-merges' ? { format: 'vocab-merges', vocab: abs[0]!, merges: abs[1]! } : { format: 'bpe-gz', bpe: abs[0]! });
      } catch (e) {
        problems.push(`tokenizer: ${(e as Error).message}`);
      }
    }
  }
  if (manifest.odise) {
    step("checking ODISE's constants");
    await checkFile(manifest.odise.constants);
  }
  problems.push(...refLdmSegProblems(manifest), ...odiseProblems(manifest));
  opts.onProgress?.(total, total, 'done');
  if (problems.length) throw new BundleError(`model bundle ${dir} failed verification`, problems);
  for (const [p] of checked) bytes += statSync(join(dir, p)).size;
  return { dir, name: manifest.name, dtype: manifest.dtype, components: summary, files: checked.size, bytes, warnings: manifest.warnings, manifest };
}
