// The Ref LDM-Seg behaviour FIXTURE: NOT Ref LDM-Seg. Tiny ONNX graphs with the inputs and outputs of a converted
// bundle's four components, built so that the pipeline's result has a meaning a test can check: the object of the
// example's colour is found in the query, and only through the tokens the example's mask lets the UNet attend to.
//
//   image_encoder pixel_values [B,3,224,224] in [−1,1], alpha [B,1,224,224] → last_hidden_state [B,257,8]: token
//                 1 + r·16 + c = (mean colour of patch (r, c), 0…), the class token 0; alpha is accepted and ignored,
//                 so a masked-out example patch still carries its colour and only the attention mask hides it.
//   vae_encoder   image [1,3,256,256] → latent_mean [1,4,32,32] = (the pixel at (8y, 8x), 0); latent_std = 0.
//   vae_decoder   latent [1,4,32,32] → sample [1,3,256,256]: channels 0–2 repeated over 8×8 (nearest ×8).
//   unet          sample [B,C,32,32], timestep [1], encoder_hidden_states [B,T,8], encoder_attention_mask [B,T] →
//                 noise_pred [B,4,32,32]. Each latent pixel's colour q (-f: sample[0:3] / 0.18215; -n: the image
//                 latent sample[4:7]) attends over the tokens' colours k: a = softmax(−‖q − k‖² / τ + (1 − m)·−10000),
//                 with the real UNet's cross-attention bias; each token's value is its colour similarity
//                 exp(−‖q − k‖² / σ), so match = Σ a·similarity is high where q looks like most attended tokens (τ is
//                 mild: the 16×16 mask is nearest-sampled, so an attended edge token may show the background).
//                 The pseudo-mask x0 = match·(−1, 1, 0) + (1 − match)·(1, −1, 0) (Ref LDM-Seg's foreground and
//                 background colours), channel 3 = 0, × 0.18215. -f outputs x0 (one pass predicts the mask latent);
//                 -n outputs the ε that makes DDPM land on x0: (z − √ᾱ_t·x0) / √(1 − ᾱ_t) with z = sample[0:4].
//
// writeFixtureBundle() writes a bundle folder (bundle.json with checksums and refLdmSeg.variant), loaded through the
// same path as a converted bundle.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GraphBuilder } from '../../ml/graph';
import { BUNDLE_FORMAT_VERSION, BundleManifestSchema, type BundleComponent, type BundleManifest } from '../../ml/bundle/schema';
import { fileEntry } from '../../ml/bundle/hash';
import { DDPMScheduler } from '../../ml/schedulers';
import { SD15_SCHEDULER_CONFIG } from './inference';
import type { RefLdmSegVariant } from './models';
import { fixtureBundleAt, writeBundleFolder } from '../common/fixtureBundle';
import { tensorSpecs } from '../../ml/bundle/schema';

const SCALING = 0.18215;
const WIDTH = 8;
const LATENT = 32;
const IMAGE = 256;
const ENCODER = 224;
const PATCH = 14;
/** Attention temperature over squared colour distances (colours in [−1,1]): a mild preference for similar tokens. */
const TAU = 8;
/** Colour similarity's width: distinct colours (red, white, blue) are ~0 apart from themselves. */
const SIGMA = 0.25;
/** Bumped whenever the graphs change, so cached fixture folders are rebuilt. */
const FIXTURE_VERSION = 2;
const FG = [-1, 1, 0];
const BG = [1, -1, 0];


export function buildFixtureImageEncoder(): GraphBuilder {
  const g = new GraphBuilder('fixture_image_encoder');
  const pixels = g.input('pixel_values', 'float32', ['batch', 3, ENCODER, ENCODER]);
  const alpha = g.input('alpha', 'float32', ['batch', 1, ENCODER, ENCODER]);
  const grid = ENCODER / PATCH;
  const pooled = g.op('AveragePool', [pixels], { kernel_shape: [PATCH, PATCH], strides: [PATCH, PATCH] }, { outputs: [{ dtype: 'float32', shape: ['batch', 3, grid, grid] }] })[0]!;
  const ignored = g.mul(g.reduceSum(alpha, [0, 1, 2, 3], false), 0);
  const patches = g.transpose(g.reshape(g.add(pooled, ignored), [0, 3, grid * grid]), [0, 2, 1]); // [B,N,3]
  g.output(g.pad(patches, [0, 1, 0, 0, 0, WIDTH - 3]), 'last_hidden_state'); // class token first, zeros
  return g;
}

export function buildFixtureVaeEncoder(): GraphBuilder {
  const g = new GraphBuilder('fixture_vae_encoder');
  const image = g.input('image', 'float32', [1, 3, IMAGE, IMAGE]);
  const rgb = g.slice(image, [0, 0], [IMAGE, IMAGE], [2, 3], [8, 8]);
  const mean = g.concat([rgb, g.mul(g.slice(rgb, [0], [1], [1]), 0)], 1);
  g.output(mean, 'latent_mean');
  g.output(g.mul(mean, 0), 'latent_std');
  return g;
}

export function buildFixtureVaeDecoder(): GraphBuilder {
  const g = new GraphBuilder('fixture_vae_decoder');
  const latent = g.input('latent', 'float32', [1, 4, LATENT, LATENT]);
  const rgb = g.slice(latent, [0], [3], [1]);
  g.output(g.resize(rgb, { scales: [1, 1, 8, 8], mode: 'nearest', coordinateTransformationMode: 'asymmetric', nearestMode: 'floor' }), 'sample');
  return g;
}

