// ODISE's three released files as torch writes them: the label checkpoint (`{"model": state_dict}` of the heads),
// OpenAI's TorchScript CLIP archive (module objects in data.pkl, code/ and constants.pkl beside it) and SD's Lightning
// .ckpt over ZIP64, each read back under our names, and each wrong file refused naming the file and the key.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  captionerWeightShapes, classificationWeightShapes, ODISE_LABEL_HEADS, projectionWeightShapes, readOdiseCheckpoint, readOdiseClip, readOdiseSd,
  readOpenAiClip, type OdiseHeadsConfig,
} from '../../src/core/ml/bundle/odiseSources';
import { BundleError } from '../../src/core/ml/bundle/errors';
import { decoderWeightShapes, parseDecoderConfig, parsePixelDecoderConfig, pixelDecoderWeightShapes } from '../../src/core/ml/models/mask2former';
import { parseClipTextConfig } from '../../src/core/ml/models/clip';
import { parseUNetConfig } from '../../src/core/ml/models/unetConfig';
import { parseVaeConfig } from '../../src/core/ml/models/vae';
import { encodeSafetensors, SafetensorsFile, type StDType, type WriteTensor } from '../../src/core/ml/weights';
import { PickleWriter, STORAGE_CLASS, torchSave, zipArchive, type ZipFileEntry } from './torch.helpers';
import { openAiClip } from './odise.helpers';
import { buildLdmCheckpoint, golden } from './weights.helpers';
import { readFileSync } from 'node:fs';

const dir = mkdtempSync(join(tmpdir(), 'odise-sources-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, bytes: Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};

/** The label model's structure at toy widths (4 taps of 16 channels stand for 512, the UNet's for 2560…640). */
const TINY: OdiseHeadsConfig = {
  pixelDecoder: parsePixelDecoderConfig({
    input_shape: { s2: { channels: 32, stride: 4 }, s3: { channels: 32, stride: 8 }, s4: { channels: 32, stride: 16 }, s5: { channels: 32, stride: 32 } },
    transformer_in_features: ['s3', 's4', 's5'], conv_dim: 32, mask_dim: 32, norm: 'GN', transformer_nheads: 4, transformer_dim_feedforward: 64,
    transformer_enc_layers: 2, common_stride: 4,
  }),
  decoder: parseDecoderConfig({
    in_channels: 32, num_classes: 5, hidden_dim: 32, num_queries: 6, nheads: 4, dim_feedforward: 64, dec_layers: 2, pre_norm: false, mask_dim: 32,
    class_embed: 'pseudo', post_mask_embed: { projection_dim: 32 },
  }),
  featureDims: [32, 32, 80, 60, 48, 40, 32, 32],
  projectionDim: 32,
  clipDim: 24,
  context: [7, 16],
  timeEmbedDim: 20,
};

/** Deterministic values, different per tensor. */
const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 0.61));

/** Every tensor the label checkpoint holds under detectron2's names (plus SetCriterion's empty_weight, as training saves it). */
function odiseStateDict(c: OdiseHeadsConfig): Record<string, WriteTensor> {
  const out: Record<string, WriteTensor> = {};
  let seed = 0;
  const add = (prefix: string, shapes: Map<string, number[]>) => {
    for (const [k, s] of shapes) out[prefix + k] = { dtype: 'F32', shape: s, data: values(s.reduce((a, b) => a * b, 1), seed++) };
  };
  add('backbone.feature_extractor.', captionerWeightShapes(c));
  add('backbone.feature_projections.', projectionWeightShapes(c));
  add('sem_seg_head.pixel_decoder.', pixelDecoderWeightShapes(c.pixelDecoder));
  add('sem_seg_head.predictor.', decoderWeightShapes(c.decoder));
  add('category_head.', classificationWeightShapes(c));
  out['criterion.empty_weight'] = { dtype: 'F32', shape: [c.decoder.num_classes + 1], data: new Float32Array(c.decoder.num_classes + 1).fill(1) };
  return out;
}

/** What fvcore's Checkpointer.save writes: torch.save({"model": state_dict, "iteration": N}). */
function detectron2Checkpoint(tensors: Record<string, WriteTensor>): Uint8Array {
  const p = new PickleWriter().proto(2).emptyDict().put().mark().str('model').orderedDict().put().mark();
  const entries: ZipFileEntry[] = [];
  Object.entries(tensors).forEach(([k, t], i) => {
    p.str(k);
    tensor(p, String(i), t.dtype, t.shape);
    entries.push({ name: `model_final/data/${i}`, data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) });
  });
  p.setitems().str('iteration').int(368749).setitems().stop();
  return zipArchive([{ name: 'model_final/data.pkl', data: p.toBytes() }, ...entries, { name: 'model_final/version', data: Buffer.from('3\n') }]);
}

