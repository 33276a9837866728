// The DiffSeg FIXTURE model: NOT Stable Diffusion. A tiny "affinity VAE + UNet" with the same inputs and
// outputs as a real bundle's vae_encoder / unet_diffseg / text_encoder, built as real ONNX graphs, so the
// whole pipeline (bundle loading, sessions, aggregation, merging, masks) runs in tests without weights.
//
//   vae_encoder  image [1,3,512,512] in [-1,1] -> latent_mean [1,4,64,64]: 8×8 average pool of RGB, plus a
//                constant 4th channel (0); latent_std = 0 (a point posterior).
//   unet_diffseg sample [1,4,64,64] (= latent_mean × 0.18215), timestep [1], encoder_hidden_states [1,77,8]
//                -> self_attn_mean.SxS [1,S²,S²] for S = 64, 32, 16, 8: at each size the latent is average-pooled
//                to S×S and every position gets the feature f = (colour, λ·(x, y)) with colour the pooled RGB back
//                in [-1,1] and (x, y) the cell centre in [0,1]; the "attention" row of position i is
//                (1−ε)·softmax_j(−(‖f_i − f_j‖² + ρ·v_i·v_j) / T_S) + ε/S² — an affinity of colour and position,
//                so DiffSeg's merging must recover the flat-coloured shapes of a synthetic scene. v = 3×3 local
//                colour variance: cells that straddle an edge (blends of two colours, made by the 8× pooling) do
//                not attend to each other, else every outline becomes a "ring" segment. T_S = T·(64/S)^growth:
//                coarser maps are softer, like real attention. (ε keeps every map strictly positive, as real
//                attention is: KL takes logs.) timestep and the text embedding are accepted and ignored
//                (multiplied by 0), so the fixture keeps the real interface. Defaults tuned so DiffSeg's default
//                parameters recover 3–6 shapes at mIoU ≥ 0.9 (tests/pipelines/diffseg).
//   text_encoder input_ids [1,77] int64 -> last_hidden_state [1,77,8] (a fixed embedding table lookup).
//   tokenizer    openai-format BPE file with no merges (byte tokens + <|startoftext|> <|endoftext|>): enough to
//                tokenize the empty prompt the pipeline encodes.
//
// writeFixtureBundle() writes all of it as a bundle-shaped folder (bundle.json with checksums), so the fixture
// is loaded through exactly the same code path as a converted checkpoint (openBundleModels in models.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { GraphBuilder, type Value } from '../../ml/graph';
import { BUNDLE_FORMAT_VERSION, BundleManifestSchema, type BundleComponent, type BundleManifest } from '../../ml/bundle/schema';
import { fileEntry } from '../../ml/bundle/hash';
import { fixtureBundleAt, writeBundleFolder } from '../common/fixtureBundle';
import { tensorSpecs } from '../../ml/bundle/schema';

export const FIXTURE_MODEL_NAME = 'fixture-affinity';

export interface FixtureOptions {
  /** Softmax temperature over squared feature distances (colour in [-1,1]). */
  temperature?: number;
  /** Weight of the position feature (coordinates in [0,1]). */
  lambda?: number;
  /** Uniform floor mixed into every attention row. */
  epsilon?: number;
  /** Temperature at side S is temperature·(64/S)^growth: coarser maps are softer (less decisive). */
  growth?: number;
  /**
   * ρ: the distance between positions i and j grows by ρ·var_i·var_j, var = the 3×3 colour variance around a
   * cell. Cells straddling an edge (blended colours) then attend to clean cells, not to other blends.
   */
  purity?: number;
}

export const FIXTURE_DEFAULTS: Required<FixtureOptions> = { temperature: 0.02, lambda: 0.3, epsilon: 1e-4, growth: 2, purity: 50 };

const SCALING = 0.18215;
const SIZES = [64, 32, 16, 8] as const;
const TEXT_DIM = 8;
const VOCAB = 512 + 2; // bytes, bytes</w>, SOT, EOT (openai vocabulary with zero merges)
/** Bumped whenever the graphs change, so cached fixture folders are rebuilt. */
const FIXTURE_VERSION = 4;


