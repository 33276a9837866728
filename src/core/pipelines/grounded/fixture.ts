// The grounded-generation FIXTURE model: NOT Stable Diffusion. Tiny graphs with a real bundle's inputs and outputs,
// whose numbers mean something, so that sampling, the taps, the grounding module and the masks run in tests as they
// would on weights:
//
//   unet_grounded  an analytic denoiser towards a target latent z* (LAYOUT: grey ground, a red square, a green
//                  rectangle, a blue disc; z* holds one indicator channel per colour): ε̂ = (x − √ᾱ_t·z*)/√(1 − ᾱ_t),
//                  the same for both halves of the guidance pair, so every sampler lands on ≈ z*. Its 25 taps carry
//                  the sample's colour indicators over 3×3 cells, average-pooled to the tap's size, the conditional half x, the
//                  unconditional half 1 − x: fed in the wrong order, the module grounds everything but the colour.
//   vae_decoder    paints each latent cell with its colour (a 1×1 palette convolution, nearest ×8 upsampling).
//   text_encoder   a token embedding table: the words red, green, blue carry a one-hot colour in dims 1–3, every
//                  token a fixed pattern in dims 4–7 (so prompts differ from the empty one).
//   tokenizer      openai-format BPE whose merges make each fixture word one token, so the reference's class query
//                  "a photo of a red" puts "red" at position 5.
//                  Its cross-attention maps (one layer per size) send each cell to the word of its colour.
//   vae_encoder, unet_diffseg  DiffSeg's fixture (pipelines/diffseg/fixture.ts), which segments the generated images.
//   grounding_module  the real module graph (ml/models/grounding, train-mode batch norm as the reference runs it),
//                  read through the real state-dict reader, with hand-set weights: every SegBlock's residual branch
//                  reads a channel that is always 0 (so it adds nothing), the decoder's attention and feed-forward
//                  outputs are 0 (so the query passes through), to_q keeps the colour dims, the MLP turns a colour c
//                  into +K for c's feature and −K for the others, and the 1×1 convolution of the 64² taps takes the
//                  conditional colour indicators. logit = K·(feature of the class colour − the other colours'): "red"
//                  returns the red square.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { GraphBuilder, type Value } from '../../ml/graph';
import { BUNDLE_FORMAT_VERSION, BundleManifestSchema, type BundleComponent, type BundleManifest } from '../../ml/bundle/schema';
import { fileEntry } from '../../ml/bundle/hash';
import { buildGroundingModule, groundingModuleSource, groundingTaps, groundingWeightShapes, parseGroundingConfig, segBlocks } from '../../ml/models/grounding';
import { NoiseSchedule, DDIMConfigSchema } from '../../ml/schedulers';
import { ClipTokenizer } from '../../ml/tokenizer';
import { encodeSafetensors } from '../../ml/weights/safetensors';
import { openTensorFile } from '../../ml/weights/source';
import { buildFixtureUNet as buildDiffSegUNet, buildFixtureVaeEncoder, FIXTURE_DEFAULTS as DIFFSEG_FIXTURE } from '../diffseg/fixture';
import { GROUNDED_SCHEDULER_CONFIG } from './generate';
import type { LatentRgbMap } from './latentPreview';
import { fixtureBundleAt, writeBundleFolder } from '../common/fixtureBundle';
import { tensorSpecs } from '../../ml/bundle/schema';

export const GROUNDED_FIXTURE_NAME = 'fixture-grounded';
/** Bumped whenever the graphs change, so cached fixture folders are rebuilt. */
const FIXTURE_VERSION = 5;
const SCALING = 0.18215;
const LATENT = 64;
const TEXT_DIM = 8;
const UNET_CHANNELS = [4, 4, 4, 4];
/** The logit scale of the hand-set MLP. */
const K = 8;
const CROSS_ATTENTION_SIZES = [64, 32, 16, 8];
/** Query-key products are 0 or 1 (a cell of a colour, that colour's word): this makes the word win the softmax. */
const CROSS_ATTENTION_SHARPNESS = 8;

/** The palette, in latent channel order, as [-1, 1] RGB. */
export const PALETTE = { ground: [0, 0, 0], red: [1, -1, -1], green: [-1, 1, -1], blue: [-1, -1, 1] } as const;
export type FixtureColour = keyof typeof PALETTE;
const COLOURS = Object.keys(PALETTE) as FixtureColour[];

/** The colour of latent cell (x, y) of the layout every fixture image shows. */
export function layoutColour(x: number, y: number): FixtureColour {
  if (x >= 6 && x < 30 && y >= 6 && y < 30) return 'red';
  if (x >= 34 && x < 60 && y >= 36 && y < 60) return 'green';
  if ((x + 0.5 - 46) ** 2 + (y + 0.5 - 17) ** 2 < 12 ** 2) return 'blue';
  return 'ground';
}

