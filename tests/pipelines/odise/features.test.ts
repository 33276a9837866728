// ODISE's features without its weights: torch's seed-42 noise, the sliding windows and their averaging against a
// direct computation, and the four window graphs on tiny SD parts (golden unet_A, vae_C, clip_vision_V): shapes,
// strides and grouping, the taps equal to the plain graphs' values, the unused tails cut away.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { createHash } from 'node:crypto';
import { runGraph } from '../../../src/core/golden/compare';
import { buildUNet } from '../../../src/core/ml/models/unet';
import { parseUNetConfig } from '../../../src/core/ml/models/unetConfig';
import { buildVaeDecoder, buildVaeEncoder, parseVaeConfig } from '../../../src/core/ml/models/vae';
import { parseClipVisionConfig } from '../../../src/core/ml/models/clipVisionConfig';
import { ODISE_FEATURE_CONFIG, groupTaps, odiseFeatureWeightShapes, type OdiseFeatureConfig } from '../../../src/core/ml/models/odise/config';
import { buildOdiseCaptioner, buildOdiseProjection, buildOdiseUNet, buildOdiseVae, featureTaps } from '../../../src/core/ml/models/odise/features';
import { Mt19937, torchRandn } from '../../../src/core/ml/models/odise/torchNoise';
import { openWeights, RandomWeights } from '../../../src/core/ml/weights';
import type { GraphBuilder } from '../../../src/core/ml/graph';
import type { FloatTensor } from '../../../src/core/pipelines/odise/classify';
import { captionWindows, cropWindow, slideFeatures, slidingWindows, windowRunner, type OdiseFeatureComponent, type WindowFeatures } from '../../../src/core/pipelines/odise/features';
import { golden } from '../../ml/weights.helpers';

const unetConfig = parseUNetConfig(JSON.parse(readFileSync(golden('unet_A', 'config.json'), 'utf8')));
const unetWeights = () => openWeights(golden('unet_A', 'diffusion_pytorch_model.safetensors'));
const vaeConfig = parseVaeConfig(JSON.parse(readFileSync(golden('vae_C', 'config.json'), 'utf8')));
const vaeWeights = () => openWeights(golden('vae_C', 'diffusion_pytorch_model.safetensors'));
const clipConfig = parseClipVisionConfig(JSON.parse(readFileSync(golden('clip_vision_V', 'config.json'), 'utf8')));
const clipWeights = () => openWeights(golden('clip_vision_V', 'model.safetensors'));

/** ODISE's taps on the tiny parts: 64² windows (8² latents), 128 projected channels (GroupNorm(32) of 32 in the bottleneck). */
const TINY: OdiseFeatureConfig = { ...ODISE_FEATURE_CONFIG, window: 64, projectionDim: 128, contextDim: 32, timeEmbedDim: 64, clipDim: 24 };
const LATENT = 8;

