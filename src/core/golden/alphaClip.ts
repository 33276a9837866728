// Alpha-CLIP's visual tower read from its own state dict (openai key names + conv1_alpha), and what Ref LDM-Seg
// conditions its UNet with: the support image resized bilinearly (no antialiasing) to the tower's size, the mask as
// alpha ((m − 0.5) / 0.26 after a nearest resize), the pre-ln_post patch tokens, the token-grid mask, and the null
// condition of its -n variant (zero image, all-ones mask).
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { GraphBuilder } from '../ml/graph';
import { buildClipVisionEncoder } from '../ml/models/clipVision';
import { gridSize, type ClipVisionConfig } from '../ml/models/clipVisionConfig';
import { openAiVisionSource } from '../ml/models/clipVisionWeights';
import { alphaFromMask, tokenMaskFromMask } from '../ml/models/clipPreprocess';
import { openTensorFile, SafetensorsFile } from '../ml/weights';
import { exactCheck, floatTensor, readJsonAs, ReferenceOutputs, runGraph, type GoldenKind } from './compare';

// openai's layout does not record the head count of this 48-wide tower (openai's own rule is width / 64).
const Config = z.object({ heads: z.number().int().positive() });

const OUTPUTS: [ours: string, reference: string][] = [
  ['patch_embeds', 'patch_embed_rgb'], ['alpha_patch_embeds', 'patch_embed_alpha'], ['embeddings', 'embeddings'],
  ['last_hidden_state', 'transformer_out'], ['patch_tokens', 'refldmseg_tokens'], ['pooler_output', 'ln_post_cls'], ['image_embeds', 'image_embeds'],
];

export const alphaClipKind: GoldenKind = {
  title: 'Alpha-CLIP visual tower and Ref LDM-Seg conditioning',
  async check(dir) {
    const { heads } = readJsonAs(join(dir, 'config.json'), Config);
    const { config, weights } = openAiVisionSource(openTensorFile(join(dir, 'alpha_clip_visual.safetensors')), 'alpha_clip_visual.safetensors', { heads });
    const inp = SafetensorsFile.open(join(dir, 'inputs.safetensors'));
    const ref = new ReferenceOutputs(SafetensorsFile.open(join(dir, 'outputs.safetensors')));
    const graph = buildClipVisionEncoder(config, weights, { embeddings: true, hiddenStates: true, attentionProbs: true, patchTokens: true, pooled: true }).graph;

    const support = await conditionInputs(config, inp, 'support_image', 'support_mask');
    ref.tensor(support.pixels, 'model_input_image');
    ref.tensor(support.alpha, 'model_input_alpha');
    const r = await runGraph(graph, { pixel_values: support.pixels, alpha: support.alpha });
    for (const [ours, theirs] of OUTPUTS) ref.tensor(r[ours], theirs);
    for (let i = 0; i <= config.num_hidden_layers; i++) ref.tensor(r[`hidden_states.${i}`], `hidden_states.${i}`);
    for (let i = 0; i < config.num_hidden_layers; i++) ref.tensor(r[`attn_probs.${i}`], `attn_probs_headavg.${i}`);
    ref.add(maskCheck('refldmseg_attn_mask', support.tokenMask, ref.file), 'refldmseg_attn_mask', 'refldmseg_attn_mask_float32');

    const nul = await conditionInputs(config, inp, 'null_support_image', 'null_support_mask');
    const n = await runGraph(graph, { pixel_values: nul.pixels, alpha: nul.alpha });
    ref.tensor(n['patch_tokens'], 'null_tokens');
    ref.add(maskCheck('null_attn_mask', nul.tokenMask, ref.file), 'null_attn_mask', 'null_attn_mask_float32');
    return ref.checks();
  },
};

/** The tower's inputs for a support image [B,3,H,W] in [-1,1] and its mask [B,1,H,W], and the token-grid mask. */
async function conditionInputs(c: ClipVisionConfig, inp: SafetensorsFile, image: string, mask: string) {
  const S = c.image_size;
  const [B, C, H, W] = inp.info(image).shape as [number, number, number, number];
  // F.interpolate(bilinear, align_corners=False) = ONNX Resize linear with half-pixel centres, no antialiasing.
  const g = new GraphBuilder('support_resize');
  g.output(g.resize(g.input('x', 'float32', [B, C, H, W]), { sizes: [B, C, S, S], mode: 'linear', coordinateTransformationMode: 'half_pixel' }), 'y');
  const pixels = (await runGraph(g, { x: floatTensor(inp, image) }))['y']!;
  const m = inp.readFloat32(mask);
  const planes = Array.from({ length: B }, (_, b) => m.subarray(b * H * W, (b + 1) * H * W));
  const alpha = new ort.Tensor('float32', Float32Array.from(planes.flatMap((p) => Array.from(alphaFromMask(p, W, H, S)))), [B, 1, S, S]);
  const grid = gridSize(c);
  const tokenMask = planes.map((p) => tokenMaskFromMask(p, W, H, grid));
  return { pixels, alpha, tokenMask };
}

/** Our token masks against the reference's int64 mask and its float32 copy, entry by entry. */
function maskCheck(name: string, ours: Uint8Array[], file: SafetensorsFile) {
  const want = file.readRaw(name).data as BigInt64Array;
  const wantF = file.readFloat32(`${name}_float32`);
  const got = ours.flatMap((m) => Array.from(m));
  if (got.length !== want.length) return { name, measure: 'mismatches', error: Infinity, tolerance: 0, total: want.length, detail: `${got.length} entries, reference ${want.length}` } as const;
  return exactCheck(name, got, (v, i) => (BigInt(v) !== want[i] || v !== wantF[i] ? `entry ${i}: ${v}, reference ${want[i]}` : undefined));
}