/** `_rebuild_tensor_v2` over storage `key`; `view` adds the sixth persistent-id field TorchScript's pickler writes (None). */
function tensor(p: PickleWriter, key: string, dtype: StDType, shape: number[], view = false): PickleWriter {
  const numel = shape.reduce((a, b) => a * b, 1);
  const stride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  p.global('torch._utils', '_rebuild_tensor_v2').mark();
  p.mark().str('storage').global('torch', STORAGE_CLASS[dtype]).str(key).str('cpu').int(numel);
  if (view) p.none();
  p.tuple(view ? 6 : 5).binpersid();
  p.int(0).ints(shape).ints(stride).bool(false).orderedDict();
  return p.tuple(6).reduce();
}

describe('ODISE label checkpoint', () => {
  const tensors = odiseStateDict(TINY);
  const path = write('odise_label_coco_50e.pth', detectron2Checkpoint(tensors));

  it('gives the heads under our Mask2Former names, the captioner, the projections and the category head, read from the file', () => {
    const ck = readOdiseCheckpoint(path, TINY);
    try {
      expect(ck.heads.pixelDecoder.keys().sort()).toEqual([...pixelDecoderWeightShapes(TINY.pixelDecoder).keys()].sort());
      expect(ck.heads.decoder.keys().sort()).toEqual([...decoderWeightShapes(TINY.decoder).keys()].sort());
      expect(ck.feature.captioner.keys().sort()).toEqual(['alpha_cond', 'alpha_cond_time_embed', 'clip_project.linear.bias', 'clip_project.linear.weight',
        'clip_project.positional_embedding', 'time_embed_project.linear.bias', 'time_embed_project.linear.weight', 'time_embed_project.positional_embedding']);
      // detectron2's BottleneckBlock has a shortcut only where the tap's width differs from the projection's: the UNet taps
      expect([0, 1, 2, 3, 4, 5, 6, 7].filter((i) => ck.feature.projections.has(`${i}.0.shortcut.weight`))).toEqual([2, 3, 4, 5]);
      expect(ck.feature.projections.shape('2.0.conv1.weight')).toEqual([8, 80, 1, 1]);
      expect(ck.feature.projections.shape('2.0.conv3.norm.weight')).toEqual([32]);
      expect(ck.classification.keys().sort()).toEqual(['null_embed', 'text_proj.bias', 'text_proj.weight']);
      expect(Array.from(ck.classification.read('null_embed'))).toEqual(Array.from(tensors['category_head.null_embed']!.data as Float32Array));
      expect(Array.from(ck.heads.decoder.read('post_mask_embed.logit_scale'))).toEqual(Array.from(tensors['sem_seg_head.predictor.post_mask_embed.logit_scale']!.data as Float32Array));
      expect(ck.heads.decoder.shape('post_mask_embed.logit_scale')).toEqual([]); // 0-d in torch
      expect(ck.warnings).toEqual([]);
    } finally {
      ck.close();
    }
  });

  it('the label model\'s configs imply 28.1 M parameters, the README\'s count of trainable parameters', () => {
    const n = (m: Map<string, number[]>) => [...m.values()].reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0);
    const c = ODISE_LABEL_HEADS;
    const total = n(pixelDecoderWeightShapes(c.pixelDecoder)) + n(decoderWeightShapes(c.decoder)) + n(captionerWeightShapes(c)) + n(projectionWeightShapes(c)) + n(classificationWeightShapes(c));
    expect(total).toBe(28_067_009);
  });

  it('a state dict saved without the "model" wrapper reads the same', () => {
    const bare = write('bare.pth', torchSave(tensors));
    const ck = readOdiseCheckpoint(bare, TINY);
    expect(ck.classification.keys().sort()).toEqual(['null_embed', 'text_proj.bias', 'text_proj.weight']);
    ck.close();
  });

  it('refuses a wrong file naming the file and the key: missing, wrong shape, extra, the caption model, not a file', () => {
    const refused = (t: Record<string, WriteTensor>, name: string) => {
      try {
        readOdiseCheckpoint(write(name, detectron2Checkpoint(t)), TINY).close();
      } catch (e) {
        expect(e).toBeInstanceOf(BundleError);
        return (e as Error).message;
      }
      throw new Error('not refused');
    };
    const { 'category_head.null_embed': _, ...noNull } = tensors;
    expect(refused(noNull, 'a.pth')).toBe(`${join(dir, 'a.pth')}: category_head. (model.category_head.) does not match its config:\n  - missing null_embed [1,24]`);
    const wrong = { ...tensors, 'backbone.feature_projections.3.0.conv1.weight': { dtype: 'F32', shape: [8, 61, 1, 1], data: new Float32Array(8 * 61) } } as Record<string, WriteTensor>;
    expect(refused(wrong, 'b.pth')).toBe(`${join(dir, 'b.pth')}: backbone.feature_projections. (model.backbone.feature_projections.) does not match its config:\n  - 3.0.conv1.weight: shape [8,61,1,1], config implies [8,60,1,1]`);
    const extra = { ...tensors, 'backbone.clip.visual.proj': { dtype: 'F32', shape: [2], data: new Float32Array(2) } } as Record<string, WriteTensor>;
    expect(refused(extra, 'c.pth')).toBe(`${join(dir, 'c.pth')}: 1 weights ODISE's label model does not have (model.backbone.clip.visual.proj): not an ODISE label checkpoint`);
    const caption = Object.fromEntries(Object.entries(tensors).map(([k, v]) => [k.replace(/^category_head\./, 'word_head.'), v]));
    expect(refused(caption, 'd.pth')).toBe(`${join(dir, 'd.pth')} is ODISE's caption model (it has word_head.*, no category_head.*): only the label model (odise_label_coco_50e) is supported`);
    expect(() => readOdiseCheckpoint(join(dir, 'none.pth'))).toThrow(`ODISE checkpoint ${join(dir, 'none.pth')} does not exist`);
    expect(() => readOdiseCheckpoint(write('text.pth', new TextEncoder().encode('not a checkpoint')))).toThrow(BundleError);
  });
});

