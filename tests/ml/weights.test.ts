import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  encodeSafetensors, fileSource, ldmUnetKey, ldmVaeKey, openSingleFile, openWeights, SafetensorsError, SafetensorsFile, type WriteTensor,
} from '../../src/core/ml/weights';
import { toFloat16Bits } from '../../src/core/ml/graph';
import { buildLdmCheckpoint, golden } from './weights.helpers';

function headerFile(header: string, dataBytes: number, declaredLen?: number): Uint8Array {
  const hb = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + hb.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(declaredLen ?? hb.length), true);
  out.set(hb, 8);
  return out;
}

describe('safetensors reader', () => {
  it('reads the golden UNet lazily with shapes and parameter count', () => {
    const f = SafetensorsFile.open(golden('unet_A', 'diffusion_pytorch_model.safetensors'));
    expect(f.keys().length).toBe(684);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(f.info('conv_in.weight').shape).toEqual([16, 4, 3, 3]);
    const n = f.keys().reduce((a, k) => a + f.info(k).shape.reduce((p, q) => p * q, 1), 0);
    expect(n).toBe(629_732);
    const w = f.readFloat32('conv_in.bias');
    expect(w.length).toBe(16);
    expect(Number.isFinite(w[0]!)).toBe(true);
    f.close();
  });

  it('writer reproduces the golden files byte for byte', () => {
    for (const p of [golden('vae_C', 'diffusion_pytorch_model.safetensors'), golden('clip_D', 'inputs.safetensors')]) {
      const f = SafetensorsFile.open(p);
      const t: Record<string, WriteTensor> = {};
      for (const k of f.keys()) t[k] = f.readRaw(k);
      expect(Buffer.compare(Buffer.from(encodeSafetensors(t, f.metadata)), readFileSync(p))).toBe(0);
      f.close();
    }
  });

  it('converts F16 and BF16 to float32 and keeps F16 bits raw', () => {
    const v = Float32Array.from([1.5, -0.25, 1000, 3.0e-5]);
    const bf = Uint16Array.from(new Uint32Array(v.buffer), (x) => x >>> 16);
    const f = SafetensorsFile.fromBytes(encodeSafetensors({
      h: { dtype: 'F16', shape: [2, 2], data: toFloat16Bits(v) },
      b: { dtype: 'BF16', shape: [4], data: bf },
      i: { dtype: 'I64', shape: [1], data: BigInt64Array.of(7n) },
    }));
    expect(Array.from(f.readFloat32('h'))).toEqual([1.5, -0.25, 1000, 503 * 2 ** -24]); // 3e-5 is subnormal in fp16
    expect(Array.from(f.readFloat32('b'))).toEqual([1.5, -0.25, 1000, (1 + 123 / 128) * 2 ** -16]); // bf16 (truncated here) keeps 7 mantissa bits
    expect(f.readRaw('h').data).toBeInstanceOf(Uint16Array);
    expect(Array.from(f.readRaw('i').data as BigInt64Array)).toEqual([7n]);
    expect(() => f.readFloat32('i')).toThrow(/not floating point/);
  });

  it('refuses truncated files and bad headers with clear errors', () => {
    const good = readFileSync(golden('clip_D', 'inputs.safetensors'));
    expect(() => SafetensorsFile.fromBytes(good.subarray(0, good.length - 10))).toThrow(/truncated/);
    expect(() => SafetensorsFile.fromBytes(good.subarray(0, 100))).toThrow(/runs past the end/);
    expect(() => SafetensorsFile.fromBytes(good.subarray(0, 5))).toThrow(/too short/);
    expect(() => SafetensorsFile.fromBytes(headerFile('{"a": ', 0))).toThrow(/not valid JSON/);
    expect(() => SafetensorsFile.fromBytes(headerFile('{}', 0, 2 ** 40))).toThrow(/implausible/);
    expect(() => SafetensorsFile.fromBytes(headerFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4))).toThrow(/needs 8 bytes but spans 4/);
    expect(() => SafetensorsFile.fromBytes(headerFile('{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}', 1))).toThrow(/unsupported dtype/);
    expect(() => SafetensorsFile.fromBytes(headerFile('{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', 2))).toThrow(/gap of 1 bytes/);
    expect(() => SafetensorsFile.fromBytes(headerFile('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', 2))).toThrow(/overlaps/);
    expect(() => SafetensorsFile.fromBytes(headerFile('[]', 0))).toThrow(SafetensorsError);
    expect(() => SafetensorsFile.open(golden('unet_A', 'config.json'))).toThrow(SafetensorsError);
  });
});

