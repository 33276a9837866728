// The prototype mode's FIXTURE: NOT Stable Diffusion. DiffSeg's fixture bundle (diffseg/fixture.ts: VAE encoder, text
// encoder, tokenizer; a UNet whose "attention" is a colour/position affinity) with its UNet given the feature output
// of DiffSeg's real UNet variant, so the whole prototype mode runs on it:
//
//   up_block.1  [1,8,32,32]: each 2×2-pooled latent colour c (in [−1,1]) as its closeness to the 8 corners of the
//               colour cube, exp(−‖c − corner‖² / σ): flat colours far apart (red, white, blue) have nearly orthogonal
//               features, as unrelated things do, and blends along outlines lie between them.
//
// Loaded through the same bundle path as a converted checkpoint.
import { cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readManifest } from '../../ml/bundle';
import { fileEntry } from '../../ml/bundle/hash';
import type { BundleManifest } from '../../ml/bundle/schema';
import type { GraphBuilder } from '../../ml/graph';
import { buildFixtureUNet as buildDiffSegFixtureUNet, ensureFixtureBundle as ensureDiffSegFixture } from '../diffseg/fixture';
import { DIFFSEG_UNET, FEATURE_TAP } from '../diffseg/variant';
import { fixtureBundleAt, writeBundleFolder } from '../common/fixtureBundle';
import { tensorSpecs } from '../../ml/bundle/schema';

const SCALING = 0.18215;
const SIDE = 32;
/** Width of the colour kernel (squared distances in [−1,1]³): red is ~0.15 from its corner, ≥ 3.4 from the others. */
const SIGMA = 0.5;
/** Bumped whenever the graphs change, so cached fixture folders are rebuilt. */
const FIXTURE_VERSION = 2;


/** DiffSeg's fixture UNet with the `up_block.1` colour features added. */
export function buildFixtureUNet(): GraphBuilder {
  const g = buildDiffSegFixtureUNet();
  const sample = g.inputs.find((v) => v.name === 'sample')!;
  const colour = g.div(g.slice(sample, [0], [3], [1]), SCALING);
  const pooled = g.op('AveragePool', [colour], { kernel_shape: [2, 2], strides: [2, 2] }, { outputs: [{ dtype: 'float32', shape: [1, 3, SIDE, SIDE] }] })[0]!;
  const corners = Array.from({ length: 8 }, (_, k) => [0, 1, 2].map((b) => ((k >> b) & 1 ? 1 : -1))).flat();
  const d = g.sub(g.unsqueeze(pooled, [1]), g.constant(corners, 'float32', [1, 8, 3, 1, 1])); // [1,8,3,32,32]
  const d2 = g.reduceSum(g.mul(d, d), [2], false);
  g.output(g.reshape(g.exp(g.div(g.neg(d2), SIGMA)), [1, 8, SIDE, SIDE]), FEATURE_TAP);
  return g;
}

/** Writes the fixture bundle at `dir` (built beside it and renamed). Returns `dir`. */
export async function writeFixtureBundle(dir: string): Promise<string> {
  const source = await ensureDiffSegFixture();
  const from = readManifest(source);
  return writeBundleFolder(dir, async (tmp) => {
    cpSync(source, tmp, { recursive: true });
    const unet = from.components[DIFFSEG_UNET.key]!;
    const g = buildFixtureUNet();
    g.save(join(tmp, unet.model));
    const manifest: BundleManifest = {
      ...from,
      name: 'fixture-prototype',
      createdAt: new Date().toISOString(),
      source: { ...from.source, path: `${from.source.path}+prototype:v${FIXTURE_VERSION}` },
      components: { ...from.components, [DIFFSEG_UNET.key]: { ...unet, files: [await fileEntry(tmp, join(tmp, unet.model))], inputs: tensorSpecs(g.inputs), outputs: tensorSpecs(g.outputs) } },
      warnings: ['FIXTURE: colour affinity and colour features for tests, not Stable Diffusion'],
    };
    return manifest;
  });
}

/** The fixture bundle in a per-version folder under the OS temp dir, written on first use. */
export async function ensureFixtureBundle(): Promise<string> {
  const dir = join(tmpdir(), `difflabel-prototype-fixture-v${FIXTURE_VERSION}`);
  return fixtureBundleAt(dir, (d) => writeFixtureBundle(d));
}