export function buildFixtureUNet(variant: RefLdmSegVariant): GraphBuilder {
  const g = new GraphBuilder(`fixture_unet_${variant}`);
  const C = variant === 'n' ? 8 : 4;
  const sample = g.input('sample', 'float32', ['batch', C, LATENT, LATENT]);
  const timestep = g.input('timestep', 'float32', [1]);
  const context = g.input('encoder_hidden_states', 'float32', ['batch', 'tokens', WIDTH]);
  const mask = g.input('encoder_attention_mask', 'float32', ['batch', 'tokens']);
  const n = LATENT * LATENT;
  const colour = variant === 'n' ? g.slice(sample, [4], [7], [1]) : g.div(g.slice(sample, [0], [3], [1]), SCALING);
  const q = g.transpose(g.reshape(colour, [0, 3, n]), [0, 2, 1]); // [B,n,3]
  const k = g.slice(context, [0], [3], [2]); // [B,T,3]
    const d2 = g.sub(g.add(g.reduceSum(g.mul(q, q), [2], true), g.transpose(g.reduceSum(g.mul(k, k), [2], true), [0, 2, 1])), g.mul(g.matmul(q, g.transpose(k, [0, 2, 1])), 2));
  const bias = g.mul(g.sub(1, g.unsqueeze(mask, [1])), -10000); // [B,1,T]
  const attn = g.softmax(g.add(g.div(g.neg(d2), TAU), bias), -1); // [B,n,T]
  const match = g.reduceSum(g.mul(attn, g.exp(g.div(g.neg(d2), SIGMA))), [2], true); // [B,n,1]
  const fg = g.constant(FG, 'float32', [1, 1, 3]);
  const bg = g.constant(BG, 'float32', [1, 1, 3]);
  const pm = g.add(bg, g.mul(match, g.sub(fg, bg))); // [B,n,3]
  const rgb = g.reshape(g.transpose(pm, [0, 2, 1]), [0, 3, LATENT, LATENT]);
  const x0 = g.mul(g.concat([rgb, g.mul(g.slice(rgb, [0], [1], [1]), 0)], 1), SCALING); // [B,4,32,32]
  if (variant === 'f') {
    g.output(g.add(x0, g.mul(g.reduceSum(timestep, [0], false), 0)), 'noise_pred');
    return g;
  }
  const { schedule } = new DDPMScheduler(SD15_SCHEDULER_CONFIG);
  const table = Float32Array.from({ length: SD15_SCHEDULER_CONFIG.num_train_timesteps }, (_, t) => schedule.alphaCumprod(t));
  const a = g.gather(g.initializer('alphas_cumprod', table, 'float32', [table.length]), g.cast(timestep, 'int64'), 0); // [1]
  const z = g.slice(sample, [0], [4], [1]);
  g.output(g.div(g.sub(z, g.mul(g.sqrt(a), x0)), g.sqrt(g.sub(1, a))), 'noise_pred');
  return g;
}

/** Writes the fixture bundle of `variant` at `dir` (built beside it and renamed). Returns `dir`. */
export async function writeFixtureBundle(dir: string, variant: RefLdmSegVariant): Promise<string> {
  return writeBundleFolder(dir, async (tmp) => {
    const fixture = { fixture: true, note: 'DiffLabel test fixture (colour matching through masked attention), not Ref LDM-Seg' };
    const component = async (file: string, g: GraphBuilder, config: Record<string, unknown> = {}): Promise<BundleComponent> => {
      g.save(join(tmp, file));
      return { model: file, files: [await fileEntry(tmp, join(tmp, file))], inputs: tensorSpecs(g.inputs), outputs: tensorSpecs(g.outputs), config: { ...fixture, ...config } };
    };
    const manifest: BundleManifest = BundleManifestSchema.parse({
      format: 'difflabel-model-bundle',
      formatVersion: BUNDLE_FORMAT_VERSION,
      name: `fixture-ref-ldm-seg-${variant}`,
      createdAt: new Date().toISOString(),
      dtype: 'float32',
      source: { path: `difflabel-fixture:refldmseg-${variant}:v${FIXTURE_VERSION}`, kind: 'refldmseg', files: [] },
      components: {
        unet: await component('unet.onnx', buildFixtureUNet(variant), { in_channels: variant === 'n' ? 8 : 4, sample_size: LATENT }),
        image_encoder: await component('image_encoder.onnx', buildFixtureImageEncoder(), { image_size: ENCODER, patch_size: PATCH, hidden_size: WIDTH, layout: 'alpha-clip' }),
        vae_encoder: await component('vae_encoder.onnx', buildFixtureVaeEncoder(), { latent_channels: 4, scaling_factor: SCALING }),
        vae_decoder: await component('vae_decoder.onnx', buildFixtureVaeDecoder(), { latent_channels: 4, scaling_factor: SCALING }),
      },
      vaeScalingFactor: SCALING,
      refLdmSeg: { variant },
      warnings: ['FIXTURE: colour matching through masked attention for tests, not Ref LDM-Seg'],
    });
    return manifest;
  });
}

/** The fixture bundle of `variant` in a per-version folder under the OS temp dir, written on first use. */
export async function ensureFixtureBundle(variant: RefLdmSegVariant = 'f'): Promise<string> {
  const dir = join(tmpdir(), `difflabel-refldmseg-fixture-v${FIXTURE_VERSION}-${variant}`);
  return fixtureBundleAt(dir, (d) => writeFixtureBundle(d, variant));
}
