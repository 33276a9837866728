// The Peekaboo FIXTURE model: NOT Stable Diffusion. A bundle whose models know one synthetic scene, so the whole
// pipeline (bundle loading, the step graph with its backward pass, the UNet calls, score distillation, masks) runs in
// tests and finds something meaningful: a grey scene with a red disk and a blue square, where "red" must give the disk
// and "blue" the square.
//
//   vae_encoder  image [1,3,P,P] in [−1,1] → latent_mean [1,4,P/8,P/8]: an 8×8 average of RGB and of their mean
//                (a stride-8 Conv, so the step graph differentiates it with the ordinary rules), divided by the
//                scaling factor so the scaled latent lies in [−1,1] as SD's roughly does; latent_std = 0.05.
//   unet         sample [B,4,h,w], timestep [B], encoder_hidden_states [B,77,K] → noise_pred [B,4,h,w]: the analytic
//                denoiser of reference-pipelines §1.4. The prediction of x₀ is the scene's own latent x̂ on the cells
//                whose scene colour is the prompt's colour (weight m ∈ [0,1], the fraction of the cell's pixels) and
//                z_t/√ᾱ_t (no opinion) elsewhere: ε̂ = κ·m·(z_t − √ᾱ_t·x̂)/√(1 − ᾱ_t). With ᾱ from SD's schedule. The
//                empty prompt has m = 0 (ε̂ = 0), so the guided gradient pulls the prompt colour's cells towards the
//                scene (alpha → 1 there) and gravity pulls the rest to alpha 0.
//                The batch is free (pairs of several timesteps in one call), each sample at its own timestep.
//   text_encoder input_ids [1,77] → last_hidden_state [1,77,K]: one-hot per colour word (K = 2: red, blue), zero for
//                every other token, so the UNet reads the prompt's colours as the sum over tokens.
//   tokenizer    openai-format BPE with merges that make "red" and "blue" one token each.
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileEntry } from '../../ml/bundle/hash';
import { BUNDLE_FORMAT_VERSION, BundleManifestSchema, type BundleComponent, type BundleManifest } from '../../ml/bundle/schema';
import { GraphBuilder, type Value } from '../../ml/graph';
import { ClipTokenizer } from '../../ml/tokenizer/clipTokenizer';
import { frameImage, letterbox, type RgbImage } from '../common/frame';
import { peekabooSchedule } from './schedule';
import { fixtureBundleAt, writeBundleFolder } from '../common/fixtureBundle';
import { tensorSpecs } from '../../ml/bundle/schema';

export const PEEKABOO_FIXTURE_NAME = 'fixture-peekaboo';
/** The encoder's config marks the fixture's pooling encoder; the pipeline builds it instead of AutoencoderKL. */
export const FIXTURE_ENCODER = 'peekaboo-pool';
const SCALING = 0.18215;
const STD = 0.05;
/**
 * κ: the prompt's prediction is κ times the analytic denoiser's, so guidance 100 amplifies the difference to about one
 * denoiser. Tuned on the scene at alpha side 64: at κ 0.05 the gravity term is too weak against the noise of the
 * unpreferred cells and the background stays half transparent (IoU 0.83 and falling); at 0.01 both colours reach 0.95.
 */
const STRENGTH = 0.01;
/** Bumped whenever the graphs or the scene change, so cached fixture folders are rebuilt. */
const FIXTURE_VERSION = 3;

/** The colour words the fixture understands, and their colours in the scene. */
export const FIXTURE_COLOURS = { red: [220, 40, 40], blue: [40, 70, 220] } as const;
const WORDS = Object.keys(FIXTURE_COLOURS) as (keyof typeof FIXTURE_COLOURS)[];
const GREY = [128, 128, 128] as const;
const MERGES = ['r e', 're d</w>', 'b l', 'u e</w>', 'bl ue</w>'];

export interface FixtureScene {
  rgb: RgbImage;
  /** Ground truth per colour word, row-major 0/1 at the image size. */
  truth: Record<keyof typeof FIXTURE_COLOURS, Uint8Array>;
}

/** 160×128 (not square: the letterbox is exercised): grey, a red disk on the left, a blue square on the right. */
export function fixtureScene(): FixtureScene {
  const width = 160, height = 128;
  const data = new Uint8Array(width * height * 3);
  const red = new Uint8Array(width * height), blue = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if ((x + 0.5 - 50) ** 2 + (y + 0.5 - 66) ** 2 <= 30 ** 2) red[i] = 1;
      else if (x >= 96 && x < 140 && y >= 36 && y < 80) blue[i] = 1;
      data.set(red[i] ? FIXTURE_COLOURS.red : blue[i] ? FIXTURE_COLOURS.blue : GREY, 3 * i);
    }
  }
  return { rgb: { data, width, height }, truth: { red, blue } };
}