const rnd = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5 + 0.5);
const tensor = (data: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', data, [...dims]);
const asFloat = (t: ort.Tensor): FloatTensor => ({ data: t.data as Float32Array, dims: t.dims });
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
const nodeNames = (g: GraphBuilder) => g.nodes.map((n) => n.name).join('\n');
const sha = (g: GraphBuilder) => createHash('sha256').update(g.toBytes()).digest('hex').slice(0, 16);

describe("torch's seed-42 noise", () => {
  it('mt19937 is the standard one: the 10000th output of the default seed, the first of seed 42', () => {
    const g = new Mt19937(5489);
    let v = 0;
    for (let i = 0; i < 10000; i++) v = g.next();
    expect(v).toBe(4123659995);
    expect(new Mt19937(42).next()).toBe(1608637542);
  });

  it("randn(1,4,64,64) with seed 42 starts with torch's values (1.9269, 1.4873, 0.9007, −2.1055, …) and is standard normal", () => {
    const n = torchRandn(4 * 64 * 64, 42);
    // torch 1.13 prints the first values to 4 decimals; the first one was measured to 1.9269150 (scalar) / 1.9269153 (AVX2).
    const printed = [1.9269, 1.4873, 0.9007, -2.1055, 0.6784, -1.2345, -0.0431, -1.6047];
    printed.forEach((w, i) => expect(Math.abs(n[i]! - w), `value ${i}`).toBeLessThanOrEqual(5e-5));
    expect(Math.abs(n[0]! - 1.926915)).toBeLessThan(5e-7);
    const mean = n.reduce((a, b) => a + b, 0) / n.length;
    const variance = n.reduce((a, b) => a + b * b, 0) / n.length - mean * mean;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
  });

  it('a count that is not a multiple of 16 draws its last 16 values again (torch normal_fill)', () => {
    const a = torchRandn(20, 42);
    expect(Array.from(a.subarray(0, 4))).toEqual(Array.from(torchRandn(16, 42).subarray(0, 4)));
    expect(Array.from(a.subarray(4))).not.toEqual(Array.from(torchRandn(32, 42).subarray(4, 20)));
    expect(() => torchRandn(8, 42)).toThrow('at least 16 values');
  });
});

describe('sliding windows', () => {
  it("cuts 1024×1408 (a 1024×1365 image padded to 64) into 2×3 windows, the last column shifted back to the border", () => {
    expect(slidingWindows(1024, 1408, 512)).toEqual([
      { y: 0, x: 0 }, { y: 0, x: 512 }, { y: 0, x: 896 }, { y: 512, x: 0 }, { y: 512, x: 512 }, { y: 512, x: 896 },
    ]);
    expect(slidingWindows(512, 512, 512)).toEqual([{ y: 0, x: 0 }]);
    expect(() => slidingWindows(448, 1024, 512)).toThrow('need both sides at least 512');
  });

  it('averages overlapping windows: each position gets the mean of the windows that cover it', async () => {
    const image: FloatTensor = { data: new Float32Array(3 * 8 * 12), dims: [1, 3, 8, 12] };
    let k = 0;
    // A window's feature is its own number: positions covered by windows 1 and 2 get their mean.
    const runner = async (): Promise<WindowFeatures> => {
      k++;
      return { s1: { data: new Float32Array(8 * 8).fill(k), dims: [1, 1, 8, 8], stride: 1 } };
    };
    const out = await slideFeatures(image, 8, runner);
    expect(k).toBe(2); // x = 0 and x = 4
    const row = Array.from(out['s1']!.data.subarray(0, 12));
    expect(row).toEqual([1, 1, 1, 1, 1.5, 1.5, 1.5, 1.5, 2, 2, 2, 2]);
  });

  it('equals the direct computation for a window-independent feature (2×2 means at stride 2), with overlaps in both axes', async () => {
    const H = 12, W = 14, S = 8;
    const image: FloatTensor = { data: rnd(3 * H * W, 1), dims: [1, 3, H, W] };
    const pool = (data: Float32Array, h: number, w: number): Float32Array => {
      const out = new Float32Array(3 * (h / 2) * (w / 2));
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < h / 2; y++)
          for (let x = 0; x < w / 2; x++) {
            let s = 0;
            for (const [dy, dx] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) s += data[(c * h + 2 * y + dy) * w + 2 * x + dx]!;
            out[(c * (h / 2) + y) * (w / 2) + x] = s / 4;
          }
      return out;
    };
    const windows: { y: number; x: number }[] = [];
    const out = await slideFeatures(image, S, async (win) => ({ s2: { data: pool(win, S, S), dims: [1, 3, S / 2, S / 2], stride: 2 } }), (done, total) => windows.push({ y: done, x: total }));
    expect(windows).toEqual([{ y: 1, x: 4 }, { y: 2, x: 4 }, { y: 3, x: 4 }, { y: 4, x: 4 }]);
    expect(out['s2']!.dims).toEqual([1, 3, H / 2, W / 2]);
    expect(maxAbs(out['s2']!.data, pool(image.data, H, W))).toBeLessThan(1e-6);
  });

  it('crops a window channel by channel', () => {
    const image: FloatTensor = { data: Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i), dims: [1, 2, 3, 4] };
    expect(Array.from(cropWindow(image, { y: 1, x: 2 }, 2))).toEqual([6, 7, 10, 11, 18, 19, 22, 23]);
  });
});

