// Converting CLIP image towers to a bundle's image_encoder component: a transformers folder (CLIPVisionModelWithProjection,
// a whole CLIPModel, a diffusers pipeline's image_encoder/), openai/open_clip weights and Alpha-CLIP's .pth, each
// reproducing the golden outputs from the written ONNX file; sources it cannot convert are refused with the reason
// and leave no file behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { BundleError, ComponentSchema } from '../../src/core/ml/bundle';
import { convertImageEncoder, IMAGE_ENCODER_FILE } from '../../src/core/ml/bundle/imageEncoder';
import { maxAbsDiff } from '../../src/core/golden/compare';
import { encodeSafetensors, SafetensorsFile, type WriteTensor } from '../../src/core/ml/weights';
import { tempDir } from '../helpers/folder';
import { alphaClipStateDict, clipVisionOpenAiLayout } from './clipVision.helpers';
import { torchSave } from './torch.helpers';
import { golden } from './weights.helpers';

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir('difflabel-image-encoder-');
});
afterAll(() => tmp.cleanup());

/** A fresh bundle folder under the temp dir. */
function bundleDir(name: string): string {
  const d = join(tmp.path, 'bundles', name);
  mkdirSync(d, { recursive: true });
  return d;
}

function writeFile(name: string, bytes: Uint8Array): string {
  const p = join(tmp.path, 'sources', name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, bytes);
  return p;
}