/** The layout's mask of `colour` at `side`² pixels (nearest: each latent cell is side/64 pixels). */
export function layoutMask(colour: FixtureColour, side = LATENT * 8): Uint8Array {
  const out = new Uint8Array(side * side);
  const k = side / LATENT;
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) out[y * side + x] = layoutColour(Math.floor(x / k), Math.floor(y / k)) === colour ? 1 : 0;
  return out;
}

/** z*: one indicator channel per colour, [4, 64, 64]. */
function targetLatent(): Float32Array {
  const z = new Float32Array(4 * LATENT * LATENT);
  for (let y = 0; y < LATENT; y++) for (let x = 0; x < LATENT; x++) z[COLOURS.indexOf(layoutColour(x, y)) * LATENT * LATENT + y * LATENT + x] = 1;
  return z;
}


function avgPool(g: GraphBuilder, x: Value, k: number, outShape: number[]): Value {
  if (k === 1) return x;
  return g.op('AveragePool', [x], { kernel_shape: [k, k], strides: [k, k] }, { outputs: [{ dtype: 'float32', shape: outShape }] })[0]!;
}

export function buildFixtureUNet(): GraphBuilder {
  const g = new GraphBuilder('fixture_unet_grounded');
  const sample = g.input('sample', 'float32', [2, 4, LATENT, LATENT]);
  const timestep = g.input('timestep', 'float32', [1]);
  const context = g.input('encoder_hidden_states', 'float32', [2, 77, TEXT_DIM]);
  const acp = NoiseSchedule.fromConfig(DDIMConfigSchema.parse(GROUNDED_SCHEDULER_CONFIG)).alphasCumprod;
  const t = g.cast(timestep, 'int64');
  const sa = g.gather(g.initializer('sqrt_alpha_cumprod', acp.map(Math.sqrt), 'float32', [acp.length]), t); // [1]
  const sb = g.gather(g.initializer('sqrt_one_minus_alpha_cumprod', acp.map((a) => Math.sqrt(1 - a)), 'float32', [acp.length]), t);
  const z = g.initializer('target_latent', targetLatent(), 'float32', [1, 4, LATENT, LATENT]);
  // The text is accepted and ignored (0 × its sum), so the fixture keeps the real interface.
  const ignored = g.mul(g.reduceSum(context, [0, 1, 2], false), 0);
  const eps = g.add(g.div(g.sub(sample, g.mul(z, sa)), sb), ignored);
  g.output(eps, 'noise_pred');
  // uncond 1 − x, cond x: the halves differ, so their order matters.
  const halves = g.add(g.mul(sample, g.constant([-1, 1], 'float32', [2, 1, 1, 1])), g.constant([1, 0], 'float32', [2, 1, 1, 1]));
  // A 3×3 receptive field: at the last step of 20 DPM-Solver++ steps (t = 50) the sample still holds √(1 − ᾱ) ≈ 0.2
  // of noise per cell, which features see past; at the first step (noise only) they still see nothing. A feature
  // responds to a colour that fills most of its field (sigmoid(12·(x − ½))), so the blur does not widen the shapes.
  const field = g.op('AveragePool', [halves], { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], count_include_pad: 0 }, { outputs: [{ dtype: 'float32', shape: [2, 4, LATENT, LATENT] }] })[0]!;
  const seen = g.sigmoid(g.mul(g.sub(field, 0.5), 12));
  // Cross-attention, one layer per size (`cross_attn.NN` [2, S², 77], head-averaged as buildUNet outputs them): each
  // cell's query is its colour indicators, each token's key the colour dims of its embedding, so cells of a colour
  // attend to that colour's word.
  const keys = g.transpose(g.slice(context, [0], [4], [2]), [0, 2, 1]); // [2, 4, 77]
  CROSS_ATTENTION_SIZES.forEach((size, layer) => {
    g.scope(`cross_attn_${size}`, () => {
      const cells = g.transpose(g.reshape(avgPool(g, sample, LATENT / size, [2, 4, size, size]), [2, 4, size * size]), [0, 2, 1]);
      g.output(g.softmax(g.mul(g.matmul(cells, keys), CROSS_ATTENTION_SHARPNESS), -1), `cross_attn.${String(layer).padStart(2, '0')}`);
    });
  });
  const cfg = parseGroundingConfig({ unet_channels: UNET_CHANNELS });
  for (const tap of groundingTaps(cfg)) {
    g.scope(tap.name, () => g.output(g.identity(avgPool(g, seen, LATENT / tap.size, [2, 4, tap.size, tap.size])), tap.diffusers));
  }
  return g;
}

