// An ODISE bundle from three small released-style files (tiny SD parts unet_A / vae_C / clip_D, the tiny CLIP tower
// clip_vision_V in openai's names, a label checkpoint at toy widths): it builds, verifies, lists each component's
// licence, and a mismatched checkpoint leaves nothing behind.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { convertOdise, ODISE_LICENCES, type OdiseBundleConfigs } from '../../src/core/ml/bundle/odise';
import { captionerWeightShapes, classificationWeightShapes, projectionWeightShapes, type OdiseHeadsConfig } from '../../src/core/ml/bundle/odiseSources';
import { listBundles, verifyBundle } from '../../src/core/ml/bundle';
import { decoderWeightShapes, parseDecoderConfig, parsePixelDecoderConfig, pixelDecoderWeightShapes } from '../../src/core/ml/models/mask2former';
import { parseClipTextConfig } from '../../src/core/ml/models/clip';
import { ODISE_FEATURE_CONFIG } from '../../src/core/ml/models/odise/config';
import { parseUNetConfig } from '../../src/core/ml/models/unetConfig';
import { parseVaeConfig } from '../../src/core/ml/models/vae';
import { encodeSafetensors, SafetensorsFile, type WriteTensor } from '../../src/core/ml/weights';
import { clipVisionOpenAiLayout } from './clipVision.helpers';
import { buildLdmCheckpoint, golden, REPO_ROOT } from './weights.helpers';

