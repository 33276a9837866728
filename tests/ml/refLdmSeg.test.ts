// Ref LDM-Seg bundles from the files its authors release: the DeepSpeed model-states file (written here the way
// DeepSpeed's engine saves it, around the golden unet_A_hidproj / unet_B weights, in fp32 and bf16), Alpha-CLIP's
// visual state dict and an SD VAE folder. The -f bundle reproduces unet_masked_M's Ref LDM-Seg run; wrong or partial
// files are refused with the file and key named, and leave nothing behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { BundleError, convertCheckpoint, convertRefLdmSeg, verifyBundle } from '../../src/core/ml/bundle';
import { ALPHA_CLIP_LICENCE } from '../../src/core/ml/bundle/imageEncoder';
import { maxAbsDiff } from '../../src/core/golden/compare';
import { SafetensorsFile, type WriteTensor } from '../../src/core/ml/weights';
import { main } from '../../src/core/cli/main';
import { tempDir } from '../helpers/folder';
import { torchSave } from './torch.helpers';
import { golden } from './weights.helpers';

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir('difflabel-refldmseg-');
});
afterAll(() => tmp.cleanup());

const json = (...p: string[]) => JSON.parse(readFileSync(golden(...p), 'utf8')) as Record<string, unknown>;
const tensorsOf = (path: string): Record<string, WriteTensor> => {
  const f = SafetensorsFile.open(path);
  const out = Object.fromEntries(f.keys().map((k) => [k, f.readRaw(k)]));
  f.close();
  return out;
};
const HIDPROJ = () => tensorsOf(golden('unet_masked_M', 'unet_A_hidproj', 'diffusion_pytorch_model.safetensors'));
/** float32 → bfloat16 by dropping the low 16 bits (what the reader must widen back exactly). */
const bf16 = (t: WriteTensor): WriteTensor => ({ dtype: 'BF16', shape: t.shape, data: Uint16Array.from(new Uint32Array((t.data as Float32Array).slice().buffer), (b) => b >>> 16) });

function writeSource(name: string, bytes: Uint8Array): string {
  const p = join(tmp.path, 'sources', name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, bytes);
  return p;
}

const ALPHA_CLIP = golden('alpha_clip_X', 'alpha_clip_visual.safetensors');
const files = (unet: string, over: Partial<{ imageEncoder: string; vae: string }> = {}) => ({ unet, imageEncoder: ALPHA_CLIP, vae: golden('vae_C'), ...over });
const opts = { configs: { unet: json('unet_A', 'config.json') }, imageEncoderOptions: { heads: 4 } };