/** The decoder is linear: on the scaled latent, each indicator channel paints its colour, so the preview map is exact. */
export const FIXTURE_LATENT_RGB: LatentRgbMap = { matrix: [0, 1, 2].map((ch) => COLOURS.map((c) => PALETTE[c][ch])), bias: [0, 0, 0] };

export function buildFixtureDecoder(): GraphBuilder {
  const g = new GraphBuilder('fixture_vae_decoder');
  const latent = g.input('latent', 'float32', [1, 4, LATENT, LATENT]);
  // The pipeline divides by the scaling factor; the palette undoes it.
  const w = new Float32Array(3 * 4);
  COLOURS.forEach((c, k) => PALETTE[c].forEach((v, ch) => (w[ch * 4 + k] = v * SCALING)));
  const painted = g.conv(latent, g.initializer('palette', w, 'float32', [3, 4, 1, 1]));
  g.output(g.resize(painted, { scales: [1, 1, 8, 8], mode: 'nearest', coordinateTransformationMode: 'asymmetric', nearestMode: 'floor' }), 'sample');
  return g;
}

const WORDS = ['a', 'photo', 'of', 'red', 'green', 'blue', 'square', 'disc', 'and', 'rectangle', 'dog'];

/** Merges that make every fixture word one token: each word's current BPE pieces joined left to right. */
export function fixtureMerges(): string {
  const lines: string[] = [];
  const text = () => ['"bpe_simple_vocab fixture: one token per fixture word"', ...lines].join('\n');
  for (const word of WORDS) {
    let pieces = ClipTokenizer.fromMergesText(text()).encodeToTokens(word);
    while (pieces.length > 1) {
      lines.push(`${pieces[0]} ${pieces[1]}`);
      pieces = [pieces[0]! + pieces[1]!, ...pieces.slice(2)];
    }
  }
  const tok = ClipTokenizer.fromMergesText(text());
  const split = WORDS.filter((w) => tok.encode(w).length !== 1);
  if (split.length) throw new Error(`fixture tokenizer: ${split.join(', ')} are not one token`);
  return text() + '\n';
}

export function buildFixtureTextEncoder(tokenizer: ClipTokenizer): GraphBuilder {
  const g = new GraphBuilder('fixture_text_encoder');
  const ids = g.input('input_ids', 'int64', [1, 77]);
  const table = new Float32Array(tokenizer.vocabSize * TEXT_DIM);
  for (let i = 0; i < tokenizer.vocabSize; i++) for (let j = 4; j < TEXT_DIM; j++) table[i * TEXT_DIM + j] = Math.sin(i * 0.7 + j) * 0.5;
  COLOURS.forEach((c, k) => {
    if (c !== 'ground') table[tokenizer.encode(c)[0]! * TEXT_DIM + k] = 1;
  });
  g.output(g.gather(g.initializer('token_embedding', table, 'float32', [tokenizer.vocabSize, TEXT_DIM]), ids, 0), 'last_hidden_state');
  return g;
}

/** The hand-set grounding module state dict (see the header), as the reference names it. */
function groundingStateDict(): Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> {
  const cfg = parseGroundingConfig({ unet_channels: UNET_CHANNELS, feature_channels: [2, 2, 2, 4], context_dim: TEXT_DIM, embedding_dim: TEXT_DIM, num_heads: 2, num_layers: 1, hidden_dim: 8 });
  const out: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  for (const [name, shape] of groundingWeightShapes(cfg)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (/norm\d\.weight$|stored_var\d$|\.u0$|\.sv0$/.test(name)) data.fill(1);
    out[name] = { dtype: 'F32', shape, data };
  }
  const set = (name: string, index: number[], v: number) => {
    const { shape, data } = out[name]!;
    data[index.reduce((o, i, d) => o * shape[d]! + i, 0)] = v;
  };
  // Channel 0 of every SegBlock (the low group's first, whose 1×1 weights are 0) is always 0: conv2 reads only it,
  // so the residual branch adds 0; conv1 has one weight off it so that σ is not 0.
  for (const b of segBlocks(cfg)) {
    set(`${b.name}.conv1.weight`, [1, 1, 1, 1], 1);
    set(`${b.name}.conv2.weight`, [0, 0, 1, 1], 1);
  }
  // The 64² group: the conditional colour indicators of its first tap (its channels 4–7) → F channels 6–9.
  for (let k = 0; k < 4; k++) set('highest_feature_conv.0.weight', [k, 4 + k, 0, 0], 1);
  for (let k = 0; k < 4; k++) set('to_q.weight', [k, k], 1);
  // relu(q + 1) = q + 1 and then unchanged; the last layer maps q_k ∈ {0, 1} to ∓K on F channel 6 + k.
  for (let j = 0; j < TEXT_DIM; j++) {
    set('mlp.layers.0.weight', [j, j], 1);
    set('mlp.layers.0.bias', [j], 1);
    set('mlp.layers.1.weight', [j, j], 1);
  }
  for (let k = 0; k < 4; k++) {
    set('mlp.layers.2.weight', [6 + k, k], 2 * K);
    set('mlp.layers.2.bias', [6 + k], -3 * K);
  }
  return out;
}

