// Model bundles: golden components -> bundle -> verify -> ONNX Runtime spot checks against the golden outputs;
// single-file checkpoints; broken inputs leave nothing behind; tampering is caught; the `models` CLI end to end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import * as ort from 'onnxruntime-node';
import {
  BundleError, convertCheckpoint, defaultModelDirs, listBundles, readManifest, resourcesModelsDir, userModelsDir, verifyBundle, type BundleManifest, type ConvertOptions,
} from '../../src/core/ml/bundle';
import { SessionManager } from '../../src/core/ml/runtime';
import { toFloat16Bits } from '../../src/core/ml/graph';
import { parseUNetConfig, unetWeightShapes } from '../../src/core/ml/models';
import { encodeSafetensors, RandomWeights, SafetensorsFile, type WriteTensor } from '../../src/core/ml/weights';
import { writeFixtureBundle } from '../../src/core/pipelines/diffseg/fixture';
import { openBundleModels } from '../../src/core/pipelines/diffseg/models';
import { unetVariants } from '../../src/core/pipelines/registry';
import { matmulModelExternal } from './fixtures/onnxModels';
import { buildLdmCheckpoint, golden, REPO_ROOT } from './weights.helpers';
import { torchSave } from './torch.helpers';

const ATOL = 1e-4;
let tmp: string;
let pipe: string; // diffusers pipeline folder assembled from the golden components
let bundle: string;
let manifest: BundleManifest;
const json = (...p: string[]) => JSON.parse(readFileSync(golden(...p), 'utf8')) as Record<string, unknown>;
const TOKENIZER_GZ = golden('tokenizer_F', 'bpe_simple_vocab_16e6.txt.gz');
const GOLDEN_CONFIGS = () => ({ unet: json('unet_A', 'config.json'), vae: json('vae_C', 'config.json'), text_encoder: json('clip_D', 'config.json') });

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'difflabel-bundle-'));
  pipe = join(tmp, 'pipe');
  mkdirSync(join(pipe, 'tokenizer'), { recursive: true });
  symlinkSync(golden('unet_A'), join(pipe, 'unet'));
  symlinkSync(golden('vae_C'), join(pipe, 'vae'));
  symlinkSync(golden('clip_D'), join(pipe, 'text_encoder'));
  symlinkSync(TOKENIZER_GZ, join(pipe, 'tokenizer', 'bpe_simple_vocab_16e6.txt.gz'));
  bundle = join(tmp, 'models', 'tiny');
  manifest = (await convertCheckpoint(pipe, bundle, { name: 'tiny-golden', variants: unetVariants() })).manifest;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function maxAbsDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

