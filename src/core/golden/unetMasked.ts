// diffusers UNet2DConditionModel with an encoder_attention_mask, as Ref LDM-Seg conditions it: per run, noise_pred
// with the mask and without it, every block feature, encoder_hid_proj's output where the model has one, and, where
// the run stores them, the head-averaged cross-attention maps and their layer table. The models are the unet_A and
// unet_B cases beside this one and the case's own unet_A_hidproj (unet_A + encoder_hid_proj).
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { buildUNet, type AttentionLayerInfo, type UNetBuildOptions } from '../ml/models/unet';
import { parseUNetConfig } from '../ml/models/unetConfig';
import { openWeights, SafetensorsFile } from '../ml/weights';
import { exactCheck, floatTensor, int64Tensor, MODEL_ATOL, readJsonAs, readJsonObject, ReferenceOutputs, runGraph, type GoldenKind, type OutputCheck } from './compare';

/**
 * A run whose mask hides every key: diffusers adds the −10000 inside its fused baddbmm, we after the scaled scores;
 * the float32 rounding of s − 10000 (spacing 2⁻¹⁰) then moves the block outputs by up to 5.5e-4 (mid_block).
 */
const ALL_MASKED_ATOL = 2e-3;

const CrossLayer = z.object({ tensor: z.string(), module: z.string(), feature_hw: z.array(z.number()), heads: z.number(), head_dim: z.number() });
type CrossLayer = z.infer<typeof CrossLayer>;
const Run = z.object({
  tag: z.string(), model: z.string(), inputs_file: z.string(), outputs_file: z.string(),
  cross_attention_maps_stored: z.boolean(), cross_attention: z.array(CrossLayer),
});
const Manifest = z.object({ case: z.object({ models: z.record(z.string(), z.object({ dir: z.string() })), runs: z.array(Run).min(1) }) });

export const unetMaskedKind: GoldenKind = {
  title: 'diffusers UNet2DConditionModel with encoder_attention_mask and encoder_hid_proj',
  async check(dir) {
    const { models, runs } = readJsonAs(join(dir, 'manifest.json'), Manifest).case;
    const checks: OutputCheck[] = [];
    for (const run of runs) {
      const model = models[run.model];
      if (!model) throw new Error(`${join(dir, 'manifest.json')}: run ${run.tag} uses model ${run.model}, which the case does not list`);
      const modelDir = join(dir, model.dir);
      const config = parseUNetConfig(readJsonObject(join(modelDir, 'config.json')));
      const weights = openWeights(join(modelDir, 'diffusion_pytorch_model.safetensors'));
      const inp = SafetensorsFile.open(join(dir, run.inputs_file));
      const ref = new ReferenceOutputs(SafetensorsFile.open(join(dir, run.outputs_file)), `${run.tag}/`);
      const mask = maskInput(inp);
      const [batch, , height, width] = inp.info('sample').shape;
      const textLength = inp.info('encoder_hidden_states').shape[1];
      // Runs with maps get static sizes, the others symbolic batch and size, so that both kinds of graph are checked.
      const maps = run.cross_attention_maps_stored;
      const sizes: UNetBuildOptions = maps ? { batch, height, width, textLength } : { textLength };
      const feeds = { sample: floatTensor(inp, 'sample'), timestep: floatTensor(inp, 'timestep'), encoder_hidden_states: floatTensor(inp, 'encoder_hidden_states') };

      const built = buildUNet(config, weights, { ...sizes, features: true, crossAttention: maps, encoderAttentionMask: true });
      const r = await runGraph(built.graph, { ...feeds, encoder_attention_mask: mask.tensor });
      const atol = mask.rowWithoutKeys ? ALL_MASKED_ATOL : MODEL_ATOL;
      for (const k of ref.file.keys().filter((k) => k !== 'noise_pred_nomask')) ref.tensor(r[k === 'encoder_hid_proj_out' ? 'encoder_hid_proj' : k], k, atol);
      if (ref.file.keys().includes('noise_pred_nomask')) {
        const plain = await runGraph(buildUNet(config, weights, sizes).graph, feeds);
        ref.tensor(plain['noise_pred'], 'noise_pred_nomask');
      }
      checks.push(...ref.checks());
      if (maps) checks.push(crossLayerCheck(run.tag, built.attentionLayers, run.cross_attention));
    }
    return checks;
  },
};

/** The run's 0/1 int64 mask as the graph's float32 input (diffusers: mask.to(sample.dtype)), and whether a row keeps no key. */
function maskInput(inp: SafetensorsFile) {
  const m = int64Tensor(inp, 'encoder_attention_mask');
  const [rows, keys] = m.dims as [number, number];
  const values = Float32Array.from(m.data as BigInt64Array, Number);
  const rowWithoutKeys = Array.from({ length: rows }, (_, i) => values.subarray(i * keys, (i + 1) * keys)).some((row) => !row.includes(1));
  return { tensor: new ort.Tensor('float32', values, m.dims), rowWithoutKeys };
}

/** Our attn2 layers in forward order against the reference's module paths, feature-map sizes and head counts. */
function crossLayerCheck(tag: string, layers: AttentionLayerInfo[], want: CrossLayer[]): OutputCheck {
  const ours = layers.map((l) => `${l.module}.attn2 ${l.height}x${l.width} ${l.heads}/${l.headDim}`);
  const theirs = want.map((m) => `${m.module} ${m.feature_hw.join('x')} ${m.heads}/${m.head_dim}`);
  const rows = Array.from({ length: Math.max(ours.length, theirs.length) }, (_, i) => i);
  return exactCheck(`${tag}/cross-attention layers`, rows, (i) => (ours[i] === theirs[i] ? undefined : `layer ${i}: ${ours[i] ?? 'none'}, reference ${theirs[i] ?? 'none'}`));
}