export async function writeFixtureBundle(dir: string): Promise<string> {
  return writeBundleFolder(dir, async (tmp) => {
    mkdirSync(join(tmp, 'tokenizer'), { recursive: true });
    const component = async (file: string, g: GraphBuilder, config: Record<string, unknown>): Promise<BundleComponent> => {
      g.save(join(tmp, file));
      return { model: file, files: [await fileEntry(tmp, join(tmp, file))], inputs: tensorSpecs(g.inputs), outputs: tensorSpecs(g.outputs), config };
    };
    const fixture = { fixture: true, note: 'DiffLabel test fixture (analytic denoiser towards a colour layout), not Stable Diffusion' };
    const bpe = join(tmp, 'tokenizer', 'bpe_fixture.txt.gz');
    writeFileSync(bpe, gzipSync(Buffer.from(fixtureMerges(), 'utf8')));
    const tokenizer = ClipTokenizer.fromBpeGz(bpe);
    // The module goes through the state-dict reader as released weights do; its file is not part of the bundle.
    const weightsFile = join(tmp, 'grounding_module.safetensors');
    writeFileSync(weightsFile, encodeSafetensors(groundingStateDict()));
    const { config, weights } = groundingModuleSource(openTensorFile(weightsFile), 'fixture grounding module', { heads: 2, unetChannels: UNET_CHANNELS });
    const module = buildGroundingModule(config, weights, { batch: 1 });
    const components = {
      text_encoder: await component('text_encoder.onnx', buildFixtureTextEncoder(tokenizer), { ...fixture, hidden_size: TEXT_DIM }),
      unet_grounded: await component('unet_grounded.onnx', buildFixtureUNet(), { ...fixture, block_out_channels: UNET_CHANNELS, sample_size: LATENT }),
      vae_decoder: await component('vae_decoder.onnx', buildFixtureDecoder(), { ...fixture, latent_channels: 4, latent_rgb: FIXTURE_LATENT_RGB }),
      grounding_module: await component('grounding_module.onnx', module.graph, { ...fixture, ...config }),
      // DiffSeg's fixture (colour and position affinity) segments the generated images for attention grounding.
      vae_encoder: await component('vae_encoder.onnx', buildFixtureVaeEncoder(), { ...fixture, latent_channels: 4, scaling_factor: SCALING }),
      unet_diffseg: {
        ...(await component('unet_diffseg.onnx', buildDiffSegUNet(), { ...fixture, ...DIFFSEG_FIXTURE, sample_size: LATENT })),
        selfAttention: [64, 32, 16, 8].map((s) => ({ output: `self_attn_mean.${s}x${s}`, height: s, width: s, layers: 1, heads: [1] })),
      },
    };
    rmSync(weightsFile);
    const manifest: BundleManifest = BundleManifestSchema.parse({
      format: 'difflabel-model-bundle',
      formatVersion: BUNDLE_FORMAT_VERSION,
      name: GROUNDED_FIXTURE_NAME,
      createdAt: new Date().toISOString(),
      dtype: 'float32',
      source: { path: `difflabel-fixture:grounded:v${FIXTURE_VERSION}`, kind: 'diffusers', files: [] },
      components,
      tokenizer: { format: 'bpe-gz', bpe: 'tokenizer/bpe_fixture.txt.gz', files: [await fileEntry(tmp, bpe)], pad: 'eot', contextLength: 77 },
      vaeScalingFactor: SCALING,
      warnings: ['FIXTURE: an analytic denoiser towards a colour layout for tests, not Stable Diffusion'],
    });
    return manifest;
  });
}

/** The fixture bundle in a per-version folder under the OS temp dir, written on first use. */
export async function ensureFixtureBundle(): Promise<string> {
  const dir = join(tmpdir(), `difflabel-grounded-fixture-v${FIXTURE_VERSION}`);
  return fixtureBundleAt(dir, (d) => writeFixtureBundle(d));
}
