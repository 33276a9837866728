// MaskCLIP on the golden case's tiny CLIP tower (open_clip key names): the attention mask it builds from the masks
// (a patch stays visible when one of its pixels has sigmoid ≥ 0.5), a mask covering the whole image giving the plain
// tower's image embedding, and queries that do not influence each other.
import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { maxAbsDiff, runGraph } from '../../src/core/golden/compare';
import { buildClipVisionEncoder } from '../../src/core/ml/models/clipVision';
import { openAiVisionSource } from '../../src/core/ml/models/clipVisionWeights';
import { buildMaskClip } from '../../src/core/ml/models/maskClip';
import { openTensorFile } from '../../src/core/ml/weights';
import { rng } from '../helpers/random';
import { golden } from './weights.helpers';

const file = openTensorFile(golden('odise_inference_O', 'clip_weights.safetensors'));
afterAll(() => file.close());
const { config, weights } = openAiVisionSource(file, 'clip_weights.safetensors');
const S = config.image_size; // 32: a 4×4 grid of 8-pixel patches
const N = (S / config.patch_size) ** 2;

const random = rng(7);
const image = new ort.Tensor('float32', Float32Array.from({ length: 3 * S * S }, () => random()), [1, 3, S, S]);

/** Masks [1, Q, S, S] of logits: +5 where `inside(q, y, x)`, −5 elsewhere. */
function masks(Q: number, inside: (q: number, y: number, x: number) => boolean): ort.Tensor {
  const d = new Float32Array(Q * S * S);
  for (let q = 0; q < Q; q++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) d[(q * S + y) * S + x] = inside(q, y, x) ? 5 : -5;
  return new ort.Tensor('float32', d, [1, Q, S, S]);
}

const maskClip = (m: ort.Tensor, debug = false) => runGraph(buildMaskClip(config, weights, { debug }).graph, { images: image, pred_masks: m });

describe('MaskCLIP', () => {
  it('blocks the mask tokens for everyone, and for a mask token the patches its mask leaves out', async () => {
    // Query 0: the top-left patch and one pixel of patch 5 (row 1, column 1); query 1: nothing.
    const r = await maskClip(masks(2, (q, y, x) => q === 0 && ((y < 8 && x < 8) || (y === 12 && x === 9))), true);
    const T = 2 + 1 + N;
    expect(r['attn_mask']!.dims).toEqual([1, 1, T, T]);
    const m = r['attn_mask']!.data as Float32Array;
    const row = (i: number) => Array.from(m.subarray(i * T, (i + 1) * T), (v) => (v === -Infinity ? 'x' : v === 0 ? '.' : String(v))).join('');
    expect(row(0)).toBe(`xx..${'x'.repeat(4)}.${'x'.repeat(10)}`); // class token, patches 0 and 5
    expect(row(1)).toBe(`xx.${'x'.repeat(N)}`);
    for (let i = 2; i < T; i++) expect(row(i)).toBe(`xx${'.'.repeat(1 + N)}`);
  });

  it('gives a mask covering the whole image the plain tower\'s image embedding', async () => {
    const r = await maskClip(masks(1, () => true), true);
    const plain = await runGraph(buildClipVisionEncoder(config, weights).graph, { pixel_values: r['preprocessed_image']! });
    const embed = r['mask_embed']!.data as Float32Array;
    expect(r['mask_embed']!.dims).toEqual([1, 1, config.projection_dim]);
    expect(maxAbsDiff(embed, plain['image_embeds']!.data as Float32Array)).toBeLessThan(1e-5);
    // A mask that leaves out half the patches gives another embedding.
    const half = await maskClip(masks(1, (_, y) => y < S / 2));
    expect(maxAbsDiff(half['mask_embed']!.data as Float32Array, embed)).toBeGreaterThan(1e-2);
  });

  it('embeds each mask on its own: other queries do not change it', async () => {
    const shapes = (q: number, y: number, x: number) => [x < 12, y > 20, (x + y) % 16 < 5][q]!;
    const one = await maskClip(masks(1, shapes));
    const three = await maskClip(masks(3, shapes));
    const P = config.projection_dim;
    expect(maxAbsDiff((three['mask_embed']!.data as Float32Array).subarray(0, P), one['mask_embed']!.data as Float32Array)).toBeLessThan(1e-6);
  });

  it('refuses an Alpha-CLIP tower', () => {
    expect(() => buildMaskClip({ ...config, alpha_channel: true }, weights)).toThrow('MaskCLIP runs a plain CLIP image tower, not Alpha-CLIP');
  });
});