function avgPool(g: GraphBuilder, x: Value, k: number, outShape: number[]): Value {
  if (k === 1) return x;
  return g.op('AveragePool', [x], { kernel_shape: [k, k], strides: [k, k] }, { outputs: [{ dtype: 'float32', shape: outShape }] })[0]!;
}

export function buildFixtureVaeEncoder(): GraphBuilder {
  const g = new GraphBuilder('fixture_vae_encoder');
  const image = g.input('image', 'float32', [1, 3, 512, 512]);
  const rgb = avgPool(g, image, 8, [1, 3, 64, 64]);
  const constant = g.mul(g.reduceMean(rgb, [1]), 0); // [1,1,64,64] of zeros
  const mean = g.concat([rgb, constant], 1);
  g.output(mean, 'latent_mean');
  g.output(g.mul(mean, 0), 'latent_std');
  return g;
}

export function buildFixtureUNet(opts: FixtureOptions = {}): GraphBuilder {
  const { temperature, lambda, epsilon, growth, purity } = { ...FIXTURE_DEFAULTS, ...opts };
  const g = new GraphBuilder('fixture_unet_diffseg');
  const sample = g.input('sample', 'float32', [1, 4, 64, 64]);
  const timestep = g.input('timestep', 'float32', ['timesteps']);
  const context = g.input('encoder_hidden_states', 'float32', [1, 77, TEXT_DIM]);
  // Accepted and ignored: 0 × (Σ timestep + Σ context), added to the logits.
  const ignored = g.mul(g.add(g.reduceSum(timestep, [0], false), g.reduceSum(context, [0, 1, 2], false)), 0);
  const colour = g.div(g.slice(sample, [0], [3], [1]), SCALING); // [1,3,64,64] back in [-1,1]
  for (const s of SIZES) {
    g.scope(`res${s}`, () => {
      const n = s * s;
      const pooled = avgPool(g, colour, 64 / s, [1, 3, s, s]);
      const c = g.transpose(g.reshape(pooled, [3, n]), [1, 0]); // [n,3]
      const pos = new Float32Array(n * 2);
      for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) {
        pos[(y * s + x) * 2] = (lambda * (x + 0.5)) / s;
        pos[(y * s + x) * 2 + 1] = (lambda * (y + 0.5)) / s;
      }
      const f = g.concat([c, g.initializer(`pos${s}`, pos, 'float32', [n, 2])], 1); // [n,5]
      const sq = g.reduceSum(g.mul(f, f), [1], true); // [n,1]
      const dot = g.matmul(f, g.transpose(f, [1, 0])); // [n,n]
      const d2 = g.sub(g.add(sq, g.transpose(sq, [1, 0])), g.mul(dot, 2));
      // Local colour variance (3×3, borders: mean over the cells inside) as a key prior.
      const pool3 = (x: Value) =>
        g.op('AveragePool', [x], { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], count_include_pad: 0 }, { outputs: [{ dtype: 'float32', shape: [1, 3, s, s] }] })[0]!;
      const m = pool3(pooled);
      const variance = g.reduceSum(g.sub(pool3(g.mul(pooled, pooled)), g.mul(m, m)), [1], false); // [1,s,s]
      const v = g.reshape(variance, [n, 1]);
      const impure = g.mul(g.matmul(v, g.transpose(v, [1, 0])), purity); // ρ·var_i·var_j
      const logits = g.add(g.div(g.neg(g.add(d2, impure)), temperature * (64 / s) ** growth), ignored);
      const p = g.add(g.mul(g.softmax(logits, -1), 1 - epsilon), epsilon / n);
      g.output(g.reshape(p, [1, n, n]), `self_attn_mean.${s}x${s}`);
    });
  }
  return g;
}

