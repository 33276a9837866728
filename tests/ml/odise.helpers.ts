// Small files in the layouts ODISE's readers take (tiny SD parts unet_A / vae_C / clip_D, the tiny CLIP tower
// clip_vision_V in openai's names, a label checkpoint at toy widths), and the configs they imply.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { OdiseBundleConfigs } from '../../src/core/ml/bundle/odise';
import { captionerWeightShapes, classificationWeightShapes, projectionWeightShapes, type OdiseHeadsConfig } from '../../src/core/ml/bundle/odiseSources';
import { decoderWeightShapes, parseDecoderConfig, parsePixelDecoderConfig, pixelDecoderWeightShapes } from '../../src/core/ml/models/mask2former';
import { parseClipTextConfig } from '../../src/core/ml/models/clip';
import { ODISE_FEATURE_CONFIG } from '../../src/core/ml/models/odise/config';
import { parseUNetConfig } from '../../src/core/ml/models/unetConfig';
import { parseVaeConfig } from '../../src/core/ml/models/vae';
import { toFloat16Bits } from '../../src/core/ml/graph';
import { encodeSafetensors, SafetensorsFile, type WriteTensor } from '../../src/core/ml/weights';
import { clipVisionOpenAiLayout } from './clipVision.helpers';
import { buildLdmCheckpoint, golden } from './weights.helpers';

const json = (name: string) => JSON.parse(readFileSync(golden(name, 'config.json'), 'utf8'));

/** ODISE's label model at toy widths over the tiny SD parts: their taps are 32, 32, 64, 48, 32, 32, 32, 32 wide. */
export const TINY_HEADS: OdiseHeadsConfig = {
  pixelDecoder: parsePixelDecoderConfig({
    input_shape: { s2: { channels: 128, stride: 4 }, s3: { channels: 128, stride: 8 }, s4: { channels: 128, stride: 16 }, s5: { channels: 128, stride: 32 } },
    transformer_in_features: ['s3', 's4', 's5'], conv_dim: 32, mask_dim: 32, norm: 'GN', transformer_nheads: 4, transformer_dim_feedforward: 64,
    transformer_enc_layers: 1, common_stride: 4,
  }),
  decoder: parseDecoderConfig({
    in_channels: 32, num_classes: 5, hidden_dim: 32, num_queries: 6, nheads: 4, dim_feedforward: 64, dec_layers: 2, pre_norm: false, mask_dim: 32,
    class_embed: 'pseudo', post_mask_embed: { projection_dim: 32 },
  }),
  featureDims: [32, 32, 64, 48, 32, 32, 32, 32],
  projectionDim: 128,
  clipDim: 24,
  context: [77, 32],
  timeEmbedDim: 64,
};
export const TINY_CONFIGS: OdiseBundleConfigs = {
  heads: TINY_HEADS,
  features: { ...ODISE_FEATURE_CONFIG, window: 64, projectionDim: 128, contextDim: 32, timeEmbedDim: 64, clipDim: 24 },
  sd: { unet: parseUNetConfig(json('unet_A')), vae: parseVaeConfig(json('vae_C')), textEncoder: parseClipTextConfig(json('clip_D')) },
  clipHeads: { vision: 4, text: 4 },
};

const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 0.61) * 0.2);
const f32 = (shape: number[], data: Float32Array): WriteTensor => ({ dtype: 'F32', shape, data });

/** The label checkpoint's heads under detectron2's names (a bare state dict, as fvcore also accepts). */
export function checkpointTensors(c: OdiseHeadsConfig): Record<string, WriteTensor> {
  const out: Record<string, WriteTensor> = {};
  let seed = 1;
  const add = (prefix: string, shapes: Map<string, number[]>) => {
    for (const [k, s] of shapes) {
      const n = s.reduce((a, b) => a * b, 1);
      // GroupNorm and LayerNorm scales of 1 keep the tiny heads' activations in range
      out[prefix + k] = f32(s, /norm.*\.weight$|norm\.weight$/.test(k) ? new Float32Array(n).fill(1) : values(n, seed++));
    }
  };
  add('backbone.feature_extractor.', captionerWeightShapes(c));
  add('backbone.feature_projections.', projectionWeightShapes(c));
  add('sem_seg_head.pixel_decoder.', pixelDecoderWeightShapes(c.pixelDecoder));
  add('sem_seg_head.predictor.', decoderWeightShapes(c.decoder));
  add('category_head.', classificationWeightShapes(c));
  return out;
}

/**
 * clip_vision_V's tower and clip_D's text tower as one CLIP in openai's names (a plain state dict), fp32, or fp16 as
 * OpenAI released them; text_projection 32 → `projection`.
 */
export function openAiClip({ fp16 = false, projection = 24 } = {}): Record<string, WriteTensor> {
  const out: Record<string, WriteTensor> = { ...clipVisionOpenAiLayout({ fp16 }) };
  const src = SafetensorsFile.open(golden('clip_D', 'model.safetensors'));
  const put = (shape: number[], data: Float32Array): WriteTensor => (fp16 ? { dtype: 'F16', shape, data: toFloat16Bits(data) } : f32(shape, data));
  const copy = (to: string, from: string) => (out[to] = put(src.info(from).shape, src.readFloat32(from)));
  const t = 'text_model.';
  copy('token_embedding.weight', `${t}embeddings.token_embedding.weight`);
  copy('positional_embedding', `${t}embeddings.position_embedding.weight`);
  copy('ln_final.weight', `${t}final_layer_norm.weight`);
  copy('ln_final.bias', `${t}final_layer_norm.bias`);
  for (let i = 0; i < 3; i++) {
    const from = `${t}encoder.layers.${i}.`;
    const to = `transformer.resblocks.${i}.`;
    for (const k of ['weight', 'bias']) {
      const parts = ['q_proj', 'k_proj', 'v_proj'].map((q) => src.readFloat32(`${from}self_attn.${q}.${k}`));
      const fused = new Float32Array(parts.reduce((n, a) => n + a.length, 0));
      parts.forEach((a, j) => fused.set(a, j * a.length));
      const [rows, cols] = src.info(`${from}self_attn.q_proj.${k}`).shape;
      out[`${to}attn.in_proj_${k}`] = put(k === 'weight' ? [3 * rows!, cols!] : [3 * rows!], fused);
      for (const [a, b] of [['self_attn.out_proj', 'attn.out_proj'], ['layer_norm1', 'ln_1'], ['mlp.fc1', 'mlp.c_fc'], ['mlp.fc2', 'mlp.c_proj'], ['layer_norm2', 'ln_2']])
        copy(`${to}${b}.${k}`, `${from}${a}.${k}`);
    }
  }
  out['text_projection'] = put([32, projection], values(32 * projection, 99));
  src.close();
  return out;
}

/** The three files and a tokenizer without merges (every id below clip_D's 1000: 512 byte tokens, SOT 512, EOT 513). */
export function tinyOdiseFiles(at: string) {
  const put = (name: string, bytes: Uint8Array) => {
    const p = join(at, name);
    writeFileSync(p, bytes);
    return p;
  };
  return {
    checkpoint: put('odise_label.safetensors', encodeSafetensors(checkpointTensors(TINY_HEADS))),
    sd: put('sd-v1-3.safetensors', buildLdmCheckpoint()),
    clip: put('ViT-tiny.safetensors', encodeSafetensors(openAiClip())),
    bpe: put('bpe_fixture.txt.gz', gzipSync(Buffer.from('"bpe_simple_vocab fixture: no merges"\n'))),
  };
}