describe('convertRefLdmSeg', () => {
  it('-f: a DeepSpeed model-states file makes a bundle with the masked UNet, the VAE and Alpha-CLIP, matching unet_masked_M', async () => {
    const pt = writeSource('f/mp_rank_00_model_states.pt', torchSave(HIDPROJ(), { deepspeed: true }));
    const out = join(tmp.path, 'bundle-f');
    const { manifest } = await convertRefLdmSeg(files(pt), out, opts);
    expect(manifest.refLdmSeg).toEqual({ variant: 'f' });
    expect(manifest.name).toBe('ref-ldm-seg-f');
    expect(manifest.source.kind).toBe('refldmseg');
    expect(Object.keys(manifest.components)).toEqual(['unet', 'vae_encoder', 'vae_decoder', 'image_encoder']);
    expect(manifest.components.unet!.config).toMatchObject({ in_channels: 4, encoder_hid_dim: 48, encoder_hid_dim_type: 'text_proj' });
    expect(manifest.components.unet!.inputs.map((i) => [i.name, i.shape])).toEqual([
      ['sample', ['batch', 4, 'height', 'width']], ['timestep', ['timesteps']], ['encoder_hidden_states', ['batch', 'tokens', 48]], ['encoder_attention_mask', ['batch', 'tokens']],
    ]);
    expect(manifest.components.image_encoder!.inputs.map((i) => i.name)).toEqual(['pixel_values', 'alpha']);
    expect(manifest.source.files.map((f) => f.path)).toEqual(['mp_rank_00_model_states.pt', golden('vae_C', 'config.json'), golden('vae_C', 'diffusion_pytorch_model.safetensors'), ALPHA_CLIP]);
    expect((await verifyBundle(out)).components.map((c) => c.key)).toEqual(['unet', 'vae_encoder', 'vae_decoder', 'image_encoder']);
    // Alpha-CLIP's tower keeps its release's licence beside the bundle's; `models list` shows both.
    expect(manifest.licence).toBe('unknown');
    expect(Object.entries(manifest.components).map(([k, c]) => [k, c.licence])).toEqual([['unet', undefined], ['vae_encoder', undefined], ['vae_decoder', undefined], ['image_encoder', ALPHA_CLIP_LICENCE]]);
    let listed = '';
    expect(await main(['models', 'list', '--dir', out], { out: { write: (t: string) => ((listed += t), true) } as never, err: process.stderr })).toBe(0);
    expect(listed.split('\t')[3]).toBe('unknown; image_encoder: Alpha-CLIP checkpoints: research use only');

    // bundle.json that says -n for this -f UNet, or lost the tower, fails verification with the reason.
    const manifestPath = join(out, 'bundle.json');
    const original = readFileSync(manifestPath, 'utf8');
    writeFileSync(manifestPath, JSON.stringify({ ...manifest, refLdmSeg: { variant: 'n' } }));
    await expect(verifyBundle(out, { load: false })).rejects.toMatchObject({ problems: ["refLdmSeg: variant n takes 8 input channels, but unet's sample has 4"] });
    const { image_encoder: _tower, ...rest } = manifest.components;
    writeFileSync(manifestPath, JSON.stringify({ ...manifest, components: rest }));
    await expect(verifyBundle(out, { load: false })).rejects.toMatchObject({ problems: ['refLdmSeg: the bundle lacks image_encoder'] });
    writeFileSync(manifestPath, original);

    const inp = SafetensorsFile.open(golden('unet_masked_M', 'inputs_H_t0_refldmseg.safetensors'));
    const ref = SafetensorsFile.open(golden('unet_masked_M', 'outputs_H_t0_refldmseg.safetensors'));
    const f32 = (k: string) => new ort.Tensor('float32', inp.readFloat32(k), inp.info(k).shape);
    const s = await ort.InferenceSession.create(join(out, 'unet.onnx'), { intraOpNumThreads: 2 });
    const r = await s.run({ sample: f32('sample'), timestep: f32('timestep'), encoder_hidden_states: f32('encoder_hidden_states'), encoder_attention_mask: f32('encoder_attention_mask_float32') });
    await s.release();
    expect(maxAbsDiff(r['noise_pred']!.data as Float32Array, ref.readFloat32('noise_pred'))).toBeLessThan(1e-4);
  });

  it('-n: an 8-channel conv_in in bf16 makes an n bundle', async () => {
    const w = { ...tensorsOf(golden('unet_B', 'diffusion_pytorch_model.safetensors')) };
    const hid = HIDPROJ();
    w['encoder_hid_proj.weight'] = hid['encoder_hid_proj.weight']!;
    w['encoder_hid_proj.bias'] = hid['encoder_hid_proj.bias']!;
    const pt = writeSource('n/mp_rank_00_model_states.pt', torchSave(Object.fromEntries(Object.entries(w).map(([k, t]) => [k, bf16(t)])), { deepspeed: true }));
    const out = join(tmp.path, 'bundle-n');
    const { manifest } = await convertRefLdmSeg(files(pt), out, { ...opts, configs: { unet: json('unet_B', 'config.json') } });
    expect(manifest.refLdmSeg).toEqual({ variant: 'n' });
    expect(manifest.name).toBe('ref-ldm-seg-n');
    expect(manifest.components.unet!.inputs[0]!.shape).toEqual(['batch', 8, 'height', 'width']);
    await verifyBundle(out);
  });

  const refused = async (f: ReturnType<typeof files>, out: string) => {
    const err = await convertRefLdmSeg(f, join(tmp.path, out), opts).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect(existsSync(join(tmp.path, out))).toBe(false);
    expect(readdirSync(tmp.path).filter((n) => n.includes('.partial-'))).toEqual([]);
    return (err as BundleError).message;
  };

  it('refuses a checkpoint without encoder_hid_proj, naming the file and the key', async () => {
    const { ['encoder_hid_proj.weight']: _w, ['encoder_hid_proj.bias']: _b, ...rest } = HIDPROJ();
    const pt = writeSource('nohid/mp_rank_00_model_states.pt', torchSave(rest, { deepspeed: true }));
    expect(await refused(files(pt), 'nohid')).toBe(`${pt}: module.encoder_hid_proj.weight is missing: not a Ref LDM-Seg UNet (its UNet projects the Alpha-CLIP tokens with encoder_hid_proj)`);
  });

  it('refuses a conv_in with neither 4 nor 8 input channels', async () => {
    const w = HIDPROJ();
    w['conv_in.weight'] = { dtype: 'F32', shape: [16, 6, 3, 3], data: new Float32Array(16 * 6 * 9) };
    const pt = writeSource('conv6/mp_rank_00_model_states.pt', torchSave(w, { deepspeed: true }));
    expect(await refused(files(pt), 'conv6')).toBe(`${pt}: module.conv_in.weight is [16,6,3,3]: Ref LDM-Seg's UNet takes 4 input channels (-f) or 8 (-n)`);
  });

  it('refuses a plain state dict (not DeepSpeed\'s model states) and a UNet weight of the wrong shape', async () => {
    const plain = writeSource('plain/unet.pt', torchSave(HIDPROJ()));
    expect(await refused(files(plain), 'plain')).toBe(
      `${plain} holds no 'module' state dict: expected DeepSpeed's model-states file (checkpoint-N/pytorch_model/mp_rank_00_model_states.pt) of Ref LDM-Seg (first keys: conv_in.bias, conv_in.weight, conv_norm_out.bias)`);
    const w = HIDPROJ();
    w['mid_block.attentions.0.proj_in.weight'] = { dtype: 'F32', shape: [32, 16, 1, 1], data: new Float32Array(32 * 16) };
    const pt = writeSource('shape/mp_rank_00_model_states.pt', torchSave(w, { deepspeed: true }));
    const err = await convertRefLdmSeg(files(pt), join(tmp.path, 'shape'), opts).then(() => null, (e: unknown) => e as BundleError);
    expect(err!.message.split('\n')[0]).toBe(`UNet weights (module.* of ${pt}) does not match its config:`);
    expect(err!.problems).toEqual(['mid_block.attentions.0.proj_in.weight: shape [32,16,1,1], config implies [32,32,1,1]']);
  });

  it('refuses an image encoder that is not CLIP, or CLIP without the alpha channel, and a VAE file without VAE weights', async () => {
    const pt = writeSource('ok/mp_rank_00_model_states.pt', torchSave(HIDPROJ(), { deepspeed: true }));
    const notClip = writeSource('vae.pth', torchSave(tensorsOf(golden('vae_C', 'diffusion_pytorch_model.safetensors'))));
    expect(await refused(files(pt, { imageEncoder: notClip }), 'notclip')).toMatch(`${notClip} holds no CLIP image tower`);
    const alpha = tensorsOf(ALPHA_CLIP);
    delete alpha['conv1_alpha.weight'];
    const plainClip = writeSource('openai-visual.pth', torchSave(alpha));
    expect(await refused(files(pt, { imageEncoder: plainClip }), 'noalpha')).toBe(
      `${plainClip} is a CLIP image tower without conv1_alpha.weight (openai layout), not Alpha-CLIP's visual state dict: Ref LDM-Seg needs Alpha-CLIP`);
    expect(await refused(files(pt, { vae: pt }), 'novae')).toBe(`${pt} holds no VAE weights (first_stage_model.*): pass SD 1.5's diffusers folder (with vae/) or its single-file checkpoint`);
  });
});