async function run(dir: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(join(dir, IMAGE_ENCODER_FILE), { intraOpNumThreads: 2 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

const f32 = (f: SafetensorsFile, k: string) => new ort.Tensor('float32', f.readFloat32(k), f.info(k).shape);
const tensorsOf = (path: string): Record<string, WriteTensor> => {
  const f = SafetensorsFile.open(path);
  const out = Object.fromEntries(f.keys().map((k) => [k, f.readRaw(k)]));
  f.close();
  return out;
};
const visionConfig = () => JSON.parse(readFileSync(golden('clip_vision_V', 'config.json'), 'utf8')) as Record<string, unknown>;

/** image_encoder.onnx on clip_vision_V's inputs against its outputs. */
async function expectGoldenTower(dir: string, atol = 1e-4) {
  const inp = SafetensorsFile.open(golden('clip_vision_V', 'inputs.safetensors'));
  const out = SafetensorsFile.open(golden('clip_vision_V', 'outputs.safetensors'));
  const r = await run(dir, { pixel_values: f32(inp, 'pixel_values') });
  expect(maxAbsDiff(r['last_hidden_state']!.data as Float32Array, out.readFloat32('last_hidden_state'))).toBeLessThan(atol);
  expect(maxAbsDiff(r['image_embeds']!.data as Float32Array, out.readFloat32('image_embeds'))).toBeLessThan(atol);
}

describe('convertImageEncoder', () => {
  it('a transformers CLIPVisionModelWithProjection folder: the component lists its file, inputs, outputs and config, and reproduces the tower', async () => {
    const dir = bundleDir('transformers');
    const r = await convertImageEncoder(golden('clip_vision_V'), dir);
    const file = join(dir, IMAGE_ENCODER_FILE);
    expect(ComponentSchema.parse(r.component)).toEqual(r.component);
    expect(r.component).toMatchObject({
      model: 'image_encoder.onnx',
      files: [{ path: 'image_encoder.onnx', bytes: readFileSync(file).length, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') }],
      inputs: [{ name: 'pixel_values', dtype: 'float32', shape: ['batch', 3, 32, 32] }],
      outputs: [{ name: 'last_hidden_state', dtype: 'float32', shape: ['batch', 65, 32] }, { name: 'image_embeds', dtype: 'float32', shape: ['batch', 24] }],
      config: { layout: 'transformers', hidden_size: 32, num_attention_heads: 4, image_size: 32, patch_size: 4, projection_dim: 24, alpha_channel: false },
    });
    expect(r.sourceFiles).toEqual([golden('clip_vision_V', 'config.json'), golden('clip_vision_V', 'model.safetensors')]);
    expect(r.warnings).toEqual([]);
    expect(readdirSync(dir)).toEqual(['image_encoder.onnx']);
    await expectGoldenTower(dir);
  });

  it('a whole CLIPModel saved with torch (pytorch_model.bin, text tower beside it) under a pipeline\'s image_encoder/', async () => {
    const pipe = join(tmp.path, 'sources', 'pipeline');
    mkdirSync(join(pipe, 'image_encoder'), { recursive: true });
    writeFileSync(join(pipe, 'image_encoder', 'config.json'), JSON.stringify({ architectures: ['CLIPModel'], projection_dim: 24, vision_config: visionConfig(), text_config: { hidden_size: 8 } }));
    const text: Record<string, WriteTensor> = {
      'text_model.final_layer_norm.weight': { dtype: 'F32', shape: [8], data: new Float32Array(8) },
      'text_projection.weight': { dtype: 'F32', shape: [24, 8], data: new Float32Array(24 * 8) },
      logit_scale: { dtype: 'F32', shape: [], data: Float32Array.of(4.6) },
      'vision_model.embeddings.position_ids': { dtype: 'I64', shape: [1, 65], data: BigInt64Array.from({ length: 65 }, (_, i) => BigInt(i)) },
    };
    writeFileSync(join(pipe, 'image_encoder', 'pytorch_model.bin'), torchSave({ ...tensorsOf(golden('clip_vision_V', 'model.safetensors')), ...text }));
    const dir = bundleDir('clipmodel');
    const r = await convertImageEncoder(pipe, dir);
    expect(r.component.config).toMatchObject({ layout: 'transformers', projection_dim: 24 });
    expect(r.sourceFiles).toEqual([join(pipe, 'image_encoder', 'config.json'), join(pipe, 'image_encoder', 'pytorch_model.bin')]);
    expect(r.warnings).toEqual([]);
    await expectGoldenTower(dir);
  });

  it("Alpha-CLIP's visual state dict saved by torch (.pth): an alpha input, Ref LDM-Seg's tokens and the image embedding", async () => {
    const pth = writeFile('clip_l14_grit_tiny.pth', torchSave(alphaClipStateDict()));
    const dir = bundleDir('alpha');
    const r = await convertImageEncoder(pth, dir, { heads: 4 });
    expect(r.component.inputs).toEqual([
      { name: 'pixel_values', dtype: 'float32', shape: ['batch', 3, 64, 64] },
      { name: 'alpha', dtype: 'float32', shape: ['batch', 1, 64, 64] },
    ]);
    expect(r.component.config).toMatchObject({ layout: 'alpha-clip', alpha_channel: true, hidden_size: 48, num_hidden_layers: 3, image_size: 64, projection_dim: 24 });
    expect(r.sourceFiles).toEqual([pth]);
    const ref = SafetensorsFile.open(golden('alpha_clip_X', 'outputs.safetensors'));
    const out = await run(dir, { pixel_values: f32(ref, 'model_input_image'), alpha: f32(ref, 'model_input_alpha') });
    expect(maxAbsDiff(out['last_hidden_state']!.data as Float32Array, ref.readFloat32('transformer_out'))).toBeLessThan(1e-4);
    expect(maxAbsDiff(out['image_embeds']!.data as Float32Array, ref.readFloat32('image_embeds'))).toBeLessThan(1e-4);
  });

  it('openai/open_clip weights in half precision (.safetensors, visual.*) converted to an fp16 graph', async () => {
    const st = writeFile('ViT-tiny.safetensors', encodeSafetensors(clipVisionOpenAiLayout({ fp16: true })));
    const dir = bundleDir('openai-fp16');
    const r = await convertImageEncoder(st, dir, { heads: 4, dtype: 'float16' });
    expect(r.component.config).toMatchObject({ layout: 'openai', alpha_channel: false });
    // Inputs and outputs stay float32; fp16 rounding of weights and activations only.
    expect(r.component.outputs.map((o) => o.dtype)).toEqual(['float32', 'float32']);
    await expectGoldenTower(dir, 3e-2);
  });
});

describe('convertImageEncoder refuses what it cannot convert, and leaves no file', () => {
  const refused = async (source: string, message: string | RegExp, opts = {}) => {
    const dir = bundleDir(`refused-${Math.random().toString(36).slice(2)}`);
    const e = await convertImageEncoder(source, dir, opts).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(BundleError);
    expect((e as BundleError).message).toMatch(message);
    expect(existsSync(join(dir, IMAGE_ENCODER_FILE))).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  };

  it('sources that are not CLIP image towers', async () => {
    await refused(join(tmp.path, 'no-such-file.pth'), `source not found: ${join(tmp.path, 'no-such-file.pth')}`);
    const empty = join(tmp.path, 'sources', 'empty');
    mkdirSync(empty, { recursive: true });
    await refused(empty, `${empty} is not a CLIP image tower folder: no config.json (nor image_encoder/config.json)`);
    await refused(golden('unet_A', 'diffusion_pytorch_model.safetensors'),
      /diffusion_pytorch_model\.safetensors holds no CLIP image tower: expected openai\/open_clip weights \(visual\.conv1\.weight\), Alpha-CLIP's visual state dict \(conv1\.weight, conv1_alpha\.weight\), or a transformers folder/);
    await refused(golden('clip_vision_V', 'model.safetensors'), /model\.safetensors holds transformers weights \(vision_model\.\*\): convert its folder, with config\.json/);
    const text = writeFile('text.bin', new TextEncoder().encode('not weights at all'));
    await refused(text, `${text} is not a readable PyTorch checkpoint`);
  });

  it('weights that do not match the config, or a tower whose heads the file cannot tell', async () => {
    const bad = join(tmp.path, 'sources', 'four-layers');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'config.json'), JSON.stringify({ ...visionConfig(), num_hidden_layers: 4 }));
    copyFileSync(golden('clip_vision_V', 'model.safetensors'), join(bad, 'model.safetensors'));
    await refused(bad, /image encoder weights \(model\.safetensors\) does not match its config:\n {2}- missing vision_model\.encoder\.layers\.3\.layer_norm1\.weight \[32\]/);
    const st = writeFile('ViT-32wide.safetensors', encodeSafetensors(clipVisionOpenAiLayout()));
    await refused(st, "a 32-wide tower cannot have openai's 64-wide heads; give the number of attention heads");
    const nan = clipVisionOpenAiLayout();
    (nan['visual.proj']!.data as Float32Array)[3] = NaN;
    await refused(writeFile('nan.safetensors', encodeSafetensors(nan)), /weight 'proj' \(visual\.proj\) holds NaN \(element 3 of 768\)/, { heads: 4 });
  });
});
