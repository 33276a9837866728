// The models Peekaboo reads from a bundle: the text encoder and tokenizer (prompt embeddings), the UNet (the guided
// noise prediction, never differentiated), and the VAE encoder as a GRAPH: the step graph (step.ts) includes it and
// differentiates through it, so it is rebuilt from the bundle's own weights (the ONNX file's initializers) and config.
// The fixture bundle (fixture.ts) marks its pooling encoder in the config and is otherwise read the same way.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import protobuf from 'protobufjs';
import { BundleError, type BundleManifest } from '../../ml/bundle';
import { loadTokenizer } from '../../ml/bundle/tokenizerFiles';
import { fromFloat16Bits, type GraphBuilder } from '../../ml/graph';
import { ONNX_SCHEMA } from '../../ml/graph/onnxSchema';
import { buildVaeEncoder, parseVaeConfig } from '../../ml/models/vae';
import type { Feeds, InferenceHost, Outputs, RunOptions } from '../../ml/runtime';
import type { StDType } from '../../ml/weights/safetensors';
import type { WeightSource } from '../../ml/weights/source';
import { buildFixtureEncoder, FIXTURE_ENCODER } from './fixture';

/** What Peekaboo reads from a bundle ('tokenizer': the bundle's tokenizer). */
export const PEEKABOO_COMPONENTS = ['unet', 'vae_encoder', 'text_encoder', 'tokenizer'] as const;
const MODEL_COMPONENTS = PEEKABOO_COMPONENTS.filter((k) => k !== 'tokenizer');
/** Part of every step graph's file name: bump when step.ts changes what it builds, so old files are not reused. */
const STEP_GRAPH_VERSION = 1;
/** Step graphs kept on disk (each holds a copy of the VAE encoder's weights: about 130 MB for SD 1.5). */
const STEP_GRAPHS_KEPT = 4;

