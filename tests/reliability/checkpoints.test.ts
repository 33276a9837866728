// Hostile and broken checkpoints given to `models convert`: each is refused with a message that says what is wrong
// (and never quotes the file's bytes back), and nothing is written: no bundle, no temporary folder, and an
// existing bundle that was to be replaced is left exactly as it was.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BundleError, convertCheckpoint, type ConvertOptions } from '../../src/core/ml/bundle';
import { toFloat16Bits } from '../../src/core/ml/graph';
import { encodeSafetensors, SafetensorsFile, type WriteTensor } from '../../src/core/ml/weights';
import { tempDir } from '../helpers/folder';
import { buildLdmCheckpoint, golden } from '../ml/weights.helpers';

const SECRET = 'TOPSECRET';
let tmp: ReturnType<typeof tempDir>;
let existing: string; // a bundle that failed conversions with overwrite must leave untouched
let existingFiles: Record<string, string>;
const json = (...p: string[]) => JSON.parse(readFileSync(golden(...p), 'utf8')) as Record<string, unknown>;
const opts = (extra: ConvertOptions = {}): ConvertOptions => ({
  configs: { unet: json('unet_A', 'config.json'), vae: json('vae_C', 'config.json'), text_encoder: json('clip_D', 'config.json') },
  tokenizer: golden('tokenizer_F', 'bpe_simple_vocab_16e6.txt.gz'),
  ...extra,
});

/** Every file under `dir` (relative path -> content as base64). */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else files[relative(dir, p)] = readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return files;
}

beforeAll(async () => {
  tmp = tempDir('difflabel-reliability-ckpt-');
  existing = join(tmp.path, 'existing');
  const vae = join(tmp.path, 'vae-only');
  mkdirSync(vae);
  cpSync(golden('vae_C'), join(vae, 'vae'), { recursive: true });
  await convertCheckpoint(vae, existing);
  existingFiles = snapshot(existing);
});
afterAll(() => tmp.cleanup());

/** The golden single-file checkpoint as editable tensors. */
function tensors(): Record<string, WriteTensor> {
  const f = SafetensorsFile.fromBytes(buildLdmCheckpoint());
  return Object.fromEntries(f.keys().map((k) => [k, f.readRaw(k)]));
}

function file(name: string, bytes: Uint8Array | string): string {
  const p = join(tmp.path, name);
  writeFileSync(p, bytes);
  return p;
}

/** A safetensors file with this header text, `declared` as its header length, and `data` bytes after it. */
function withHeader(name: string, header: string | Buffer, data = 0, declared?: number): string {
  const hb = Buffer.from(header);
  const bytes = Buffer.alloc(8 + hb.length + data);
  bytes.writeBigUInt64LE(BigInt(declared ?? hb.length));
  hb.copy(bytes, 8);
  return file(name, bytes);
}

/** Conversion fails with a BundleError matching `pattern`, writes nothing, and leaves the existing bundle as it was. */
async function refused(source: string, pattern: RegExp, extra: ConvertOptions = {}): Promise<string> {
  const out = mkdtempSync(join(tmp.path, 'out-'));
  const err = await convertCheckpoint(source, join(out, 'bundle'), opts(extra)).then(() => null, (e: unknown) => e);
  expect(err, `${source} was converted`).toBeInstanceOf(BundleError);
  const msg = (err as Error).message;
  expect(msg).toMatch(pattern);
  expect(msg).not.toContain(SECRET);
  expect(readdirSync(out)).toEqual([]);
  const again = await convertCheckpoint(source, existing, opts({ ...extra, overwrite: true })).then(() => null, (e: unknown) => e);
  expect(again).toBeInstanceOf(BundleError);
  expect(snapshot(existing)).toEqual(existingFiles);
  expect(readdirSync(tmp.path).filter((f) => f.includes('.partial-'))).toEqual([]);
  return msg;
}