export function buildFixtureTextEncoder(): GraphBuilder {
  const g = new GraphBuilder('fixture_text_encoder');
  const ids = g.input('input_ids', 'int64', [1, 77]);
  const table = new Float32Array(VOCAB * TEXT_DIM);
  for (let i = 0; i < table.length; i++) table[i] = Math.sin(i * 0.7) * 0.5;
  const emb = g.gather(g.initializer('token_embedding', table, 'float32', [VOCAB, TEXT_DIM]), ids, 0); // [1,77,8]
  g.output(emb, 'last_hidden_state');
  return g;
}

/** An openai-format merges file with no merges: the vocabulary is the 512 byte tokens plus SOT and EOT. */
function tokenizerFile(): Buffer {
  return gzipSync(Buffer.from('"bpe_simple_vocab fixture: no merges"\n', 'utf8'));
}

/** Writes the fixture bundle folder at `dir` (atomically: built beside it and renamed). Returns `dir`. */
export async function writeFixtureBundle(dir: string, opts: FixtureOptions = {}): Promise<string> {
  const o = { ...FIXTURE_DEFAULTS, ...opts };
  return writeBundleFolder(dir, async (tmp) => {
    mkdirSync(join(tmp, 'tokenizer'), { recursive: true });
    const component = async (file: string, g: GraphBuilder, config: Record<string, unknown>, extra: Partial<BundleComponent> = {}): Promise<BundleComponent> => {
      g.save(join(tmp, file));
      return { model: file, files: [await fileEntry(tmp, join(tmp, file))], inputs: tensorSpecs(g.inputs), outputs: tensorSpecs(g.outputs), config, ...extra };
    };
    const fixture = { fixture: true, note: 'DiffLabel test fixture (colour/position affinity), not Stable Diffusion', ...o };
    const vae = await component('vae_encoder.onnx', buildFixtureVaeEncoder(), { ...fixture, latent_channels: 4, scaling_factor: SCALING });
    const unet = await component('unet_diffseg.onnx', buildFixtureUNet(o), { ...fixture, sample_size: 64 }, {
      selfAttention: SIZES.map((s) => ({ output: `self_attn_mean.${s}x${s}`, height: s, width: s, layers: 1, heads: [1] })),
    });
    const text = await component('text_encoder.onnx', buildFixtureTextEncoder(), { ...fixture, hidden_size: TEXT_DIM, max_position_embeddings: 77 });
    writeFileSync(join(tmp, 'tokenizer', 'bpe_fixture.txt.gz'), tokenizerFile());
    const manifest: BundleManifest = BundleManifestSchema.parse({
      format: 'difflabel-model-bundle',
      formatVersion: BUNDLE_FORMAT_VERSION,
      name: FIXTURE_MODEL_NAME,
      createdAt: new Date().toISOString(),
      dtype: 'float32',
      source: { path: `difflabel-fixture:v${FIXTURE_VERSION}:T=${o.temperature},lambda=${o.lambda},eps=${o.epsilon},growth=${o.growth},purity=${o.purity}`, kind: 'diffusers', files: [] },
      components: { text_encoder: text, unet_diffseg: unet, vae_encoder: vae },
      tokenizer: { format: 'bpe-gz', bpe: 'tokenizer/bpe_fixture.txt.gz', files: [await fileEntry(tmp, join(tmp, 'tokenizer', 'bpe_fixture.txt.gz'))], pad: 'eot', contextLength: 77 },
      vaeScalingFactor: SCALING,
      warnings: ['FIXTURE: a colour/position affinity model for tests, not Stable Diffusion'],
    });
    return manifest;
  });
}

/** The fixture bundle in a per-version folder under the OS temp dir, written on first use. */
export async function ensureFixtureBundle(opts: FixtureOptions = {}): Promise<string> {
  const o = { ...FIXTURE_DEFAULTS, ...opts };
  const dir = join(tmpdir(), `difflabel-diffseg-fixture-v${FIXTURE_VERSION}-${o.temperature}-${o.lambda}-${o.epsilon}-${o.growth}-${o.purity}`);
  return fixtureBundleAt(dir, (d) => writeFixtureBundle(d, o));
}