describe('convertCheckpoint with an image encoder', () => {
  const vaeFolder = () => {
    const dir = join(tmp.path, 'sources', 'pipe');
    mkdirSync(join(dir, 'vae'), { recursive: true });
    for (const f of ['config.json', 'diffusion_pytorch_model.safetensors']) copyFileSync(golden('vae_C', f), join(dir, 'vae', f));
    return dir;
  };

  it('adds the tower as image_encoder, fingerprints its files, and verifyBundle loads it', async () => {
    const out = join(tmp.path, 'with-tower');
    const { manifest } = await convertCheckpoint(vaeFolder(), out, { imageEncoder: golden('clip_vision_V') });
    expect(Object.keys(manifest.components)).toEqual(['vae_encoder', 'vae_decoder', 'image_encoder']);
    expect(manifest.components.image_encoder!.config).toMatchObject({ layout: 'transformers' });
    expect(manifest.components.image_encoder!.inputs.map((i) => i.name)).toEqual(['pixel_values']);
    expect(manifest.source.files.map((f) => f.path).slice(-2)).toEqual([golden('clip_vision_V', 'config.json'), golden('clip_vision_V', 'model.safetensors')]);
    expect(manifest.refLdmSeg).toBeUndefined();
    expect((await verifyBundle(out)).components.map((c) => c.key)).toEqual(['vae_encoder', 'vae_decoder', 'image_encoder']);
  });

  it('a file that is no CLIP tower is refused before anything is built', async () => {
    const notClip = writeSource('vae2.pth', torchSave(tensorsOf(golden('vae_C', 'diffusion_pytorch_model.safetensors'))));
    const steps: string[] = [];
    const err = await convertCheckpoint(vaeFolder(), join(tmp.path, 'bad-tower'), { imageEncoder: notClip, onProgress: (_d, _t, s) => steps.push(s) }).then(() => null, (e: unknown) => e);
    expect((err as BundleError).message).toMatch(`${notClip} holds no CLIP image tower`);
    expect(steps).toEqual([]);
    expect(existsSync(join(tmp.path, 'bad-tower'))).toBe(false);
  });
});