// ---- OpenAI's TorchScript CLIP ------------------------------------------------------------------------------------

type Tree = { [k: string]: Tree | WriteTensor };
const isTensor = (v: Tree | WriteTensor): v is WriteTensor => 'dtype' in v && 'data' in v;

/** Flat state-dict names as the module tree TorchScript pickles. */
function treeOf(tensors: Record<string, WriteTensor>): Tree {
  const root: Tree = {};
  for (const [k, t] of Object.entries(tensors)) {
    const parts = k.split('.');
    let node = root;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Tree;
    node[parts.at(-1)!] = t;
  }
  return root;
}

/**
 * What torch.jit.save writes for a traced module (torch/csrc/jit/serialization: export_module.cpp, pickler.cpp):
 * storages `<archive>/data/<n>` first, then data.pkl, where each module is `GLOBAL '__torch__.<qualified> <Class>'`,
 * EMPTY_TUPLE, NEWOBJ, then its attributes as a dict (`training`, parameters, buffers, submodules by name) and BUILD;
 * tensors are `_rebuild_tensor_v2` with the persistent id ('storage', torch.HalfStorage, '<n>', 'cpu', numel, None);
 * then code/ (the modules' TorchScript source), constants.pkl (tensor constants of the code, their own storages) and
 * version.
 */
function torchScriptArchive(tensors: Record<string, WriteTensor>, archive = 'ViT-L-14-336px'): Uint8Array {
  const p = new PickleWriter().proto(2);
  const storages: ZipFileEntry[] = [];
  const M = '__torch__.multimodal.model.multimodal_transformer';
  const emit = (node: Tree, cls: [string, string]) => {
    p.global(...cls).emptyTuple().newobj().emptyDict().mark();
    p.str('training').bool(false);
    for (const [k, v] of Object.entries(node)) {
      p.str(k);
      if (isTensor(v)) {
        const key = String(storages.length);
        tensor(p, key, v.dtype, v.shape, true);
        storages.push({ name: `${archive}/data/${key}`, data: new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength) });
      } else emit(v, /^\d+$/.test(Object.keys(v)[0] ?? '') ? ['__torch__.torch.nn.modules.container', 'Sequential'] : [M, k === 'visual' ? 'VisualTransformer' : 'Module']);
    }
    p.setitems().build();
  };
  emit(treeOf(tensors), [M, 'Multimodal']);
  p.stop();
  // constants.pkl: a tuple of the code's tensor constants (the causal mask), with storages of its own
  const c = new PickleWriter().proto(2).mark();
  tensor(c, '0', 'F32', [2, 2], true);
  c.tuple(1).stop();
  return zipArchive([
    ...storages,
    { name: `${archive}/data.pkl`, data: p.toBytes() },
    { name: `${archive}/code/__torch__/multimodal/model/multimodal_transformer.py`, data: Buffer.from('class Multimodal(Module):\n  __parameters__ = ["positional_embedding", ]\n') },
    { name: `${archive}/constants/0`, data: new Uint8Array(Float32Array.of(0, -Infinity, 0, 0).buffer) },
    { name: `${archive}/constants.pkl`, data: c.toBytes() },
    { name: `${archive}/version`, data: Buffer.from('3\n') },
  ]);
}