describe('unreadable safetensors files', () => {
  it('empty, garbage, truncated data, a header running past the end', async () => {
    await refused(file('empty.safetensors', ''), /empty\.safetensors is not a readable safetensors file: .*0 bytes, too short/);
    await refused(file('garbage.safetensors', `${SECRET} `.repeat(50)), /garbage\.safetensors is not a readable safetensors file: .*header length \d+ is implausible/);
    const good = buildLdmCheckpoint();
    await refused(file('truncated.safetensors', good.subarray(0, good.length - 1000)), /truncated\.safetensors .*data section has only \d+ bytes \(truncated file\?\)/);
    await refused(file('cut-header.safetensors', good.subarray(0, 200)), /header length \d+ runs past the end of the 200-byte file \(truncated\?\)/);
  });

  it('a huge declared header is refused before it is read', async () => {
    const p = withHeader('huge-header.safetensors', '{}', 0, 2 ** 40);
    expect(statSync(p).size).toBe(10);
    await refused(p, /header length 1099511627776 is implausible/);
  });

  it('a header that is not JSON, not an object, or describes impossible tensors', async () => {
    const notJson = await refused(withHeader('not-json.safetensors', `{"${SECRET}": ${SECRET}}`), /header is not valid JSON \(at character \d+\): corrupt or not a safetensors file/);
    expect(notJson).not.toMatch(/Unexpected token/);
    await refused(withHeader('not-utf8.safetensors', Buffer.from([0xff, 0xfe, 0x7b, 0x7d])), /header is not UTF-8 text: corrupt or not a safetensors file/);
    await refused(withHeader('array.safetensors', '[1, 2]'), /header is not a JSON object/);
    await refused(withHeader('bad-dtype.safetensors', '{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}', 1), /tensor 'w' has unsupported dtype "Q4"/);
    await refused(withHeader('overlap.safetensors', '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', 2), /tensor 'b' overlaps the previous tensor/);
    await refused(withHeader('past-end.safetensors', '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', 4), /tensor 'a' ends at byte 16 but the data section has only 4 bytes/);
  });
});

describe('readable checkpoints that cannot be converted', () => {
  it('NaN and Inf weights are refused naming the tensor (fp32 and fp16)', async () => {
    const t = tensors();
    (t['model.diffusion_model.out.2.weight']!.data as Float32Array)[3] = Infinity;
    await refused(file('inf.safetensors', encodeSafetensors(t)), /checkpoint \(unet\): weight 'conv_out\.weight' \(model\.diffusion_model\.out\.2\.weight\) holds Inf \(element 3 of 576\)/);
    const half = Object.fromEntries(Object.entries(tensors()).map(([k, v]) => [k, v.dtype === 'F32' ? { ...v, dtype: 'F16' as const, data: toFloat16Bits(v.data as Float32Array) } : v]));
    (half['cond_stage_model.transformer.text_model.final_layer_norm.weight']!.data as Uint16Array)[5] = 0x7e00; // NaN
    await refused(file('nan16.safetensors', encodeSafetensors(half)), /checkpoint \(text encoder\): weight 'text_model\.final_layer_norm\.weight' .* holds NaN \(element 5 of 32\)/, { fp16: true });
  });

  it('missing keys and wrong shapes are listed', async () => {
    const missing = tensors();
    delete missing['model.diffusion_model.middle_block.1.proj_out.weight'];
    delete missing['model.diffusion_model.middle_block.1.proj_out.bias'];
    await refused(file('missing.safetensors', encodeSafetensors(missing)), /^UNet weights does not match its config:\n {2}- missing mid_block\.attentions\.0\.proj_out\.weight \[32,32,1,1\]\n {2}- missing mid_block\.attentions\.0\.proj_out\.bias \[32\]$/);
    const shape = tensors();
    shape['first_stage_model.encoder.conv_in.bias'] = { dtype: 'F32', shape: [7], data: new Float32Array(7) };
    await refused(file('shape.safetensors', encodeSafetensors(shape)), /^VAE weights does not match its config:\n {2}- encoder\.conv_in\.bias: shape \[7\], config implies \[\d+\]$/);
  });

  it('a diffusers folder whose config is not JSON or not an object, or whose tokenizer is garbage', async () => {
    const d = join(tmp.path, 'diffusers');
    mkdirSync(join(d, 'vae'), { recursive: true });
    cpSync(golden('vae_C', 'diffusion_pytorch_model.safetensors'), join(d, 'vae', 'diffusion_pytorch_model.safetensors'));
    writeFileSync(join(d, 'vae', 'config.json'), `{"latent_channels": ${SECRET}}`);
    await refused(d, /cannot read .*vae\/config\.json: not valid JSON \(at character \d+\)$/);
    writeFileSync(join(d, 'vae', 'config.json'), `["${SECRET}"]`);
    await refused(d, /cannot read .*vae\/config\.json: not a JSON object$/);
    cpSync(golden('vae_C', 'config.json'), join(d, 'vae', 'config.json'));
    await refused(d, /cannot load the tokenizer \(garbage\.txt\.gz\)/, { tokenizer: file('garbage.txt.gz', SECRET) });
  });
});