async function runModel(path: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(path, { intraOpNumThreads: 2 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

const f32 = (f: SafetensorsFile, k: string) => new ort.Tensor('float32', f.readFloat32(k), f.info(k).shape);

async function unetNoiseDiff(dir: string): Promise<number> {
  const inp = SafetensorsFile.open(golden('unet_A', 'inputs_t300.safetensors'));
  const out = SafetensorsFile.open(golden('unet_A', 'outputs_t300.safetensors'));
  const r = await runModel(join(dir, 'unet.onnx'), { sample: f32(inp, 'sample'), timestep: f32(inp, 'timestep'), encoder_hidden_states: f32(inp, 'encoder_hidden_states') });
  return maxAbsDiff(r['noise_pred']!.data as Float32Array, out.readFloat32('noise_pred'));
}

/** No bundle and no hidden temporary sibling are left in `parent`. */
function expectNothingLeft(parent: string, name: string) {
  expect(existsSync(join(parent, name)), `${name} must not exist`).toBe(false);
  if (existsSync(parent)) expect(readdirSync(parent).filter((f) => f.includes(name))).toEqual([]);
}

async function expectConvertFails(source: string, pattern: RegExp, opts: ConvertOptions = {}) {
  const parent = join(tmp, 'failures');
  const name = `out-${Math.random().toString(36).slice(2)}`;
  const err = await convertCheckpoint(source, join(parent, name), opts).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(BundleError);
  expect((err as Error).message).toMatch(pattern);
  expectNothingLeft(parent, name);
}

/** The golden LDM single-file checkpoint as editable tensors. */
function ldmTensors(): Record<string, WriteTensor> {
  const f = SafetensorsFile.fromBytes(buildLdmCheckpoint());
  return Object.fromEntries(f.keys().map((k) => [k, f.readRaw(k)]));
}
function writeCheckpoint(name: string, tensors: Record<string, WriteTensor>): string {
  const p = join(tmp, name);
  writeFileSync(p, encodeSafetensors(tensors));
  return p;
}

describe('convertCheckpoint (diffusers folder from the golden components)', () => {
  it('writes a bundle that verifyBundle accepts, with every component, checksums and the tokenizer', async () => {
    expect(manifest.name).toBe('tiny-golden');
    expect(manifest.source.kind).toBe('diffusers');
    expect(Object.keys(manifest.components).sort()).toEqual(['text_encoder', 'unet', 'unet_diffseg', 'vae_decoder', 'vae_encoder']);
    expect(manifest.source.files.map((f) => f.path)).toContain('unet/diffusion_pytorch_model.safetensors');
    expect(manifest.tokenizer?.files.map((f) => f.path)).toEqual(['tokenizer/bpe_simple_vocab_16e6.txt.gz']);
    expect(manifest.vaeScalingFactor).toBe(0.18215);
    expect(manifest.components.unet!.inputs.map((i) => i.name)).toEqual(['sample', 'timestep', 'encoder_hidden_states']);
    expect(manifest.components.text_encoder!.inputs).toEqual([{ name: 'input_ids', dtype: 'int64', shape: ['batch', 77] }]);
    // clip_D's 1000-token vocabulary cannot embed the real CLIP tokenizer's ids: accepted, but said.
    expect(manifest.warnings.join('\n')).toMatch(/vocab_size is 1000/);
    const report = await verifyBundle(bundle);
    expect(report.components.map((c) => c.key)).toEqual(['text_encoder', 'unet', 'unet_diffseg', 'vae_encoder', 'vae_decoder']);
    expect(report.files).toBe(7);
  });

  it('the DiffSeg UNet variant reads the UNet weights file instead of writing its own', () => {
    const d = manifest.components.unet_diffseg!;
    expect(d.sharesWeightsWith).toBe('unet');
    expect(d.files.map((f) => f.path)).toEqual(['unet_diffseg.onnx', 'unet.onnx.data']);
    expect(existsSync(join(bundle, 'unet_diffseg.onnx.data'))).toBe(false);
    // up_block.1: the prototype mode's features; cross_attn.NN: the vocabulary mode's maps; from the same pass.
    const cross = d.outputs.map((o) => o.name).filter((n) => n.startsWith('cross_attn.'));
    expect(cross).toEqual(Array.from({ length: cross.length }, (_, i) => `cross_attn.${String(i).padStart(2, '0')}`));
    expect(cross.length).toBeGreaterThan(0);
    expect(d.outputs.map((o) => o.name).filter((n) => !n.startsWith('cross_attn.'))).toEqual(['up_block.1', 'self_attn_mean.16x16', 'self_attn_mean.8x8', 'self_attn_mean.4x4', 'self_attn_mean.2x2']);
    expect(d.outputs.find((o) => o.name === 'up_block.1')!.shape).toEqual([null, 32, 8, 8]);
    expect(d.selfAttention!.map((s) => [s.output, s.layers])).toEqual([
      ['self_attn_mean.16x16', 5], ['self_attn_mean.8x8', 5], ['self_attn_mean.4x4', 5], ['self_attn_mean.2x2', 1],
    ]);
    const weights = manifest.components.unet!.files.find((f) => f.path === 'unet.onnx.data')!;
    expect(d.files[0]!.bytes).toBeLessThan(weights.bytes / 2); // the variant file itself holds only the graph
  });

  it('UNet noise_pred, DiffSeg self-attention means, VAE and CLIP reproduce the golden outputs', async () => {
    expect(await unetNoiseDiff(bundle)).toBeLessThanOrEqual(ATOL);

    const inp = SafetensorsFile.open(golden('unet_A', 'inputs_t300.safetensors'));
    const out = SafetensorsFile.open(golden('unet_A', 'outputs_t300.safetensors'));
    const ds = await runModel(join(bundle, 'unet_diffseg.onnx'), { sample: f32(inp, 'sample'), timestep: f32(inp, 'timestep'), encoder_hidden_states: f32(inp, 'encoder_hidden_states') });
    expect(ds['noise_pred']).toBeUndefined();
    const layers16 = [0, 1, 13, 14, 15].map((i) => out.readFloat32(`self_attn.${String(i).padStart(2, '0')}`));
    const mean16 = layers16[0]!.map((_, j) => layers16.reduce((a, m) => a + m[j]!, 0) / layers16.length);
    expect(maxAbsDiff(ds['self_attn_mean.16x16']!.data as Float32Array, mean16)).toBeLessThanOrEqual(ATOL);
    expect(maxAbsDiff(ds['self_attn_mean.2x2']!.data as Float32Array, out.readFloat32('self_attn.06'))).toBeLessThanOrEqual(ATOL);

    const vin = SafetensorsFile.open(golden('vae_C', 'inputs.safetensors'));
    const vout = SafetensorsFile.open(golden('vae_C', 'outputs.safetensors'));
    const enc = await runModel(join(bundle, 'vae_encoder.onnx'), { image: f32(vin, 'image') });
    expect(maxAbsDiff(enc['latent_mean']!.data as Float32Array, vout.readFloat32('latent_mean'))).toBeLessThanOrEqual(ATOL);
    const dec = await runModel(join(bundle, 'vae_decoder.onnx'), { latent: f32(vin, 'z') });
    expect(maxAbsDiff(dec['sample']!.data as Float32Array, vout.readFloat32('decoded_z'))).toBeLessThanOrEqual(ATOL);

    const cin = SafetensorsFile.open(golden('clip_D', 'inputs.safetensors'));
    const cout = SafetensorsFile.open(golden('clip_D', 'outputs.safetensors'));
    const c = await runModel(join(bundle, 'text_encoder.onnx'), { input_ids: new ort.Tensor('int64', cin.readRaw('input_ids').data as BigInt64Array, [2, 77]) });
    expect(maxAbsDiff(c['last_hidden_state']!.data as Float32Array, cout.readFloat32('last_hidden_state'))).toBeLessThanOrEqual(ATOL);
  });

  it('accepts a folder with only some components; a text encoder without tokenizer is refused', async () => {
    const part = join(tmp, 'part');
    mkdirSync(part);
    symlinkSync(golden('vae_C'), join(part, 'vae'));
    const m = (await convertCheckpoint(part, join(tmp, 'vae-only'))).manifest;
    expect(Object.keys(m.components).sort()).toEqual(['vae_decoder', 'vae_encoder']);
    expect(m.tokenizer).toBeUndefined();
    await verifyBundle(join(tmp, 'vae-only'));
    symlinkSync(golden('clip_D'), join(part, 'text_encoder'));
    await expectConvertFails(part, /text_encoder\/ but no tokenizer/);
  });

  it('fp16: weights stored as float16 (half the bytes), float32 inputs/outputs, loose agreement with the golden', async () => {
    const src = join(tmp, 'vae-src');
    mkdirSync(src);
    symlinkSync(golden('vae_C'), join(src, 'vae'));
    const m = (await convertCheckpoint(src, join(tmp, 'vae-fp16'), { fp16: true })).manifest;
    expect(m.dtype).toBe('float16');
    expect(m.components.vae_decoder!.inputs[0]!.dtype).toBe('float32');
    const full = (await convertCheckpoint(src, join(tmp, 'vae-fp32'))).manifest;
    expect(m.components.vae_decoder!.files[0]!.bytes).toBeLessThan(full.components.vae_decoder!.files[0]!.bytes * 0.6);
    await verifyBundle(join(tmp, 'vae-fp16'));
    const vin = SafetensorsFile.open(golden('vae_C', 'inputs.safetensors'));
    const dec = await runModel(join(tmp, 'vae-fp16', 'vae_decoder.onnx'), { latent: f32(vin, 'z') });
    // fp16 tolerance as in models.test.ts (observed ~7e-3 on |x| <= 1.4).
    expect(maxAbsDiff(dec['sample']!.data as Float32Array, SafetensorsFile.open(golden('vae_C', 'outputs.safetensors')).readFloat32('decoded_z'))).toBeLessThanOrEqual(0.03);
  });

  it('refuses an existing output folder unless overwrite, and replaces it whole', async () => {
    await expect(convertCheckpoint(pipe, bundle)).rejects.toThrow(/already exists/);
    const copy = join(tmp, 'overwrite');
    cpSync(bundle, copy, { recursive: true });
    writeFileSync(join(copy, 'stale.txt'), 'old');
    await convertCheckpoint(pipe, copy, { overwrite: true, name: 'again' });
    expect(existsSync(join(copy, 'stale.txt'))).toBe(false);
    expect(existsSync(join(copy, 'unet_diffseg.onnx'))).toBe(false);
    expect(readManifest(copy).name).toBe('again');
  });

  it('a failure half way (after files were written) leaves no folder behind', async () => {
    const steps: string[] = [];
    await expectConvertFails(pipe, /VAE encoder: simulated failure/, {
      onProgress: (_d, _t, step) => {
        steps.push(step);
        if (step === 'VAE encoder') throw new Error('VAE encoder: simulated failure');
      },
    });
    expect(steps).toContain('UNet'); // the UNet had been written into the temporary folder
  });
});

describe('DiffSeg UNet variant for any UNet config', () => {
  /** A diffusers folder holding only a UNet with `config` and deterministic random weights. */
  function randomUnetFolder(name: string, config: Record<string, unknown>): string {
    const d = join(tmp, name);
    mkdirSync(join(d, 'unet'), { recursive: true });
    writeFileSync(join(d, 'unet', 'config.json'), JSON.stringify(config));
    const shapes = unetWeightShapes(parseUNetConfig(config));
    const w = new RandomWeights(shapes);
    writeFileSync(join(d, 'unet', 'diffusion_pytorch_model.safetensors'), encodeSafetensors(Object.fromEntries([...shapes].map(([k, shape]) => [k, { dtype: 'F32', shape, data: w.read(k) }]))));
    return d;
  }

  it('sample_size 8 with four levels: the 1×1 level gets its map like the others', async () => {
    const src = randomUnetFolder('unet-ss8', { ...json('unet_A', 'config.json'), sample_size: 8 });
    const out = join(tmp, 'ss8');
    const m = (await convertCheckpoint(src, out, { variants: unetVariants() })).manifest;
    expect(m.warnings).toEqual([]);
    expect(m.components.unet_diffseg!.selfAttention!.map((s) => [s.output, s.height, s.width, s.layers])).toEqual([
      ['self_attn_mean.8x8', 8, 8, 5], ['self_attn_mean.4x4', 4, 4, 5], ['self_attn_mean.2x2', 2, 2, 5], ['self_attn_mean.1x1', 1, 1, 1],
    ]);
    await verifyBundle(out);
    const r = await runModel(join(out, 'unet_diffseg.onnx'), {
      sample: new ort.Tensor('float32', new Float32Array(4 * 8 * 8).fill(0.5), [1, 4, 8, 8]),
      timestep: new ort.Tensor('float32', Float32Array.of(300), [1]),
      encoder_hidden_states: new ort.Tensor('float32', new Float32Array(77 * 32).fill(0.1), [1, 77, 32]),
    });
    expect(r['self_attn_mean.1x1']!.dims).toEqual([1, 1, 1]);
    expect(r['self_attn_mean.1x1']!.data[0]).toBeCloseTo(1, 6); // one key: all the attention goes to it
    const rows = r['self_attn_mean.8x8']!.data as Float32Array;
    for (let q = 0; q < 64; q++) expect(rows.subarray(q * 64, q * 64 + 64).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
  });

  it('a UNet the variant cannot be built for is converted without it, the reason in the warnings and on stderr', async () => {
    const plain = {
      ...json('unet_A', 'config.json'), sample_size: 8, mid_block_type: null,
      down_block_types: Array(4).fill('DownBlock2D'), up_block_types: Array(4).fill('UpBlock2D'),
    };
    const src = randomUnetFolder('unet-no-attention', plain);
    const out = join(tmp, 'no-attention');
    const m = (await convertCheckpoint(src, out, { variants: unetVariants() })).manifest;
    expect(Object.keys(m.components)).toEqual(['unet']);
    expect(m.warnings).toEqual(['DiffSeg UNet variant not built: the UNet has no self-attention layers']);
    expect(readdirSync(out).sort()).toEqual(['bundle.json', 'unet.onnx', 'unet.onnx.data']);
    await verifyBundle(out);
    const cli = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'node'), [join(REPO_ROOT, 'bin', 'difflabel.mjs'), 'models', 'convert', src, '--out', join(tmp, 'no-attention-cli')], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(cli.status, cli.stderr).toBe(0);
    expect(cli.stderr).toMatch(/warning: DiffSeg UNet variant not built: the UNet has no self-attention layers/);
    expect(cli.stdout).toMatch(/wrote bundle 'unet-no-attention' \(float32\) to .*: unet$/m);
  });
});

describe('single-file SD 1.x checkpoint', () => {
  it('converts with explicit configs and a tokenizer, and reproduces noise_pred', async () => {
    const file = writeCheckpoint('tiny-ldm.safetensors', ldmTensors());
    const out = join(tmp, 'from-single');
    const { manifest: m } = await convertCheckpoint(file, out, { configs: GOLDEN_CONFIGS(), tokenizer: golden('tokenizer_F'), variants: unetVariants() });
    expect(m.source.kind).toBe('single-file');
    expect(m.name).toBe('tiny-ldm');
    expect(m.source.files[0]!.path).toBe('tiny-ldm.safetensors');
    expect(Object.keys(m.components).length).toBe(5);
    await verifyBundle(out, { load: false }); // files, checksums, tokenizer; the UNet load is the spot check below
    expect(await unetNoiseDiff(out)).toBeLessThanOrEqual(ATOL);
  });

  it('needs a tokenizer; with the default SD 1.5 configs the tiny weights fail with the shapes named', async () => {
    const file = writeCheckpoint('tiny-ldm2.safetensors', ldmTensors());
    await expectConvertFails(file, /carries no tokenizer.*--tokenizer/, { configs: GOLDEN_CONFIGS() });
    await expectConvertFails(file, /UNet weights does not match its config \(single-file checkpoints are read with the SD 1\.5 configs.*conv_in\.weight: shape \[16,4,3,3\], config implies \[320,4,3,3\]/s, { tokenizer: TOKENIZER_GZ });
    await expectConvertFails(file, /no CLIP tokenizer in/, { configs: GOLDEN_CONFIGS(), tokenizer: tmp });
  });
});

describe('PyTorch checkpoints (.ckpt, .pt, .pth, .bin)', () => {
  /** sha256 of every model file of every component (bundle.json's record of what was written). */
  const modelHashes = (m: BundleManifest) => Object.fromEntries(Object.entries(m.components).map(([k, c]) => [k, c.files.map((f) => [f.path, f.sha256])]));

  it('an SD 1.x Lightning .ckpt converts to the same models as its .safetensors form', async () => {
    const st = writeCheckpoint('sd-tiny.safetensors', ldmTensors());
    const ckpt = join(tmp, 'sd-tiny.ckpt');
    writeFileSync(ckpt, torchSave(ldmTensors(), { lightning: true, prefix: 'sd-tiny' }));
    const opts = { configs: GOLDEN_CONFIGS(), tokenizer: TOKENIZER_GZ };
    const a = (await convertCheckpoint(st, join(tmp, 'sd-st'), opts)).manifest;
    const b = (await convertCheckpoint(ckpt, join(tmp, 'sd-ckpt'), opts)).manifest;
    expect(b.name).toBe('sd-tiny');
    expect(b.source).toMatchObject({ kind: 'single-file', files: [expect.objectContaining({ path: 'sd-tiny.ckpt' }), expect.anything()] });
    expect(modelHashes(b)).toEqual(modelHashes(a));
    expect(b.warnings).toContain('sd-tiny.ckpt refers to Python code that was not run (read as inert data): pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint, pytorch_lightning.utilities.parsing.AttributeDict');
    await verifyBundle(join(tmp, 'sd-ckpt'), { load: false });

    // the golden inputs give the same outputs through both bundles, and the golden outputs
    expect(await unetNoiseDiff(join(tmp, 'sd-ckpt'))).toBeLessThanOrEqual(ATOL);
    const vin = SafetensorsFile.open(golden('vae_C', 'inputs.safetensors'));
    const cin = SafetensorsFile.open(golden('clip_D', 'inputs.safetensors'));
    const ids = () => new ort.Tensor('int64', cin.readRaw('input_ids').data as BigInt64Array, [2, 77]);
    for (const [model, feeds, output] of [
      ['vae_decoder.onnx', () => ({ latent: f32(vin, 'z') }), 'sample'],
      ['vae_encoder.onnx', () => ({ image: f32(vin, 'image') }), 'latent_mean'],
      ['text_encoder.onnx', () => ({ input_ids: ids() }), 'last_hidden_state'],
    ] as const) {
      const fromSt = (await runModel(join(tmp, 'sd-st', model), feeds()))[output]!.data as Float32Array;
      const fromCkpt = (await runModel(join(tmp, 'sd-ckpt', model), feeds()))[output]!.data as Float32Array;
      expect(maxAbsDiff(fromCkpt, fromSt), model).toBe(0);
    }
    const vout = SafetensorsFile.open(golden('vae_C', 'outputs.safetensors'));
    const dec = await runModel(join(tmp, 'sd-ckpt', 'vae_decoder.onnx'), { latent: f32(vin, 'z') });
    expect(maxAbsDiff(dec['sample']!.data as Float32Array, vout.readFloat32('decoded_z'))).toBeLessThanOrEqual(ATOL);
  });

  it('a bare state dict (.pth, ZIP64 records) converts to the same models, fp16 included', async () => {
    const pth = join(tmp, 'bare.pth');
    writeFileSync(pth, torchSave(ldmTensors(), { zip64: true }));
    const st = writeCheckpoint('bare.safetensors', ldmTensors());
    const opts = { configs: GOLDEN_CONFIGS(), tokenizer: TOKENIZER_GZ, fp16: true };
    const a = (await convertCheckpoint(st, join(tmp, 'bare-st'), opts)).manifest;
    const b = (await convertCheckpoint(pth, join(tmp, 'bare-pth'), opts)).manifest;
    expect(b.name).toBe('bare');
    expect(modelHashes(b)).toEqual(modelHashes(a));
    expect(b.warnings.join('\n')).not.toMatch(/Python code/);
  });

  it('a diffusers folder whose components hold .bin weights converts to the same bundle as the safetensors folder', async () => {
    const d = join(tmp, 'pipe-bin');
    const component = (name: string, from: string, weights: string, file: string) => {
      mkdirSync(join(d, name), { recursive: true });
      cpSync(golden(from, 'config.json'), join(d, name, 'config.json'));
      const f = SafetensorsFile.open(golden(from, weights));
      writeFileSync(join(d, name, file), torchSave(Object.fromEntries(f.keys().map((k) => [k, f.readRaw(k)]))));
      f.close();
    };
    component('unet', 'unet_A', 'diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.bin');
    component('vae', 'vae_C', 'diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.bin');
    component('text_encoder', 'clip_D', 'model.safetensors', 'pytorch_model.bin'); // transformers' name for it
    mkdirSync(join(d, 'tokenizer'));
    symlinkSync(TOKENIZER_GZ, join(d, 'tokenizer', 'bpe_simple_vocab_16e6.txt.gz'));
    const m = (await convertCheckpoint(d, join(tmp, 'from-bin'), { name: 'tiny-golden', variants: unetVariants() })).manifest;
    expect(m.source.files.map((f) => f.path)).toEqual([
      'unet/config.json', 'unet/diffusion_pytorch_model.bin', 'vae/config.json', 'vae/diffusion_pytorch_model.bin',
      'text_encoder/config.json', 'text_encoder/pytorch_model.bin', 'tokenizer/bpe_simple_vocab_16e6.txt.gz',
    ]);
    expect(modelHashes(m)).toEqual(modelHashes(manifest));
    // safetensors is preferred when a component holds both
    cpSync(golden('vae_C', 'diffusion_pytorch_model.safetensors'), join(d, 'vae', 'diffusion_pytorch_model.safetensors'));
    writeFileSync(join(d, 'vae', 'diffusion_pytorch_model.bin'), 'not read');
    const again = (await convertCheckpoint(d, join(tmp, 'from-bin-2'))).manifest;
    expect(again.source.files.map((f) => f.path)).toContain('vae/diffusion_pytorch_model.safetensors');
  });
});

describe('broken checkpoints fail clearly and leave nothing behind', () => {
  const opts = (): ConvertOptions => ({ configs: GOLDEN_CONFIGS(), tokenizer: TOKENIZER_GZ });

  it('truncated safetensors', async () => {
    const file = writeCheckpoint('truncated.safetensors', ldmTensors());
    truncateSync(file, readFileSync(file).length - 100);
    await expectConvertFails(file, /not a readable safetensors file.*truncated/s, opts());
  });

  it('missing key', async () => {
    const t = ldmTensors();
    delete t['model.diffusion_model.input_blocks.1.1.proj_in.weight'];
    await expectConvertFails(writeCheckpoint('missing.safetensors', t), /missing down_blocks\.0\.attentions\.0\.proj_in\.weight/, opts());
  });

  it('wrong shape', async () => {
    const t = ldmTensors();
    t['model.diffusion_model.out.2.bias'] = { dtype: 'F32', shape: [5], data: new Float32Array(5) };
    await expectConvertFails(writeCheckpoint('shape.safetensors', t), /conv_out\.bias: shape \[5\], config implies \[4\]/, opts());
  });

  it('NaN or Inf weights, fp32, fp16 and bf16, single file and diffusers folder: the tensor is named', async () => {
    const UNET_KEY = 'model.diffusion_model.input_blocks.1.0.in_layers.2.weight'; // down_blocks.0.resnets.0.conv1.weight
    const t = ldmTensors();
    (t[UNET_KEY]!.data as Float32Array)[7] = NaN;
    await expectConvertFails(writeCheckpoint('nan32.safetensors', t), new RegExp(`nan32\\.safetensors failed: checkpoint \\(unet\\): weight 'down_blocks\\.0\\.resnets\\.0\\.conv1\\.weight' \\(${UNET_KEY.replace(/\./g, '\\.')}\\) holds NaN \\(element 7 of 2304\\)`), opts());

    // fp16 checkpoint: exported as fp16 its bits are copied as they are, exported as fp32 they are widened first.
    const half = Object.fromEntries(Object.entries(ldmTensors()).map(([k, v]) => [k, v.dtype === 'F32' ? { ...v, dtype: 'F16' as const, data: toFloat16Bits(v.data as Float32Array) } : v]));
    (half['first_stage_model.decoder.conv_out.bias']!.data as Uint16Array)[1] = 0xfc00; // -Inf
    const f16 = writeCheckpoint('inf16.safetensors', half);
    for (const fp16 of [true, false])
      await expectConvertFails(f16, /inf16\.safetensors failed: checkpoint \(vae\): weight 'decoder\.conv_out\.bias' \(first_stage_model\.decoder\.conv_out\.bias\) holds -Inf \(element 1 of 3\)/, { ...opts(), fp16 });

    // bf16 diffusers folder
    const d = join(tmp, 'nan-bf16');
    mkdirSync(join(d, 'text_encoder'), { recursive: true });
    cpSync(golden('clip_D', 'config.json'), join(d, 'text_encoder', 'config.json'));
    const clip = SafetensorsFile.open(golden('clip_D', 'model.safetensors'));
    const bf = Object.fromEntries(clip.keys().map((k) => {
      const f = clip.readFloat32(k);
      return [k, { dtype: 'BF16' as const, shape: clip.info(k).shape, data: Uint16Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length), (x) => x >>> 16) }];
    }));
    clip.close();
    (bf['text_model.encoder.layers.1.mlp.fc2.weight']!.data as Uint16Array)[0] = 0x7fc0; // NaN
    writeFileSync(join(d, 'text_encoder', 'model.safetensors'), encodeSafetensors(bf));
    await expectConvertFails(d, /text_encoder\/model\.safetensors: weight 'text_model\.encoder\.layers\.1\.mlp\.fc2\.weight' holds NaN \(element 0 of/, { tokenizer: TOKENIZER_GZ });
  });

  it('unknown layout, SDXL layout, pickle, not safetensors, not a file', async () => {
    const odd = writeCheckpoint('odd.safetensors', { 'encoder.layer.0.weight': { dtype: 'F32', shape: [2], data: new Float32Array(2) } });
    await expectConvertFails(odd, /unknown checkpoint layout.*encoder\.layer\.0\.weight/, opts());
    const xl = writeCheckpoint('xl.safetensors', { 'conditioner.embedders.0.x': { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
    await expectConvertFails(xl, /SDXL/, opts());
    const ckpt = join(tmp, 'model.ckpt');
    writeFileSync(ckpt, 'PK\x03\x04 pickle');
    await expectConvertFails(ckpt, /model\.ckpt is not a readable PyTorch checkpoint: .*no zip end of central directory record \(truncated\?\)/, opts());
    const junk = join(tmp, 'junk.safetensors');
    writeFileSync(junk, 'this is not a safetensors file at all');
    await expectConvertFails(junk, /junk\.safetensors is not a readable safetensors file/, opts());
    await expectConvertFails(join(tmp, 'nope.safetensors'), /source not found/, opts());
    const empty = join(tmp, 'empty-folder');
    mkdirSync(empty);
    await expectConvertFails(empty, /holds no model components/);
  });

  it('diffusers folder: unreadable config, unreadable .bin weights', async () => {
    const d = join(tmp, 'bad-diffusers');
    mkdirSync(join(d, 'unet'), { recursive: true });
    writeFileSync(join(d, 'unet', 'config.json'), '{ not json');
    await expectConvertFails(d, /unet\/config\.json/);
    cpSync(golden('unet_A', 'config.json'), join(d, 'unet', 'config.json'));
    writeFileSync(join(d, 'unet', 'diffusion_pytorch_model.bin'), 'pickle');
    await expectConvertFails(d, /unet\/diffusion_pytorch_model\.bin is not a readable PyTorch checkpoint: .*not a PyTorch checkpoint \(neither a zip archive nor a legacy torch\.save file\)/);
  });
});

describe('verifyBundle catches damage', () => {
  const damaged = (name: string) => {
    const d = join(tmp, name);
    cpSync(bundle, d, { recursive: true });
    return d;
  };

  it('a modified weights file fails with the checksum problem (same size)', async () => {
    const d = damaged('tampered');
    const p = join(d, 'unet.onnx.data');
    const bytes = readFileSync(p);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(p, bytes);
    const err = await verifyBundle(d).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect((err as BundleError).problems).toEqual(['unet.onnx.data: sha256 checksum mismatch (the file was modified or corrupted)']);
    await verifyBundle(d, { checksums: false, load: false }); // presence + size only: this damage passes, as documented
  });

  it('missing and truncated files, a wrong declared output, a broken manifest: all listed', async () => {
    const d = damaged('broken');
    rmSync(join(d, 'vae_decoder.onnx'));
    truncateSync(join(d, 'tokenizer', 'bpe_simple_vocab_16e6.txt.gz'), 10);
    const m = JSON.parse(readFileSync(join(d, 'bundle.json'), 'utf8')) as BundleManifest;
    m.components.text_encoder!.outputs[0]!.name = 'hidden';
    m.components.text_encoder!.inputs[0]!.shape = ['batch', 76];
    m.components.text_encoder!.inputs[0]!.dtype = 'int32';
    // Dropping the UNets and the VAE encoder from the manifest keeps this test fast (no big model loads).
    for (const k of ['unet', 'unet_diffseg', 'vae_encoder'] as const) delete m.components[k];
    writeFileSync(join(d, 'bundle.json'), JSON.stringify(m));
    const err = (await verifyBundle(d).then(() => null, (e: unknown) => e)) as BundleError;
    expect(err).toBeInstanceOf(BundleError);
    expect(err.problems).toEqual([
      'text_encoder input input_ids: dtype int32 in bundle.json, int64 in the model',
      'text_encoder input input_ids: shape [batch,76] in bundle.json, [batch,77] in the model',
      'text_encoder output: bundle.json lists [hidden, pooler_output] but the model has [last_hidden_state, pooler_output]',
      'vae_decoder.onnx: missing',
      expect.stringMatching(/^tokenizer\/bpe_simple_vocab_16e6\.txt\.gz: 10 bytes, bundle\.json says 1356917/),
    ]);
    writeFileSync(join(d, 'bundle.json'), JSON.stringify({ ...m, components: { text_encoder: { ...m.components.text_encoder, model: '../escape.onnx' } } }));
    await expect(verifyBundle(d)).rejects.toThrow(/components\.text_encoder\.model: must be a relative path inside the bundle/);
    rmSync(join(d, 'bundle.json'));
    await expect(verifyBundle(d)).rejects.toThrow(/not a model bundle/);
  });
});

describe('a bundle is read only through the files it holds', () => {
  // What a hostile bundle would try to make DiffLabel read and quote back: no message may contain it.
  const SECRET = 'TOPSECRET hunter2 not json, not onnx';
  let outside: string;
  beforeAll(() => {
    outside = join(tmp, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret.txt'), SECRET);
  });
  const copy = (name: string, from = bundle) => {
    const d = join(tmp, name);
    cpSync(from, d, { recursive: true });
    return d;
  };
  /** Replaces `rel` in the bundle by a link to `target`. */
  const link = (d: string, rel: string, target: string) => {
    rmSync(join(d, rel), { recursive: true });
    symlinkSync(target, join(d, rel));
  };
  const refusal = async (p: Promise<unknown>): Promise<BundleError> => {
    const err = await p.then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect((err as Error).message).not.toContain('TOPSECRET');
    return err as BundleError;
  };
  const editManifest = (d: string, edit: (m: BundleManifest) => void) => {
    const m = readManifest(d);
    edit(m);
    writeFileSync(join(d, 'bundle.json'), JSON.stringify(m));
  };

  it('verify refuses a listed file that is a link, even to an identical copy outside', async () => {
    const d = copy('link-same');
    cpSync(join(d, 'vae_decoder.onnx'), join(outside, 'vae_decoder.onnx'));
    link(d, 'vae_decoder.onnx', join(outside, 'vae_decoder.onnx'));
    expect((await refusal(verifyBundle(d, { load: false }))).problems).toEqual(['vae_decoder.onnx: a symbolic link (a bundle must hold its files itself)']);
    // a link to the secret: refused before anything reads it
    link(d, 'vae_decoder.onnx', join(outside, 'secret.txt'));
    expect((await refusal(verifyBundle(d, { checksums: false }))).problems).toEqual(['vae_decoder.onnx: a symbolic link (a bundle must hold its files itself)']);
  });

  it('verify refuses a file reached through a linked folder that leaves the bundle', async () => {
    const d = copy('link-folder');
    cpSync(join(d, 'tokenizer'), join(outside, 'tokenizer'), { recursive: true });
    link(d, 'tokenizer', join(outside, 'tokenizer'));
    expect((await refusal(verifyBundle(d, { load: false }))).problems).toEqual([
      'tokenizer/bpe_simple_vocab_16e6.txt.gz: resolves outside the bundle folder (through a symbolic link)',
    ]);
  });

  it('bundle.json that is a link, not JSON, or not an object is refused without quoting what it holds', async () => {
    const d = copy('manifest-link');
    link(d, 'bundle.json', join(outside, 'secret.txt'));
    expect((await refusal(verifyBundle(d))).message).toMatch(/bundle\.json is a symbolic link \(a bundle must hold its files itself\)/);
    for (const text of [SECRET, `{"name": TOPSECRET}`, `["TOPSECRET"`]) {
      rmSync(join(d, 'bundle.json'));
      writeFileSync(join(d, 'bundle.json'), text);
      expect((await refusal(verifyBundle(d))).message).toMatch(/bundle\.json: not valid JSON/);
    }
    writeFileSync(join(d, 'bundle.json'), '["TOPSECRET"]');
    expect((await refusal(verifyBundle(d))).problems).toEqual(['(root): Invalid input: expected object, received array']);
  });

  it("a model's external data must be one of its listed files", async () => {
    for (const [name, loc] of [['ext-up', '../ext-outside.bin'], ['ext-unlisted', 'unlisted.bin'], ['ext-abs', join(outside, 'ext-abs.bin')]] as const) {
      const d = copy(name);
      const ext = matmulModelExternal(loc, 16);
      writeFileSync(join(d, 'mm.onnx'), ext.model);
      for (const [f, bytes] of Object.entries(ext.files)) writeFileSync(resolve(d, f), bytes);
      const entry = { path: 'mm.onnx', bytes: ext.model.length, sha256: createHash('sha256').update(ext.model).digest('hex') };
      editManifest(d, (m) => {
        m.components = {
          text_encoder: { model: 'mm.onnx', files: [entry], inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 4] }], outputs: [{ name: 'y', dtype: 'float32', shape: ['batch', 2] }], config: {} },
        };
        delete m.tokenizer;
      });
      expect((await refusal(verifyBundle(d))).problems, name).toEqual(
        [loc, `${loc}.pad`].map((l) => `text_encoder: mm.onnx reads weights from ${JSON.stringify(l)}, which is not one of its listed files`),
      );
    }
  });

  it('listBundles reports links instead of following them', () => {
    const root = join(tmp, 'linked-root');
    mkdirSync(root);
    symlinkSync(bundle, join(root, 'elsewhere'));
    const d = copy(join('linked-root', 'with-link'));
    link(d, 'bundle.json', join(outside, 'secret.txt'));
    const found = listBundles(root);
    expect(found.map((b) => [b.dir.split('/').pop(), b.ok])).toEqual([['elsewhere', false], ['with-link', false]]);
    expect(found[0]!.error).toMatch(/is a symbolic link: bundles must be folders inside the models folder/);
    expect(found[1]!.error).toMatch(/bundle\.json is a symbolic link/);
    expect(JSON.stringify(found)).not.toContain('TOPSECRET');
  });

  it('opening a bundle for inference applies the same rule to its files and external data', async () => {
    const host = new SessionManager({ providers: ['cpu'] });
    try {
      const fixture = await writeFixtureBundle(join(tmp, 'fixture-ok'));
      openBundleModels(fixture, { host });
      const d = copy('fixture-link', fixture);
      link(d, 'tokenizer/bpe_fixture.txt.gz', join(outside, 'secret.txt'));
      expect((await refusal(Promise.resolve().then(() => openBundleModels(d, { host })))).problems).toEqual([
        'tokenizer/bpe_fixture.txt.gz: a symbolic link (a bundle must hold its files itself)',
      ]);
      const e = copy('unlisted-data');
      editManifest(e, (m) => void (m.components.unet_diffseg!.files = m.components.unet_diffseg!.files.filter((f) => f.path !== 'unet.onnx.data')));
      expect((await refusal(Promise.resolve().then(() => openBundleModels(e, { host })))).problems).toEqual([
        'unet_diffseg: unet_diffseg.onnx reads weights from "unet.onnx.data", which is not one of its listed files',
      ]);
    } finally {
      await host.dispose();
    }
  });
});

describe('listBundles', () => {
  it('lists readable bundles and reports unreadable ones; the user folder follows the environment', () => {
    const root = join(tmp, 'models');
    mkdirSync(join(root, 'broken'), { recursive: true });
    writeFileSync(join(root, 'broken', 'bundle.json'), '{}');
    mkdirSync(join(root, 'not-a-bundle'));
    const found = listBundles([root, join(tmp, 'does-not-exist')]);
    expect(found.map((b) => [b.name, b.ok])).toEqual([['broken', false], ['tiny-golden', true]]);
    expect(found[1]!.components).toEqual(['text_encoder', 'unet', 'unet_diffseg', 'vae_encoder', 'vae_decoder']);
    expect(found[0]!.error).toMatch(/not a valid bundle manifest/);
    expect(listBundles(bundle).map((b) => b.name)).toEqual(['tiny-golden']); // a bundle folder itself
    rmSync(join(root, 'broken'), { recursive: true });
    expect(userModelsDir({ DIFFLABEL_MODELS_DIR: '/data/m' }, 'linux', '/home/u')).toBe('/data/m');
    expect(userModelsDir({}, 'linux', '/home/u')).toBe('/home/u/.local/share/difflabel/models');
    expect(userModelsDir({ XDG_DATA_HOME: '/x' }, 'linux', '/home/u')).toBe('/x/difflabel/models');
    expect(userModelsDir({}, 'darwin', '/Users/u')).toBe('/Users/u/Library/Application Support/DiffLabel/models');
  });
});

describe('resources/models', () => {
  /** list.ts bundled the way electron-vite bundles the main process, at `file` inside a package at `pkg`. */
  async function builtList(pkg: string, file: string): Promise<typeof import('../../src/core/ml/bundle/list')> {
    mkdirSync(dirname(join(pkg, file)), { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'difflabel', type: 'module' }));
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(pkg, 'node_modules'));
    await build({ entryPoints: [join(REPO_ROOT, 'src/core/ml/bundle/list.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: join(pkg, file), logLevel: 'silent' });
    return import(pathToFileURL(join(pkg, file)).href);
  }

  it('is the top-level resources/models from source, from a built bundle, and beside the packaged app', async () => {
    expect(resourcesModelsDir()).toBe(join(REPO_ROOT, 'resources', 'models'));
    expect(readFileSync(join(REPO_ROOT, 'resources', 'models', 'README.md'), 'utf8')).toMatch(/bundle/);
    expect(defaultModelDirs()[0]).toBe(join(REPO_ROOT, 'resources', 'models'));

    const checkout = join(tmp, 'checkout');
    const built = await builtList(checkout, 'out/main/index.js');
    expect(built.resourcesModelsDir()).toBe(join(checkout, 'resources', 'models'));
    // Electron outside a package (npm start): its own resources folder is elsewhere and does not count.
    expect(built.resourcesModelsDir({ resourcesPath: join(REPO_ROOT, 'node_modules', 'electron', 'dist', 'resources') })).toBe(join(checkout, 'resources', 'models'));

    // Packaged: the app (here unpacked as resources/app) lies inside process.resourcesPath; extraResources put models beside it.
    const resources = join(tmp, 'DiffLabel-linux', 'resources');
    const app = await builtList(join(resources, 'app'), 'out/main/index.js');
    expect(app.resourcesModelsDir({ resourcesPath: resources })).toBe(join(resources, 'models'));
  });

  it('is ignored by git except its README, and electron-builder ships it as extraResources models', () => {
    const ignored = (p: string) => spawnSync('git', ['check-ignore', '-q', p], { cwd: REPO_ROOT }).status === 0;
    expect(ignored('resources/models/sd15/bundle.json')).toBe(true);
    expect(ignored('resources/models/README.md')).toBe(false);
    expect(readFileSync(join(REPO_ROOT, 'electron-builder.yml'), 'utf8')).toMatch(/extraResources:\n\s+- from: resources\/models\n\s+to: models/);
  });
});

describe('difflabel models (CLI)', () => {
  const cli = (...args: string[]) => {
    const r = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'node'), [join(REPO_ROOT, 'bin', 'difflabel.mjs'), 'models', ...args], {
      cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, DIFFLABEL_MODELS_DIR: join(tmp, 'user-models') },
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('--help, convert, verify, list, and failures exit 1 with the reason', async () => {
    const help = cli('--help');
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/convert \[options\] \[source\]/);
    expect(help.out).toMatch(/verify \[options\] <dir>/);
    const convertHelp = cli('convert', '--help');
    expect(convertHelp.out).toMatch(/\.safetensors,\s+\.ckpt,\s+\.pt,\s+\.pth\s+or\s+\.bin\),\s+or\s+Ref\s+LDM-Seg's\s+released\s+files\s+\(--refldmseg\),\s+into\s+a\s+model\s+bundle;\s+PyTorch\s+files\s+are\s+read\s+without\s+running\s+any\s+code\s+in\s+them/);

    const out = join(tmp, 'user-models', 'cli');
    const conv = cli('convert', pipe, '--out', out, '--name', 'from-cli', '--no-diffseg');
    expect(conv.code, conv.err).toBe(0);
    expect(conv.out).toMatch(/wrote bundle 'from-cli' \(float32\)/);
    expect(conv.err).toMatch(/warning: tokenizer has 49408 tokens/);

    const ver = cli('verify', out, '--json');
    expect(ver.code, ver.err).toBe(0);
    expect(JSON.parse(ver.out)).toMatchObject({ ok: true, name: 'from-cli', files: 5 }) // no DiffSeg variant: the small UNet stays inline;

    const list = cli('list', '--json');
    expect(list.code).toBe(0);
    expect((JSON.parse(list.out) as { name: string }[]).map((b) => b.name)).toContain('from-cli');

    // A small VAE-only bundle: fewer model loads in the child process.
    const vaeSrc = join(tmp, 'cli-vae-src');
    mkdirSync(vaeSrc);
    symlinkSync(golden('vae_C'), join(vaeSrc, 'vae'));
    const damaged = join(tmp, 'cli-damaged');
    await convertCheckpoint(vaeSrc, damaged);
    writeFileSync(join(damaged, 'vae_encoder.onnx'), 'garbage');
    const bad = cli('verify', damaged);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/error: model bundle .* failed verification:\n {2}- vae_encoder\.onnx: \d+ bytes, bundle\.json says/);

    const miss = cli('convert', writeCheckpoint('cli-ldm.safetensors', ldmTensors()), '--out', join(tmp, 'cli-fail'));
    expect(miss.code).toBe(1);
    expect(miss.err).toMatch(/error: .*UNet weights does not match its config/);
    expect(existsSync(join(tmp, 'cli-fail'))).toBe(false);
  });
});