/** A whole tiny CLIP in openai's names, fp16 as OpenAI released them, with the scalars and buffers its archive holds. */
function openAiClipArchive(): Record<string, WriteTensor> {
  const out = openAiClip({ fp16: true, projection: 16 });
  out['logit_scale'] = { dtype: 'F32', shape: [], data: Float32Array.of(4.6052) };
  for (const [k, v] of [['input_resolution', 32n], ['context_length', 77n], ['vocab_size', 1000n]] as const) out[k] = { dtype: 'I64', shape: [], data: BigInt64Array.of(v) };
  return out;
}

describe('OpenAI TorchScript CLIP archive', () => {
  const tensors = openAiClipArchive();
  const path = write('ViT-L-14-336px.pt', torchScriptArchive(tensors));

  it('reads both towers from data.pkl\'s module objects without running anything; code/ and constants.pkl are not read', () => {
    const clip = readOpenAiClip(path, { vision: 4, text: 4 });
    try {
      expect(clip.torchScript).toBe(true);
      expect(clip.warnings).toEqual([]);
      expect(clip.visual.config.image_size).toBe(32);
      expect(clip.text.config).toEqual(parseClipTextConfig(JSON.parse(readFileSync(golden('clip_D', 'config.json'), 'utf8'))));
      expect(clip.text.projectionDim).toBe(16);
      // the fp16 bits come through unchanged: q rows of in_proj, and the projection transposed
      const inProj = tensors['transformer.resblocks.1.attn.in_proj_weight']!.data as Uint16Array;
      expect(Array.from(clip.text.weights.readF16Bits!('text_model.encoder.layers.1.self_attn.k_proj.weight')!)).toEqual(Array.from(inProj.slice(32 * 32, 64 * 32)));
      const P = clip.text.weights.read('text_projection.weight');
      const src = SafetensorsFile.fromBytes(encodeSafetensors({ p: tensors['text_projection']! })).readFloat32('p');
      expect(P[1 * 32 + 5]).toBe(src[5 * 16 + 1]);
      const conv = clip.visual.weights.read('vision_model.embeddings.patch_embedding.weight');
      expect(Array.from(conv)).toEqual(Array.from(SafetensorsFile.fromBytes(encodeSafetensors({ c: tensors['visual.conv1.weight']! })).readFloat32('c')));
    } finally {
      clip.close();
    }
  });

  it('ODISE refuses any CLIP but ViT-L/14 at 336 px, and files that are not CLIP, naming the file and the key', () => {
    expect(() => readOdiseClip(path)).toThrow(`${path}: a 32-wide tower cannot have openai's 64-wide heads; give the number of attention heads`);
    const noText = Object.fromEntries(Object.entries(tensors).filter(([k]) => k.startsWith('visual.')));
    const p2 = write('visual-only.pt', torchScriptArchive(noText));
    expect(() => readOpenAiClip(p2, { vision: 4 })).toThrow(`${p2} is not a CLIP model in openai's layout (no token_embedding.weight)`);
    // a 64-wide CLIP (openai's heads rule holds) at 16 px: read, then refused for its size
    const small: Record<string, WriteTensor> = {};
    const z = (k: string, shape: number[]) => (small[k] = { dtype: 'F16', shape, data: new Uint16Array(shape.reduce((a, b) => a * b, 1)) });
    const block = (p: string) => {
      z(`${p}.attn.in_proj_weight`, [192, 64]); z(`${p}.attn.in_proj_bias`, [192]); z(`${p}.attn.out_proj.weight`, [64, 64]); z(`${p}.attn.out_proj.bias`, [64]);
      for (const n of ['ln_1', 'ln_2']) (z(`${p}.${n}.weight`, [64]), z(`${p}.${n}.bias`, [64]));
      z(`${p}.mlp.c_fc.weight`, [256, 64]); z(`${p}.mlp.c_fc.bias`, [256]); z(`${p}.mlp.c_proj.weight`, [64, 256]); z(`${p}.mlp.c_proj.bias`, [64]);
    };
    z('visual.conv1.weight', [64, 3, 8, 8]); z('visual.class_embedding', [64]); z('visual.positional_embedding', [5, 64]);
    for (const n of ['visual.ln_pre', 'visual.ln_post', 'ln_final']) (z(`${n}.weight`, [64]), z(`${n}.bias`, [64]));
    block('visual.transformer.resblocks.0');
    z('visual.proj', [64, 32]);
    z('token_embedding.weight', [10, 64]); z('positional_embedding', [5, 64]); z('text_projection', [64, 32]);
    block('transformer.resblocks.0');
    const p3 = write('ViT-tiny.pt', torchScriptArchive(small, 'ViT-tiny'));
    const ok = readOpenAiClip(p3);
    expect([ok.visual.config.num_attention_heads, ok.text.config.num_attention_heads, ok.visual.config.image_size]).toEqual([1, 1, 16]);
    ok.close();
    expect(() => readOdiseClip(p3)).toThrow(`${p3} is a CLIP ViT 64 wide with 1 layers and 8-pixel patches at 16 px; ODISE needs ViT-L/14 at 336 px (OpenAI's ViT-L-14-336px.pt)`);
    const odise = write('odise.pth', detectron2Checkpoint(odiseStateDict(TINY)));
    expect(() => readOdiseClip(odise)).toThrow(`${odise} is not a CLIP model in openai's layout (no visual.conv1.weight)`);
  });
});

