// The vocabulary mode's FIXTURE: NOT Stable Diffusion. DiffSeg's fixture bundle (diffseg/fixture.ts: a VAE encoder that
// pools colours, a UNet whose "self-attention" is a colour/position affinity) with a UNet that also gives
// cross-attention maps that follow colour words, and grounded diffusion's colour-word text encoder and tokenizer
// (grounded/fixture.ts: "red", "green", "blue" are one token each, and carry a one-hot colour in dims 1–3):
//
//   cross_attn.NN  [1, S², 77] for S = 64, 32, 16, 8: each cell's query is its pooled colour (in [−1, 1]), each token's
//                  key the colour dims of its embedding, softmax(SHARPNESS · q·k) over the 77 positions. A red cell
//                  sends most of its attention to "red" and less than the uniform share to "blue"; a grey cell (colour
//                  ≈ 0) attends uniformly, as a cell about nothing the prompt names does.
//
// Loaded through the same bundle path as a converted checkpoint.
import { cpSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readManifest } from '../../ml/bundle';
import { fileEntry } from '../../ml/bundle/hash';
import type { BundleManifest } from '../../ml/bundle/schema';
import type { GraphBuilder } from '../../ml/graph';
import { ClipTokenizer } from '../../ml/tokenizer';
import { fixtureBundleAt, writeBundleFolder } from '../common/fixtureBundle';
import { buildFixtureUNet as buildDiffSegFixtureUNet, ensureFixtureBundle as ensureDiffSegFixture } from '../diffseg/fixture';
import { DIFFSEG_UNET } from '../diffseg/variant';
import { buildFixtureTextEncoder, fixtureMerges } from '../grounded/fixture';
import { tensorSpecs } from '../../ml/bundle/schema';

const SCALING = 0.18215;
const SIZES = [64, 32, 16, 8] as const;
/** A colour of [−1, 1]³ against its word's one-hot key gives a product near 1: this makes the word win the softmax. */
const SHARPNESS = 8;
/** Bumped whenever the graphs change, so cached fixture folders are rebuilt. */
const FIXTURE_VERSION = 1;


/** DiffSeg's fixture UNet with the colour-word cross-attention outputs added. */
export function buildFixtureUNet(): GraphBuilder {
  const g = buildDiffSegFixtureUNet();
  const sample = g.inputs.find((v) => v.name === 'sample')!;
  const context = g.inputs.find((v) => v.name === 'encoder_hidden_states')!;
  const colour = g.div(g.slice(sample, [0], [3], [1]), SCALING); // [1,3,64,64] in [−1,1]
  const keys = g.slice(context, [1], [4], [2]); // [1,77,3]: the red, green, blue dims
  SIZES.forEach((s, layer) => {
    g.scope(`cross_attn_${s}`, () => {
      const pooled = s === 64 ? colour : g.op('AveragePool', [colour], { kernel_shape: [64 / s, 64 / s], strides: [64 / s, 64 / s] }, { outputs: [{ dtype: 'float32', shape: [1, 3, s, s] }] })[0]!;
      const cells = g.transpose(g.reshape(pooled, [1, 3, s * s]), [0, 2, 1]); // [1,S²,3]
      const scores = g.mul(g.matmul(cells, g.transpose(keys, [0, 2, 1])), SHARPNESS); // [1,S²,77]
      g.output(g.softmax(scores, -1), `cross_attn.${String(layer).padStart(2, '0')}`);
    });
  });
  return g;
}

/** Writes the fixture bundle at `dir` (built beside it and renamed). Returns `dir`. */
export async function writeFixtureBundle(dir: string): Promise<string> {
  const source = await ensureDiffSegFixture();
  const from = readManifest(source);
  return writeBundleFolder(dir, async (tmp) => {
    cpSync(source, tmp, { recursive: true });
    const bpe = join(tmp, from.tokenizer!.bpe!);
    writeFileSync(bpe, gzipSync(Buffer.from(fixtureMerges(), 'utf8')));
    const text = buildFixtureTextEncoder(ClipTokenizer.fromBpeGz(bpe));
    const unet = buildFixtureUNet();
    const was = from.components;
    const component = async (key: string, g: GraphBuilder) => {
      g.save(join(tmp, was[key]!.model));
      return { ...was[key]!, files: [await fileEntry(tmp, join(tmp, was[key]!.model))], inputs: tensorSpecs(g.inputs), outputs: tensorSpecs(g.outputs) };
    };
    const manifest: BundleManifest = {
      ...from,
      name: 'fixture-vocabulary',
      createdAt: new Date().toISOString(),
      source: { ...from.source, path: `${from.source.path}+vocabulary:v${FIXTURE_VERSION}` },
      components: { ...was, [DIFFSEG_UNET.key]: await component(DIFFSEG_UNET.key, unet), text_encoder: await component('text_encoder', text) },
      tokenizer: { ...from.tokenizer!, files: [await fileEntry(tmp, bpe)] },
      warnings: ['FIXTURE: colour affinity and colour-word cross-attention for tests, not Stable Diffusion'],
    };
    return manifest;
  });
}

/** The fixture bundle in a per-version folder under the OS temp dir, written on first use. */
export async function ensureFixtureBundle(): Promise<string> {
  const dir = join(tmpdir(), `difflabel-vocabulary-fixture-v${FIXTURE_VERSION}`);
  return fixtureBundleAt(dir, (d) => writeFixtureBundle(d));
}
