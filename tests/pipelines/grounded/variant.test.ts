// The grounded UNet variant on the tiny golden UNet (unet_A, random weights): it outputs the noise prediction and
// the 25 taps at their sizes and widths, and the taps that are also whole-block outputs equal them.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { runGraph } from '../../../src/core/golden/compare';
import { GROUNDING_SD1_CONFIG, groundingTaps } from '../../../src/core/ml/models/grounding';
import { buildUNet } from '../../../src/core/ml/models/unet';
import { parseUNetConfig } from '../../../src/core/ml/models/unetConfig';
import { openWeights } from '../../../src/core/ml/weights';
import { GaussianNoise } from '../../../src/core/ml/schedulers';
import { GROUNDED_UNET } from '../../../src/core/pipelines/grounded/variant';
import { golden } from '../../ml/weights.helpers';

const config = parseUNetConfig(JSON.parse(readFileSync(golden('unet_A', 'config.json'), 'utf8')));
const weights = openWeights(golden('unet_A', 'diffusion_pytorch_model.safetensors'));
const noise = new GaussianNoise(3);
const feeds = () => ({
  sample: new ort.Tensor('float32', noise.fill(new Float32Array(2 * 4 * 64 * 64)), [2, 4, 64, 64]),
  timestep: new ort.Tensor('float32', Float32Array.of(1), [1]),
  encoder_hidden_states: new ort.Tensor('float32', noise.fill(new Float32Array(2 * 77 * 32)), [2, 77, 32]),
});

describe('the grounded UNet variant', () => {
  it('outputs the noise prediction and the 25 taps, the block outputs among them equal to the whole blocks', async () => {
    const { graph } = GROUNDED_UNET.build({ config, weights, dtype: 'float32', size: 64 });
    expect(graph.outputs.map((o) => o.name)).toContain('noise_pred');
    const taps = groundingTaps({ ...GROUNDING_SD1_CONFIG, unet_channels: config.block_out_channels });
    // The same UNet with the whole-block outputs beside the module ones, in one session (the machine is slow).
    const both = buildUNet(config, weights, { batch: 2, height: 64, width: 64, timesteps: 1, features: [...taps.map((t) => t.diffusers), 'down_block.3', 'up_block.3', 'up_block.0'] });
    const out = await runGraph(both.graph, feeds());
    for (const t of taps) expect(out[t.diffusers]!.dims, t.diffusers).toEqual([2, t.channels / 2, t.size, t.size]);
    expect(out['down_blocks.3.resnets.1']!.data).toEqual(out['down_block.3']!.data);
    expect(out['up_blocks.3.attentions.2']!.data).toEqual(out['up_block.3']!.data);
    expect(out['up_blocks.0.upsamplers.0']!.data).toEqual(out['up_block.0']!.data);
  });

  it('refuses latents the grounding module cannot read', () => {
    expect(() => GROUNDED_UNET.build({ config, weights, dtype: 'float32', size: 32 })).toThrow('the grounding module reads the taps of 64×64 latents (512×512 images), not 32×32');
  });
});