// ---- SD 1.3's Lightning .ckpt ---------------------------------------------------------------------------------------

describe('SD Lightning checkpoint (ZIP64)', () => {
  const ldm = SafetensorsFile.fromBytes(buildLdmCheckpoint());
  const tensors: Record<string, WriteTensor> = {};
  for (const k of ldm.keys()) tensors[k] = ldm.readRaw(k);
  const configs = {
    unet: parseUNetConfig(JSON.parse(readFileSync(golden('unet_A', 'config.json'), 'utf8'))),
    vae: parseVaeConfig(JSON.parse(readFileSync(golden('vae_C', 'config.json'), 'utf8'))),
    textEncoder: parseClipTextConfig(JSON.parse(readFileSync(golden('clip_D', 'config.json'), 'utf8'))),
  };

  it('state_dict → model.diffusion_model / first_stage_model / cond_stage_model through the LDM key map; model_ema is left', () => {
    const path = write('sd-v1-3.ckpt', torchSave(tensors, { lightning: true, zip64: true, prefix: 'sd-v1-3' }));
    const sd = readOdiseSd(path, configs);
    try {
      const unet = SafetensorsFile.open(golden('unet_A', 'diffusion_pytorch_model.safetensors'));
      expect(Array.from(sd.unet.read('up_blocks.1.resnets.2.conv_shortcut.weight'))).toEqual(Array.from(unet.readFloat32('up_blocks.1.resnets.2.conv_shortcut.weight')));
      const vae = SafetensorsFile.open(golden('vae_C', 'diffusion_pytorch_model.safetensors'));
      expect(Array.from(sd.vae.read('decoder.up_blocks.0.resnets.2.conv1.weight'))).toEqual(Array.from(vae.readFloat32('decoder.up_blocks.0.resnets.2.conv1.weight')));
      expect(sd.textEncoder.has('text_model.final_layer_norm.weight')).toBe(true);
      // Lightning's callbacks and hyper-parameters are recorded, not run, and said
      expect(sd.warnings).toEqual([`${path} refers to Python code that was not run (read as inert data): pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint, pytorch_lightning.utilities.parsing.AttributeDict`]);
    } finally {
      sd.close();
    }
  });

  it('refuses a checkpoint without its VAE, naming the file and the weights', () => {
    const noVae = Object.fromEntries(Object.entries(tensors).filter(([k]) => !k.startsWith('first_stage_model.')));
    const path = write('no-vae.ckpt', torchSave(noVae, { lightning: true }));
    expect(() => readOdiseSd(path, configs)).toThrow(`${path}: the VAE (first_stage_model.*) does not match its config`);
    expect(() => readOdiseSd(path, configs)).toThrow('missing encoder.conv_in.weight');
  });
});