/** Deletes all but the `keep` step graphs (.onnx) of `dir` used last (by modification time, touched on each use). */
export function pruneStepGraphs(dir: string, keep: number): void {
  if (!existsSync(dir)) return;
  const graphs = readdirSync(dir)
    .filter((f) => f.endsWith('.onnx'))
    .map((f) => ({ path: join(dir, f), used: statSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.used - a.used);
  for (const g of graphs.slice(keep)) rmSync(g.path, { force: true }); // a session that loaded it has it in memory already
}

export class PeekabooModels {
  readonly name: string;
  /** Changes when the bundle is rebuilt. */
  readonly id: string;
  readonly scalingFactor: number;
  private readonly keys: { unet: string; text: string };
  private registered: Promise<void> | null = null;
  private readonly steps = new Set<string>();

  /** `graphDir`: where step graphs are written (each holds a copy of the encoder's weights). */
  constructor(readonly dir: string, readonly manifest: BundleManifest, private readonly host: InferenceHost, private readonly graphDir = join(tmpdir(), 'difflabel-peekaboo')) {
    const c = manifest.components;
    const missing = MODEL_COMPONENTS.filter((k) => !Object.hasOwn(c, k));
    if (missing.length || !manifest.tokenizer)
      throw new BundleError(`model bundle ${dir} cannot run Peekaboo: it lacks ${[...missing, ...(manifest.tokenizer ? [] : ['tokenizer'])].join(', ')}`);
    this.name = manifest.name;
    this.id = `${manifest.name}@${manifest.createdAt}`;
    this.scalingFactor = manifest.vaeScalingFactor ?? 0.18215;
    const base = `peekaboo:${resolve(dir)}:${manifest.createdAt}`;
    this.keys = { unet: `${base}:unet`, text: `${base}:text_encoder` };
  }

  private register(): Promise<void> {
    const c = this.manifest.components;
    this.registered ??= Promise.all([
      this.host.register(this.keys.unet, join(this.dir, c.unet!.model)),
      this.host.register(this.keys.text, join(this.dir, c.text_encoder!.model)),
    ]).then(() => undefined);
    return this.registered;
  }

  /** The latent side the UNet takes when its file fixes it (the fixture), else null. */
  fixedLatentSide(): number | null {
    const s = this.manifest.components.unet!.inputs.find((i) => i.name === 'sample')?.shape[2];
    return typeof s === 'number' ? s : null;
  }

  /** The text encoder's last hidden state [1, 77, D] of one prompt. */
  async embed(text: string, run: RunOptions): Promise<{ data: Float32Array; dims: number[] }> {
    await this.register();
    const t = this.manifest.tokenizer!;
    const abs = (q: string | undefined) => join(this.dir, q!);
    const tok = loadTokenizer(t.format === 'vocab-merges' ? { format: 'vocab-merges', vocab: abs(t.vocab), merges: abs(t.merges) } : { format: 'bpe-gz', bpe: abs(t.bpe) });
    // The reference's tokenizer call truncates (truncation=True): a long prompt is cut, not refused.
    const ids = tok.tokenizeInt64(text, { contextLength: t.contextLength, pad: t.pad, truncate: true });
    const out = await this.host.run(this.keys.text, { input_ids: { data: ids, dims: [1, t.contextLength] } }, ['last_hidden_state'], run);
    const h = out['last_hidden_state']!;
    return { data: h.data as Float32Array, dims: h.dims.map(Number) };
  }

  /** The UNet's noise predictions [B, c, h, w] for `sample` [B, c, h, w], each sample at its own timestep (`timesteps`, B of them). */
  async noise(sample: Float32Array, dims: number[], timesteps: Float32Array, context: Float32Array, contextDims: number[], run: RunOptions): Promise<Float32Array> {
    await this.register();
    const out = await this.host.run(
      this.keys.unet,
      { sample: { data: sample, dims }, timestep: { data: timesteps, dims: [timesteps.length] }, encoder_hidden_states: { data: context, dims: contextDims } },
      ['noise_pred'],
      run,
    );
    return out['noise_pred']!.data as Float32Array;
  }

  /** The VAE encoder at input side `size` as a float32 graph (image → latent_mean, latent_std) to include and differentiate. */
  encoder(size: number): GraphBuilder {
    const c = this.manifest.components.vae_encoder!;
    if (c.config['fixture'] === FIXTURE_ENCODER) return buildFixtureEncoder(size);
    return buildVaeEncoder(parseVaeConfig(c.config), new OnnxWeights(join(this.dir, c.model)), { batch: 1, height: size, width: size }).graph;
  }

  /**
   * Runs the step graph `build` makes, identified by `signature` (everything it depends on): written once per
   * bundle and signature to a file under `graphDir`, then a model of the inference host like any other.
   */
  async step(signature: string, build: () => GraphBuilder, feeds: Feeds, outputs: readonly string[], run: RunOptions): Promise<Outputs> {
    const hash = createHash('sha256').update(`v${STEP_GRAPH_VERSION}\n${this.id}\n${resolve(this.dir)}\n${signature}`).digest('hex').slice(0, 24);
    const key = `peekaboo-step:${hash}`;
    if (!this.steps.has(key)) {
      const path = join(this.graphDir, `${hash}.onnx`);
      if (!existsSync(path)) {
        mkdirSync(dirname(path), { recursive: true });
        // Written beside and renamed: another process may be writing the same graph.
        const tmp = `${path}.partial-${process.pid}`;
        build().save(tmp);
        renameSync(tmp, path);
        pruneStepGraphs(this.graphDir, STEP_GRAPHS_KEPT);
      } else {
        const now = new Date();
        utimesSync(path, now, now); // used: the last to be pruned
      }
      await this.host.register(key, path);
      this.steps.add(key);
    }
    return this.host.run(key, feeds, outputs, run);
  }

  async dispose(): Promise<void> {
    const keys = [...(this.registered ? Object.values(this.keys) : []), ...this.steps];
    await Promise.all(keys.map((k) => this.host.release(k).catch(() => undefined)));
  }
}

interface TensorProto {
  name: string;
  dims?: number[];
  data_type?: number;
  raw_data?: Uint8Array;
  float_data?: number[];
  data_location?: number;
  external_data?: { key: string; value: string }[];
}

const FLOAT = 1, FLOAT16 = 10, EXTERNAL = 1;

/**
 * The float initializers of an ONNX model built by the graph core, under the names the builders read: a Linear weight
 * the builder stored transposed (`<name>.T`, nn.ts) is given back as `<name>`, float16 ones as float32.
 */
export class OnnxWeights implements WeightSource {
  private readonly tensors = new Map<string, { t: TensorProto; transposed: boolean }>();

  constructor(private readonly path: string) {
    const T = protobuf.Root.fromJSON(ONNX_SCHEMA).lookupType('onnx.ModelProto');
    const model = T.toObject(T.decode(readFileSync(path)), { longs: Number, enums: Number }) as { graph: { initializer?: TensorProto[] } };
    for (const t of model.graph.initializer ?? []) {
      if (t.data_type !== FLOAT && t.data_type !== FLOAT16) continue;
      const transposed = t.name.endsWith('.T') && (t.dims ?? []).length === 2;
      this.tensors.set(transposed ? t.name.slice(0, -2) : t.name, { t, transposed });
    }
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }
  has(name: string): boolean {
    return this.tensors.has(name);
  }
  private get(name: string) {
    const e = this.tensors.get(name);
    if (!e) throw new BundleError(`${this.path}: no weight '${name}'`);
    return e;
  }
  shape(name: string): number[] {
    const { t, transposed } = this.get(name);
    const d = (t.dims ?? []).map(Number);
    return transposed ? [d[1]!, d[0]!] : d;
  }
  dtype(): StDType {
    return 'F32';
  }
  read(name: string): Float32Array {
    const { t, transposed } = this.get(name);
    const bytes = this.bytes(t);
    const data = t.data_type === FLOAT16
      ? fromFloat16Bits(new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)))
      : bytes.byteLength ? new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) : Float32Array.from(t.float_data ?? []);
    if (!transposed) return data;
    const [r, c] = (t.dims ?? []).map(Number) as [number, number];
    const out = new Float32Array(data.length);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = data[i * c + j]!;
    return out;
  }

  private bytes(t: TensorProto): Uint8Array {
    if (t.data_location !== EXTERNAL) return t.raw_data ?? new Uint8Array(0);
    const ext = Object.fromEntries((t.external_data ?? []).map((e) => [e.key, e.value]));
    const file = join(dirname(this.path), ext['location'] ?? '');
    const offset = Number(ext['offset'] ?? 0), length = Number(ext['length']);
    const out = new Uint8Array(length);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, out, 0, length, offset);
    } finally {
      closeSync(fd);
    }
    return out;
  }
}
