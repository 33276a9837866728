// Peekaboo differentiates through the VAE encoder, so it rebuilds the encoder graph from the weights stored in a
// bundle's vae_encoder.onnx: reading them back must give the same model (Linear weights stored transposed, float16).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { buildVaeEncoder, parseVaeConfig } from '../../../src/core/ml/models/vae';
import { vaeWeightShapes } from '../../../src/core/ml/models/shapes';
import { RandomWeights } from '../../../src/core/ml/weights/random';
import { OnnxWeights } from '../../../src/core/pipelines/peekaboo/models';

const dir = mkdtempSync(join(tmpdir(), 'difflabel-peekaboo-weights-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = parseVaeConfig({
  block_out_channels: [8, 16], down_block_types: Array(2).fill('DownEncoderBlock2D'), up_block_types: Array(2).fill('UpDecoderBlock2D'),
  layers_per_block: 1, latent_channels: 4, norm_num_groups: 4,
});

async function encode(path: string, image: Float32Array): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(path);
  const out = await s.run({ image: new ort.Tensor('float32', image, [1, 3, 16, 16]) });
  await s.release();
  return out['latent_mean']!.data as Float32Array;
}

describe('OnnxWeights', () => {
  it.each(['float32', 'float16'] as const)('rebuilds a %s VAE encoder that computes what the stored one does', async (dtype) => {
    const stored = join(dir, `vae_${dtype}.onnx`);
    const original = new RandomWeights(vaeWeightShapes(config), 3);
    buildVaeEncoder(config, original, { dtype, batch: 1, height: 16, width: 16 }).graph.save(stored);
    const back = new OnnxWeights(stored);
    // The mid-block attention's Linear weights are stored transposed (`.T`) and come back under their own names.
    expect(back.has('encoder.mid_block.attentions.0.to_q.weight')).toBe(true);
    expect(back.shape('encoder.mid_block.attentions.0.to_q.weight')).toEqual(original.shape('encoder.mid_block.attentions.0.to_q.weight'));
    const want = original.read('encoder.mid_block.attentions.0.to_q.weight');
    const got = back.read('encoder.mid_block.attentions.0.to_q.weight');
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(dtype === 'float16' ? 1e-3 * Math.abs(want[i]!) + 1e-7 : 0);
    const rebuilt = join(dir, `rebuilt_${dtype}.onnx`);
    buildVaeEncoder(config, back, { dtype, batch: 1, height: 16, width: 16 }).graph.save(rebuilt);
    const image = Float32Array.from({ length: 3 * 16 * 16 }, (_, i) => Math.sin(i * 0.37));
    expect(await encode(rebuilt, image)).toEqual(await encode(stored, image));
  });
});
