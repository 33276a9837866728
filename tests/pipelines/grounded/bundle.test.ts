// A bundle for generation converted from checkpoint files: the tiny golden SD (unet_A, vae_C, clip_D) with the
// golden grounding module's weights (grounding_module_Q, at unet_A's widths) gets `unet_grounded` (sharing the UNet's
// weights) and `grounding_module`, and generation with grounding runs on it end to end (random weights: the masks
// mean nothing, their shape and the path do).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoint, readManifest, type BundleManifest } from '../../../src/core/ml/bundle';
import { main } from '../../../src/core/cli/main';
import { disposeSharedInferenceHost, sharedInferenceHost } from '../../../src/core/pipelines/common/inference';
import { fixtureMerges } from '../../../src/core/pipelines/grounded/fixture';
import { generateImage } from '../../../src/core/pipelines/grounded/generate';
import { openGroundedModels } from '../../../src/core/pipelines/grounded/models';
import { GROUNDED_UNET } from '../../../src/core/pipelines/grounded/variant';
import { golden } from '../../ml/weights.helpers';

let tmp: string;
let pipe: string;
let bundle: string;
let manifest: BundleManifest;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'difflabel-grounded-bundle-'));
  pipe = join(tmp, 'pipe');
  mkdirSync(join(pipe, 'tokenizer'), { recursive: true });
  symlinkSync(golden('unet_A'), join(pipe, 'unet'));
  symlinkSync(golden('vae_C'), join(pipe, 'vae'));
  symlinkSync(golden('clip_D'), join(pipe, 'text_encoder'));
  // clip_D embeds 1000 tokens: the fixture's vocabulary (bytes and a few words) fits, CLIP's does not.
  writeFileSync(join(pipe, 'tokenizer', 'bpe_fixture.txt.gz'), gzipSync(fixtureMerges()));
  bundle = join(tmp, 'bundle');
  manifest = (await convertCheckpoint(pipe, bundle, { name: 'tiny-grounded', variants: [GROUNDED_UNET], variantLatentSize: 64, groundingModule: golden('grounding_module_Q', 'weights.safetensors') })).manifest;
}, 300_000);
afterAll(async () => {
  await disposeSharedInferenceHost();
  rmSync(tmp, { recursive: true, force: true });
});

describe('a converted bundle for grounded generation', () => {
  it('holds the UNet with the taps (sharing its weights) and the grounding module', () => {
    expect(manifest.components.unet_grounded).toMatchObject({ sharesWeightsWith: 'unet' });
    expect(manifest.components.unet_grounded!.outputs.map((o) => o.name)).toEqual(expect.arrayContaining(['up_blocks.3.attentions.2', 'cross_attn.00', 'cross_attn.15']));
    expect(manifest.components.grounding_module!.inputs.map((i) => i.name)).toContain('text_embedding');
    expect(manifest.source.files.map((f) => f.path)).toContain(golden('grounding_module_Q', 'weights.safetensors'));
  });

  it('models convert --grounding-module builds the module, and says why the tapped UNet is left out of a UNet for other latents', async () => {
    const out = join(tmp, 'cli-bundle');
    let stdout = '', stderr = '';
    const io = { out: { write: (s: string) => ((stdout += s), true) }, err: { write: (s: string) => ((stderr += s), true) } } as unknown as Parameters<typeof main>[1];
    const code = await main(['models', 'convert', pipe, '--out', out, '--no-diffseg', '--grounding-module', golden('grounding_module_Q', 'weights.safetensors')], io);
    expect(code).toBe(0);
    // unet_A is configured for 16² latents; the module reads the taps of 64² ones.
    expect(stderr).toContain('warning: grounded diffusion UNet variant not built: the grounding module reads the taps of 64×64 latents (512×512 images), not 16×16');
    expect(Object.keys(readManifest(out).components)).toContain('grounding_module');
    expect(stdout).toMatch(/grounding_module/);
  }, 300_000);

  it('generates a 512×512 image and one mask per category on it', async () => {
    const models = openGroundedModels(bundle, sharedInferenceHost());
    try {
      const steps: number[] = [];
      const g = await generateImage(models, {
        prompt: 'a photo of a red square', negativePrompt: '', categories: ['red', 'blue'], grounding: 'module', width: 512, height: 512, sampler: 'dpmpp_2m', steps: 2, scale: 7.5, seed: 1,
      }, { onStep: (d) => steps.push(d) });
      expect(steps).toEqual([1, 2]);
      expect([g.image.width, g.image.height, g.image.data.length]).toEqual([512, 512, 512 * 512 * 3]);
      expect(g.masks.map((m) => m.length)).toEqual([512 * 512, 512 * 512]);
      expect(g.masks.every((m) => m.every((v) => v === 0 || v === 1))).toBe(true);
    } finally {
      await models.dispose();
    }
  }, 300_000);
});