/**
 * `mask` (row-major 0/1, w×h) grown by `px` pixels (every pixel within that distance of the mask joins it), or shrunk
 * for px < 0: a start mask that is nearly the true shape, as a coarse segment is.
 */
export function grownMask(mask: Uint8Array, w: number, h: number, px: number): Uint8Array {
  const r = Math.abs(px), inside = px > 0 ? 1 : 0;
  const out = new Uint8Array(mask.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      // Growing: on when any pixel within r is on; shrinking: on when every pixel within r (in the image) is.
      let hit = mask[y * w + x] === inside;
      for (let dy = -r; dy <= r && !hit; dy++)
        for (let dx = -r; dx <= r && !hit; dx++) {
          const yy = y + dy, xx = x + dx;
          if (dx * dx + dy * dy <= r * r && yy >= 0 && yy < h && xx >= 0 && xx < w && mask[yy * w + xx] === inside) hit = true;
        }
      out[y * w + x] = hit === (px > 0) ? 1 : 0;
    }
  return out;
}

export function buildFixtureEncoder(size: number): GraphBuilder {
  const g = new GraphBuilder('fixture_peekaboo_vae_encoder');
  const image = g.input('image', 'float32', [1, 3, size, size]);
  // [4,3,8,8]: channel c < 3 averages channel c, channel 3 the mean of the three; /scaling so that ×scaling is the pool.
  const w = new Float32Array(4 * 3 * 64);
  for (let o = 0; o < 4; o++) for (let c = 0; c < 3; c++) if (o === 3 || o === c) w.fill((o === 3 ? 1 / 3 : 1) / 64 / SCALING, (o * 3 + c) * 64, (o * 3 + c + 1) * 64);
  const mean = g.output(g.conv(image, g.initializer('pool', w, 'float32', [4, 3, 8, 8]), null, { strides: [8, 8] }), 'latent_mean');
  g.output(g.add(g.mul(mean, 0), STD), 'latent_std');
  return g;
}

/** What the UNet knows of the scene at latent side h: the scaled latent [4,h,h] and per word the cell fractions [K, h²]. */
async function sceneLatent(scene: RgbImage, size: number): Promise<{ latent: Float32Array; masks: Float32Array }> {
  const px = await frameImage(scene, letterbox(scene.width, scene.height), size);
  const h = size / 8;
  const latent = new Float32Array(4 * h * h), masks = new Float32Array(WORDS.length * h * h);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const cell = Math.floor(y / 8) * h + Math.floor(x / 8);
      const c = [0, 1, 2].map((k) => px[3 * (y * size + x) + k]!);
      const v = c.map((b) => b / 127.5 - 1);
      for (let k = 0; k < 3; k++) latent[k * h * h + cell] += v[k]! / 64;
      latent[3 * h * h + cell] += (v[0]! + v[1]! + v[2]!) / 3 / 64;
      // The pixel's colour is the word's when it is nearer to it than to grey and the other words.
      const dist = (q: readonly number[]) => q.reduce((s, qk, k) => s + (qk - c[k]!) ** 2, 0);
      const near = [...WORDS.map((w) => dist(FIXTURE_COLOURS[w])), dist(GREY)];
      const best = near.indexOf(Math.min(...near));
      if (best < WORDS.length) masks[best * h * h + cell] += 1 / 64;
    }
  }
  return { latent, masks };
}

/**
 * The analytic denoiser at any latent side: the scene's latent and word fractions are known at `size` and resized
 * (linear, half-pixel) to the sample's side, which at half the side is exactly the 2×2 cell average, so one fixture
 * serves the 512 and the 256 composite.
 */
