// diffusers AutoencoderKL: encoder posterior, the latents pipelines derive from it, decoder, taps and mid attention.
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildVaeDecoder, buildVaeEncoder, parseVaeConfig } from '../ml/models/vae';
import { openWeights, SafetensorsFile } from '../ml/weights';
import { floatTensor, readJsonObject, ReferenceOutputs, runGraph, type GoldenKind } from './compare';

/** SD 1.x's latent scaling factor, applied outside the model. */
const SCALING = 0.18215;

export const vaeKind: GoldenKind = {
  title: 'diffusers AutoencoderKL encoder and decoder',
  async check(dir) {
    const cfg = parseVaeConfig(readJsonObject(join(dir, 'config.json')));
    const w = openWeights(join(dir, 'diffusion_pytorch_model.safetensors'));
    const inp = SafetensorsFile.open(join(dir, 'inputs.safetensors'));
    const ref = new ReferenceOutputs(SafetensorsFile.open(join(dir, 'outputs.safetensors')));
    const e = await runGraph(buildVaeEncoder(cfg, w, { features: true, midAttention: true }).graph, { image: floatTensor(inp, 'image') });
    for (const k of ['latent_mean', 'latent_std', 'latent_logvar', 'moments', 'encoder_out']) ref.tensor(e[k], k);
    ref.tensor(e['mid_block'], 'encoder_mid_block');
    ref.tensor(e['mid_attn'], 'encoder_mid_attn');
    // What pipelines derive from the posterior, computed from OUR mean and std.
    const mean = e['latent_mean']!.data as Float32Array;
    const std = e['latent_std']!.data as Float32Array;
    const eps = inp.readFloat32('eps');
    const dims = e['latent_mean']!.dims;
    ref.tensor(new ort.Tensor('float32', mean.map((m) => Math.fround(m * SCALING)), dims), 'latent_mean_scaled');
    ref.tensor(new ort.Tensor('float32', mean.map((m, i) => m + std[i]! * eps[i]!), dims), 'latent_sample_eps');
    const dec = buildVaeDecoder(cfg, w, { features: true, midAttention: true }).graph;
    const dz = await runGraph(dec, { latent: floatTensor(inp, 'z') });
    ref.tensor(dz['sample'], 'decoded_z');
    ref.tensor(dz['post_quant_conv'], 'post_quant_conv_z');
    ref.tensor(dz['mid_block'], 'decoder_mid_block_z');
    ref.tensor(dz['mid_attn'], 'decoder_mid_attn_z');
    const dm = await runGraph(dec, { latent: new ort.Tensor('float32', mean, dims) });
    ref.tensor(dm['sample'], 'decoded_mean');
    ref.tensor(dm['mid_attn'], 'decoder_mid_attn_mean');
    return ref.checks();
  },
};