describe('ODISE window graphs on tiny SD parts', () => {
  const vae = buildOdiseVae(TINY, vaeConfig, vaeWeights());
  const unet = buildOdiseUNet(TINY, unetConfig, unetWeights(), LATENT);
  const taps = featureTaps(TINY, vae, unet);

  it("lists the taps in the projections' order with ODISE's strides, grouped s2 = enc0 + dec1, s3 = enc1 + unet3 + dec0, s4 = unet2, s5 = unet0 + unet1", () => {
    expect(taps.map((t) => [t.index, t.name, t.channels, t.size, t.stride])).toEqual([
      [0, 'vae_encoder.down_blocks.2.resnets.1.input', 32, 16, 4],
      [1, 'vae_encoder.down_blocks.3.resnets.1.input', 32, 8, 8],
      [2, 'unet.up_blocks.0.resnets.2.input', 64, 1, 32], // stride 64, clamped to 32
      [3, 'unet.up_blocks.1.resnets.2.input', 48, 2, 32],
      [4, 'unet.up_blocks.2.resnets.2.input', 32, 4, 16],
      [5, 'unet.up_blocks.3.resnets.2.input', 32, 8, 8],
      [6, 'vae_decoder.up_blocks.0.resnets.2.input', 32, 8, 8],
      [7, 'vae_decoder.up_blocks.1.resnets.2.input', 32, 16, 4],
    ]);
    expect(groupTaps(taps).map((g) => [g.name, g.taps.map((t) => t.index)])).toEqual([['s2', [0, 7]], ['s3', [1, 5, 6]], ['s4', [4]], ['s5', [2, 3]]]);
  });

  it('the UNet graph gives the concatenated inputs of the plain UNet at t = 0, and stops at its last tap', async () => {
    const context = rnd(77 * 32, 2);
    const sample = rnd(4 * LATENT * LATENT, 3);
    const got = await runGraph(unet.graph, {
      sample: tensor(sample, [1, 4, LATENT, LATENT]), encoder_hidden_states: tensor(context, [1, 77, 32]), time_emb_add: tensor(new Float32Array(64), [1, 64]),
    });
    const plain = buildUNet(unetConfig, unetWeights(), { batch: 1, height: LATENT, width: LATENT, features: ['up_blocks.0.resnets.1', 'up_blocks.3.attentions.1'] });
    const want = await runGraph(plain.graph, {
      sample: tensor(sample, [1, 4, LATENT, LATENT]), timestep: tensor(Float32Array.of(0), [1]), encoder_hidden_states: tensor(context, [1, 77, 32]),
    });
    // The first channels of a concatenated input are the previous module's output (the skip follows).
    for (const [tap, prev] of [['unet.up_blocks.0.resnets.2.input', 'up_blocks.0.resnets.1'], ['unet.up_blocks.3.resnets.2.input', 'up_blocks.3.attentions.1']] as const) {
      const p = want[prev]!;
      expect(maxAbs((got[tap]!.data as Float32Array).subarray(0, p.data.length), p.data as Float32Array), tap).toBeLessThan(1e-5);
    }
    expect(nodeNames(unet.graph)).not.toMatch(/up_blocks\.3\.resnets\.2|conv_out|up_blocks\.3\.attentions\.2/);
  });

  it('the time-embedding term changes the taps (it reaches every resnet)', async () => {
    const feeds = (add: number) => ({
      sample: tensor(rnd(4 * LATENT * LATENT, 3), [1, 4, LATENT, LATENT]), encoder_hidden_states: tensor(rnd(77 * 32, 2), [1, 77, 32]),
      time_emb_add: tensor(new Float32Array(64).fill(add), [1, 64]),
    });
    const [a, b] = [await runGraph(unet.graph, feeds(0)), await runGraph(unet.graph, feeds(0.5))];
    expect(maxAbs(a['unet.up_blocks.0.resnets.2.input']!.data as Float32Array, b['unet.up_blocks.0.resnets.2.input']!.data as Float32Array)).toBeGreaterThan(1e-3);
  });

  it('the VAE graph: √ᾱ₀·0.18215·mean + √(1−ᾱ₀)·noise, an encoder tap equal to the plain block output, the decoder cut after its taps', async () => {
    const image = rnd(3 * 64 * 64, 4);
    const noise = torchRandn(4 * LATENT * LATENT, 42);
    const got = await runGraph(vae.graph, { image: tensor(image, [1, 3, 64, 64]), noise: tensor(noise, [1, 4, LATENT, LATENT]) });
    const enc = buildVaeEncoder(vaeConfig, vaeWeights(), { features: ['down_block.2'] });
    const plain = await runGraph(enc.graph, { image: tensor(image.map((v) => 2 * v - 1), [1, 3, 64, 64]) });
    const mean = plain['latent_mean']!.data as Float32Array;
    const want = mean.map((m, i) => 0.9995749 * 0.18215 * m + 0.0291548 * noise[i]!);
    expect(maxAbs(got['noised_latent']!.data as Float32Array, want)).toBeLessThan(1e-5);
    // down_blocks.3 has no downsampler before it: its first resnet's input is down_block.2's output.
    const alt = buildOdiseVae({ ...TINY, vaeEncoderTaps: ['down_blocks.3.resnets.0'] }, vaeConfig, vaeWeights());
    const altOut = await runGraph(alt.graph, { image: tensor(image, [1, 3, 64, 64]), noise: tensor(noise, [1, 4, LATENT, LATENT]) });
    expect(maxAbs(altOut['vae_encoder.down_blocks.3.resnets.0.input']!.data as Float32Array, plain['down_block.2']!.data as Float32Array)).toBeLessThan(1e-5);
    const dec = buildVaeDecoder(vaeConfig, vaeWeights(), { features: ['up_blocks.1.resnets.2.input'] });
    const plainDec = await runGraph(dec.graph, { latent: tensor(mean, [1, 4, LATENT, LATENT]) });
    expect(maxAbs(got['vae_decoder.up_blocks.1.resnets.2.input']!.data as Float32Array, plainDec['up_blocks.1.resnets.2.input']!.data as Float32Array)).toBeLessThan(1e-5);
    expect(nodeNames(vae.graph)).not.toMatch(/decoder\.up_blocks\.[23]\./);
  });

  it('four graphs make s2…s5 of a window, and windows slide over an image through them', async () => {
    const heads = new RandomWeights(odiseFeatureWeightShapes(TINY, taps), 7);
    const graphs: Record<OdiseFeatureComponent, GraphBuilder> = {
      odise_captioner: buildOdiseCaptioner(TINY, clipConfig, clipWeights(), heads).graph,
      odise_vae: vae.graph,
      unet_odise: unet.graph,
      odise_projection: buildOdiseProjection(TINY, taps, heads).graph,
    };
    const sessions = new Map<string, ort.InferenceSession>();
    const run = async (k: OdiseFeatureComponent, feeds: Record<string, FloatTensor>, outputs?: readonly string[]) => {
      let s = sessions.get(k);
      if (!s) sessions.set(k, (s = await ort.InferenceSession.create(graphs[k].toBytes(), { intraOpNumThreads: 2 })));
      const out = await s.run(Object.fromEntries(Object.entries(feeds).map(([n, t]) => [n, tensor(t.data, t.dims)])), outputs ? [...outputs] : s.outputNames);
      return Object.fromEntries(Object.entries(out).map(([n, t]) => [n, asFloat(t)]));
    };
    const runner = windowRunner(run, 64, { data: rnd(77 * 32, 5), dims: [1, 77, 32] }, { data: torchRandn(4 * LATENT * LATENT, 42), dims: [1, 4, LATENT, LATENT] });
    const one = await runner(rnd(3 * 64 * 64, 6), 0);
    expect(Object.fromEntries(Object.entries(one).map(([n, t]) => [n, [t.dims, t.stride]]))).toEqual({
      s2: [[1, 128, 16, 16], 4], s3: [[1, 128, 8, 8], 8], s4: [[1, 128, 4, 4], 16], s5: [[1, 128, 2, 2], 32],
    });
    // The bottlenecks end in a ReLU: sums of them are ≥ 0, and not all 0.
    expect(Math.min(...one['s3']!.data)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...one['s3']!.data)).toBeGreaterThan(0);
    const image: FloatTensor = { data: rnd(3 * 64 * 128, 8), dims: [1, 3, 64, 128] };
    const whole = await slideFeatures(image, 64, runner);
    expect(whole['s5']!.dims).toEqual([1, 128, 2, 4]);
    // Windows side by side without overlap: the right half is the right window's features.
    const right = await runner(cropWindow(image, { y: 0, x: 64 }, 64), 1);
    expect(maxAbs(whole['s4']!.data.filter((_, i) => i % 8 >= 4), right['s4']!.data)).toBeLessThan(1e-6);
    // Captions of every window first (the captioner's session can then go before the UNet loads): the same features,
    // and no captioner run while the windows run.
    const emptyContext = { data: rnd(77 * 32, 5), dims: [1, 77, 32] };
    const captions = await captionWindows(image, 64, run, emptyContext);
    expect(captions).toHaveLength(2);
    const counted: string[] = [];
    const counting: typeof run = (c, feeds, outputs) => (counted.push(c), run(c, feeds, outputs));
    const fromCaptions = await slideFeatures(image, 64, windowRunner(counting, 64, emptyContext, { data: torchRandn(4 * LATENT * LATENT, 42), dims: [1, 4, LATENT, LATENT] }, captions));
    expect(counted).not.toContain('odise_captioner');
    for (const name of Object.keys(whole)) expect(maxAbs(fromCaptions[name]!.data, whole[name]!.data)).toBe(0);
    await Promise.all([...sessions.values()].map((s) => s.release()));
  });
});

describe('graphs built without the new options are unchanged', () => {
  it('the UNet and the VAE without ODISE taps or the time-embedding input serialise to the bytes they had before those options existed', () => {
    const u = buildUNet(unetConfig, unetWeights(), { batch: 1, height: 8, width: 8, features: ['up_blocks.0.resnets.1'] }).graph;
    const e = buildVaeEncoder(vaeConfig, vaeWeights(), { features: true }).graph;
    const d = buildVaeDecoder(vaeConfig, vaeWeights(), { features: true }).graph;
    expect([sha(u), sha(e), sha(d)]).toEqual(['47a6aefbb67bfe3a', '29ff0b1bffd999ec', 'e832cc589dd6f454']);
  });
});