describe('LDM single-file key maps', () => {
  it('maps SD 1.5 original names like diffusers does', () => {
    const cases: [string, string][] = [
      ['time_embed.0.weight', 'time_embedding.linear_1.weight'],
      ['input_blocks.0.0.bias', 'conv_in.bias'],
      ['input_blocks.1.0.in_layers.0.weight', 'down_blocks.0.resnets.0.norm1.weight'],
      ['input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight', 'down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight'],
      ['input_blocks.3.0.op.weight', 'down_blocks.0.downsamplers.0.conv.weight'],
      ['input_blocks.4.0.skip_connection.weight', 'down_blocks.1.resnets.0.conv_shortcut.weight'],
      ['input_blocks.11.0.emb_layers.1.bias', 'down_blocks.3.resnets.1.time_emb_proj.bias'],
      ['middle_block.1.proj_in.weight', 'mid_block.attentions.0.proj_in.weight'],
      ['middle_block.2.out_layers.3.weight', 'mid_block.resnets.1.conv2.weight'],
      ['output_blocks.2.1.conv.weight', 'up_blocks.0.upsamplers.0.conv.weight'],
      ['output_blocks.5.2.conv.bias', 'up_blocks.1.upsamplers.0.conv.bias'],
      ['output_blocks.5.1.norm.weight', 'up_blocks.1.attentions.2.norm.weight'],
      ['output_blocks.11.0.out_layers.0.bias', 'up_blocks.3.resnets.2.norm2.bias'],
      ['out.2.weight', 'conv_out.weight'],
    ];
    for (const [a, b] of cases) expect(ldmUnetKey(a, 2)).toBe(b);
    expect(ldmVaeKey('decoder.up.3.block.0.nin_shortcut.weight', 4)).toEqual({ name: 'decoder.up_blocks.0.resnets.0.conv_shortcut.weight', squeeze: false });
    expect(ldmVaeKey('decoder.up.1.upsample.conv.weight', 4)).toEqual({ name: 'decoder.up_blocks.2.upsamplers.0.conv.weight', squeeze: false });
    expect(ldmVaeKey('encoder.mid.attn_1.proj_out.weight', 4)).toEqual({ name: 'encoder.mid_block.attentions.0.to_out.0.weight', squeeze: true });
    expect(ldmVaeKey('encoder.mid.attn_1.norm.weight', 4)).toEqual({ name: 'encoder.mid_block.attentions.0.group_norm.weight', squeeze: false });
    expect(ldmVaeKey('encoder.norm_out.bias', 4)).toEqual({ name: 'encoder.conv_norm_out.bias', squeeze: false });
  });

  it('a single-file checkpoint exposes every golden tensor under its diffusers name', () => {
    const ck = openSingleFile(SafetensorsFile.fromBytes(buildLdmCheckpoint()));
    expect(ck.unmapped).toEqual(['model_ema.decay']);
    const pairs: [typeof ck.unet, string][] = [
      [ck.unet, golden('unet_A', 'diffusion_pytorch_model.safetensors')],
      [ck.vae, golden('vae_C', 'diffusion_pytorch_model.safetensors')],
      [ck.textEncoder, golden('clip_D', 'model.safetensors')],
    ];
    for (const [src, path] of pairs) {
      const ref = openWeights(path);
      expect(src.keys().sort()).toEqual(ref.keys().sort());
      for (const k of ref.keys()) {
        expect(src.shape(k)).toEqual(ref.shape(k));
        expect(Buffer.compare(Buffer.from(src.read(k).buffer), Buffer.from(ref.read(k).buffer))).toBe(0);
      }
    }
    expect(ck.vae.shape('decoder.mid_block.attentions.0.to_q.weight')).toEqual([32, 32]);
  });

  it('renames pre-0.14 diffusers VAE attention weights', () => {
    const f = SafetensorsFile.fromBytes(encodeSafetensors({
      'encoder.mid_block.attentions.0.query.weight': { dtype: 'F32', shape: [1, 1], data: Float32Array.of(2) },
      'encoder.mid_block.attentions.0.proj_attn.bias': { dtype: 'F32', shape: [1], data: Float32Array.of(3) },
    }));
    const s = fileSource(f);
    expect(s.keys().sort()).toEqual(['encoder.mid_block.attentions.0.to_out.0.bias', 'encoder.mid_block.attentions.0.to_q.weight']);
    expect(Array.from(s.read('encoder.mid_block.attentions.0.to_q.weight'))).toEqual([2]);
  });
});