const dir = mkdtempSync(join(tmpdir(), 'odise-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, bytes: Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};
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
function checkpointTensors(c: OdiseHeadsConfig): Record<string, WriteTensor> {
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

/** clip_vision_V and clip_D as one CLIP in openai's names (fp32, a plain state dict), text_projection 32 → 24. */
function openAiClip(): Record<string, WriteTensor> {
  const out: Record<string, WriteTensor> = { ...clipVisionOpenAiLayout() };
  const src = SafetensorsFile.open(golden('clip_D', 'model.safetensors'));
  const copy = (to: string, from: string) => (out[to] = f32(src.info(from).shape, src.readFloat32(from)));
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
      out[`${to}attn.in_proj_${k}`] = f32(k === 'weight' ? [3 * rows!, cols!] : [3 * rows!], fused);
      for (const [a, b] of [['self_attn.out_proj', 'attn.out_proj'], ['layer_norm1', 'ln_1'], ['mlp.fc1', 'mlp.c_fc'], ['mlp.fc2', 'mlp.c_proj'], ['layer_norm2', 'ln_2']])
        copy(`${to}${b}.${k}`, `${from}${a}.${k}`);
    }
  }
  out['text_projection'] = f32([32, 24], values(32 * 24, 99));
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

describe('ODISE bundle', () => {
  const files = tinyOdiseFiles(dir);

  it('writes the window graphs, the heads, MaskCLIP, the text tower, the tokenizer and the constants; verifies; lists every licence', async () => {
    const out = join(dir, 'models', 'odise');
    const steps: string[] = [];
    const { manifest } = await convertOdise(files, out, { configs: TINY_CONFIGS, shortSide: 128, onProgress: (_d, _t, s) => steps.push(s) });
    expect(Object.keys(manifest.components)).toEqual(['odise_captioner', 'odise_vae', 'unet_odise', 'odise_projection', 'pixel_decoder', 'transformer_decoder', 'mask_clip', 'text_encoder']);
    expect(steps.at(-1)).toBe('done');
    expect(manifest.source.kind).toBe('odise');
    expect(manifest.tokenizer).toMatchObject({ format: 'bpe-gz', bpe: 'tokenizer/bpe_fixture.txt.gz', pad: 'zero', contextLength: 77 });
    expect(manifest.odise).toMatchObject({ shortSide: 128, maxSize: 2560, sizeDivisibility: 64, window: 64, clipLogitScale: 100, constants: { path: 'odise_constants.safetensors' } });
    expect(manifest.components['text_encoder']!.outputs.map((o) => o.name)).toContain('text_embeds');
    expect(manifest.components['transformer_decoder']!.outputs.map((o) => o.name)).toEqual(expect.arrayContaining(['pred_masks', 'mask_embed', 'logit_scale']));

    const constants = SafetensorsFile.open(join(out, 'odise_constants.safetensors'));
    expect(Object.fromEntries(constants.keys().map((k) => [k, constants.info(k).shape]))).toEqual({
      empty_context: [1, 77, 32], null_embed: [1, 24], 'text_proj.bias': [32], 'text_proj.weight': [32, 24],
    });
    expect(Array.from(constants.readFloat32('null_embed'))).toEqual(Array.from(checkpointTensors(TINY_HEADS)['category_head.null_embed']!.data as Float32Array));
    constants.close();

    const report = await verifyBundle(out);
    expect(report.components.map((c) => c.key)).toEqual(Object.keys(manifest.components));
    expect(report.files).toBe(Object.values(manifest.components).flatMap((c) => c.files.map((f) => f.path)).filter((p, i, a) => a.indexOf(p) === i).length + 2); // + bpe + constants

    const [listed] = listBundles(join(dir, 'models'));
    expect(listed!.licence).toBe(ODISE_LICENCES.odise);
    expect(listed!.componentLicences).toEqual({
      odise_vae: ODISE_LICENCES.sd, unet_odise: ODISE_LICENCES.sd, mask_clip: ODISE_LICENCES.clip, text_encoder: ODISE_LICENCES.clip,
    });
  });

  it('verification finds a changed constants file', async () => {
    const out = join(dir, 'models2', 'odise');
    await convertOdise(files, out, { configs: TINY_CONFIGS });
    writeFileSync(join(out, 'odise_constants.safetensors'), Buffer.alloc(10));
    await expect(verifyBundle(out)).rejects.toMatchObject({ problems: [expect.stringMatching(/^odise_constants\.safetensors: 10 bytes, bundle\.json says \d+ \(truncated or replaced\)$/)] });
  });

  it('refuses an SD checkpoint whose taps the projections do not take, leaving no folder behind', async () => {
    const out = join(dir, 'models3', 'odise');
    const wrong = { ...TINY_CONFIGS, heads: { ...TINY_HEADS, featureDims: [32, 32, 64, 48, 32, 32, 32, 16] } };
    const ck = write('wrong.safetensors', encodeSafetensors(checkpointTensors(wrong.heads)));
    await expect(convertOdise({ ...files, checkpoint: ck }, out, { configs: wrong })).rejects.toThrow(
      "the SD checkpoint's taps are 32, 32, 64, 48, 32, 32, 32, 32 channels wide, the ODISE checkpoint's projections take 32, 32, 64, 48, 32, 32, 32, 16",
    );
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(join(dir, 'models3'))).toEqual([]);
  });

  it('models convert --odise: names a missing file flag, refuses flags of other sources, and a checkpoint of another architecture by file and key', () => {
    const cli = (...args: string[]) => spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'node'), [join(REPO_ROOT, 'bin', 'difflabel.mjs'), 'models', 'convert', ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
    const out = join(dir, 'cli', 'odise');
    const noBpe = cli('--odise', files.checkpoint, '--sd', files.sd, '--clip', files.clip, '--out', out);
    expect(noBpe.status).toBe(1);
    expect(noBpe.stderr).toBe("error: --odise needs --bpe (open_clip's bpe_simple_vocab_16e6.txt.gz: none of ODISE's files holds a tokenizer)\n");
    const mixed = cli('--odise', files.checkpoint, '--sd', files.sd, '--clip', files.clip, '--bpe', files.bpe, '--vae', files.sd, '--out', out);
    expect(mixed.stderr).toBe("error: --odise converts ODISE's released files: leave out --vae\n");
    const stray = cli(files.sd, '--clip', files.clip, '--out', out);
    expect(stray.stderr).toBe('error: --sd, --clip and --bpe go with --odise\n');
    // the CLI reads ODISE's own architecture: the toy checkpoint is refused before anything is written
    const toy = cli('--odise', files.checkpoint, '--sd', files.sd, '--clip', files.clip, '--bpe', files.bpe, '--out', out);
    expect(toy.status).toBe(1);
    expect(toy.stderr).toMatch(new RegExp(`^error: ${files.checkpoint.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: sem_seg_head\\.pixel_decoder\\. \\(sem_seg_head\\.pixel_decoder\\.\\) does not match its config`));
    expect(toy.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(dir, 'cli'))).toBe(false);
  });
});