export async function buildFixtureUNet(scene: RgbImage, size: number): Promise<GraphBuilder> {
  const h = size / 8, K = WORDS.length;
  const { latent, masks } = await sceneLatent(scene, size);
  const g = new GraphBuilder('fixture_peekaboo_unet');
  const sample = g.input('sample', 'float32', ['batch', 4, 'latent', 'latent']);
  const timestep = g.input('timestep', 'float32', ['batch']);
  const context = g.input('encoder_hidden_states', 'float32', ['batch', 77, K]);
  const side = g.slice(g.shape(sample), [2], [4]);
  const atSide = (x: Value, channels: number) => g.resize(x, { sizes: g.concat([g.int64s([1, channels]), side], 0), mode: 'linear' });
  const abar = g.reshape(g.gather(g.initializer('alphas_cumprod', peekabooSchedule().alphasCumprod, 'float32', [1000]), g.cast(timestep, 'int64'), 0), [-1, 1, 1, 1]);
  const wordMasks = g.reshape(atSide(g.initializer('word_masks', masks, 'float32', [1, K, h, h]), K), [K, -1]);
  const m = g.reshape(g.matmul(g.reduceSum(context, [1], false), wordMasks), g.concat([g.int64s([-1, 1]), side], 0));
  const x0 = atSide(g.initializer('scene_latent', latent, 'float32', [1, 4, h, h]), 4);
  const eps = g.div(g.sub(sample, g.mul(g.sqrt(abar), x0)), g.sqrt(g.sub(1, abar)));
  g.output(g.mul(g.mul(m, eps), STRENGTH), 'noise_pred');
  return g;
}

function buildFixtureTextEncoder(tokenizer: ClipTokenizer): GraphBuilder {
  const g = new GraphBuilder('fixture_peekaboo_text_encoder');
  const ids = g.input('input_ids', 'int64', [1, 77]);
  const vocab = tokenizer.eot + 1;
  const table = new Float32Array(vocab * WORDS.length);
  WORDS.forEach((w, k) => {
    const id = Number(tokenizer.tokenizeInt64(w, { contextLength: 3 })[1]);
    table[id * WORDS.length + k] = 1;
  });
  g.output(g.gather(g.initializer('token_embedding', table, 'float32', [vocab, WORDS.length]), ids, 0), 'last_hidden_state');
  return g;
}

const mergesText = () => ['"bpe_simple_vocab fixture: colour words"', ...MERGES].join('\n') + '\n';

/** Writes the fixture bundle for `scene` at composite side `size` into `dir` (built beside it and renamed). */
export async function writePeekabooFixtureBundle(dir: string, scene: RgbImage, size: number): Promise<string> {
  return writeBundleFolder(dir, async (tmp) => {
    mkdirSync(join(tmp, 'tokenizer'), { recursive: true });
    const fixture = { fixture: FIXTURE_ENCODER, note: 'DiffLabel test fixture (an analytic denoiser of one scene), not Stable Diffusion', sample_size: size / 8 };
    const component = async (file: string, g: GraphBuilder, config: Record<string, unknown>): Promise<BundleComponent> => {
      g.save(join(tmp, file));
      return { model: file, files: [await fileEntry(tmp, join(tmp, file))], inputs: tensorSpecs(g.inputs), outputs: tensorSpecs(g.outputs), config: { ...fixture, ...config } };
    };
    const tokenizer = ClipTokenizer.fromMergesText(mergesText());
    writeFileSync(join(tmp, 'tokenizer', 'bpe_fixture.txt.gz'), gzipSync(Buffer.from(mergesText(), 'utf8')));
    const manifest: BundleManifest = BundleManifestSchema.parse({
      format: 'difflabel-model-bundle',
      formatVersion: BUNDLE_FORMAT_VERSION,
      name: PEEKABOO_FIXTURE_NAME,
      createdAt: new Date().toISOString(),
      dtype: 'float32',
      source: { path: `difflabel-fixture:peekaboo:v${FIXTURE_VERSION}:${size}`, kind: 'diffusers', files: [] },
      components: {
        vae_encoder: await component('vae_encoder.onnx', buildFixtureEncoder(size), { latent_channels: 4, scaling_factor: SCALING }),
        unet: await component('unet.onnx', await buildFixtureUNet(scene, size), {}),
        text_encoder: await component('text_encoder.onnx', buildFixtureTextEncoder(tokenizer), { hidden_size: WORDS.length, max_position_embeddings: 77 }),
      },
      tokenizer: { format: 'bpe-gz', bpe: 'tokenizer/bpe_fixture.txt.gz', files: [await fileEntry(tmp, join(tmp, 'tokenizer', 'bpe_fixture.txt.gz'))], pad: 'eot', contextLength: 77 },
      vaeScalingFactor: SCALING,
      warnings: ['FIXTURE: an analytic denoiser of one synthetic scene for tests, not Stable Diffusion'],
    });
    return manifest;
  });
}

/** The fixture bundle of fixtureScene() at composite side 512, in a per-version folder under the OS temp dir. */
export async function ensurePeekabooFixtureBundle(): Promise<string> {
  const dir = join(tmpdir(), `difflabel-peekaboo-fixture-v${FIXTURE_VERSION}`);
  return fixtureBundleAt(dir, (d) => writePeekabooFixtureBundle(d, fixtureScene().rgb, 512));
}