describe('models convert --refldmseg / --image-encoder', () => {
  async function cli(...args: string[]) {
    let out = '';
    let err = '';
    const code = await main(args, { out: { write: (s: string) => ((out += s), true) } as never, err: { write: (s: string) => ((err += s), true) } as never });
    return { code, out, err };
  }

  it('refuses incomplete or mixed sources with what is missing, before reading anything', async () => {
    const out = join(tmp.path, 'cli-none');
    expect(await cli('models', 'convert', '--out', out, '--refldmseg', 'x.pt')).toMatchObject({ code: 1, err: 'error: --refldmseg needs --image-encoder (Alpha-CLIP .pth) and --vae (SD 1.5 folder or single file)\n' });
    expect(await cli('models', 'convert', '--out', out, '--refldmseg', 'x.pt', '--image-encoder', 'a.pth', '--vae', 'v', 'sd15')).toMatchObject({
      code: 1, err: "error: --refldmseg converts Ref LDM-Seg's files: leave out <source> (sd15)\n",
    });
    expect(await cli('models', 'convert', '--out', out, '--vae', 'v', 'sd15')).toMatchObject({ code: 1, err: 'error: --vae goes with --refldmseg (a diffusers folder or single file brings its own VAE)\n' });
    expect(await cli('models', 'convert', '--out', out)).toMatchObject({ code: 1, err: 'error: nothing to convert: give a <source> folder or file, or --refldmseg with --image-encoder and --vae\n' });
    expect(existsSync(out)).toBe(false);
  });

  it('--refldmseg reads the three files and names a wrong one', async () => {
    const { ['encoder_hid_proj.weight']: _w, ['encoder_hid_proj.bias']: _b, ...rest } = HIDPROJ();
    const pt = writeSource('cli/mp_rank_00_model_states.pt', torchSave(rest, { deepspeed: true }));
    const r = await cli('models', 'convert', '--out', join(tmp.path, 'cli-bad'), '--refldmseg', pt, '--image-encoder', ALPHA_CLIP, '--vae', golden('vae_C'));
    expect(r).toMatchObject({ code: 1, err: `error: ${pt}: module.encoder_hid_proj.weight is missing: not a Ref LDM-Seg UNet (its UNet projects the Alpha-CLIP tokens with encoder_hid_proj)\n` });
  });
});
