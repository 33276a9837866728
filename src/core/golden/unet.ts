// diffusers UNet2DConditionModel: per run (timestep), noise_pred, every block feature and, where the run stores
// them, every self/cross attention map, the per-resolution means of the self-attention maps and the attention
// layer table (module path, feature-map size, heads).
import { basename, join, resolve } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { buildUNet, type AttentionLayerInfo, type UNetBuildOptions } from '../ml/models/unet';
import { parseUNetConfig } from '../ml/models/unetConfig';
import { openWeights, SafetensorsFile } from '../ml/weights';
import {
  compareValues, exactCheck, floatTensor, MODEL_ATOL, readJsonAs, readJsonObject, ReferenceOutputs, runGraph, type CaseManifest, type GoldenKind, type OutputCheck,
} from './compare';

const AttentionMap = z.object({ tensor: z.string(), module: z.string(), feature_hw: z.array(z.number()), heads: z.number(), head_dim: z.number() });
type AttentionMap = z.infer<typeof AttentionMap>;
const Run = z.object({ tag: z.string(), inputs_file: z.string(), outputs_file: z.string(), attention_maps: z.array(AttentionMap).optional() });
type Run = z.infer<typeof Run>;
const Index = z.object({ cases: z.record(z.string(), z.object({ dir: z.string(), runs: z.array(Run).optional() })) });

export const unetKind: GoldenKind = {
  title: 'diffusers UNet2DConditionModel',
  async check(dir, manifest) {
    const config = parseUNetConfig(readJsonObject(join(dir, 'config.json')));
    const weights = openWeights(join(dir, 'diffusion_pytorch_model.safetensors'));
    const checks: OutputCheck[] = [];
    for (const run of runsOf(dir, manifest)) {
      const inp = SafetensorsFile.open(join(dir, run.inputs_file));
      const ref = new ReferenceOutputs(SafetensorsFile.open(join(dir, run.outputs_file)), `${run.tag}/`);
      // A run that stores the attention maps is built with static sizes (the per-resolution means are then keyed
      // by size); the others with symbolic batch and size, so both kinds of graph are checked.
      const maps = ref.file.keys().some((k) => k.startsWith('self_attn.'));
      const [batch, , height, width] = inp.info('sample').shape;
      const opts: UNetBuildOptions = maps ? { selfAttention: 'both', crossAttention: true, features: true, batch, height, width } : { features: true };
      const built = buildUNet(config, weights, opts);
      const r = await runGraph(built.graph, {
        sample: floatTensor(inp, 'sample'), timestep: floatTensor(inp, 'timestep'), encoder_hidden_states: floatTensor(inp, 'encoder_hidden_states'),
      });
      for (const k of ref.file.keys()) ref.tensor(r[k], k);
      checks.push(...ref.checks());
      if (maps) {
        const selfMaps = (run.attention_maps ?? []).filter((m) => m.tensor.startsWith('self_attn.'));
        checks.push(layerTableCheck(run.tag, built.attentionLayers, selfMaps), ...meanChecks(run.tag, r, ref.file, selfMaps));
      }
    }
    return checks;
  },
};

/** The runs of the case, from the golden set's index beside it (../manifest.json), which the case's manifest points to. */
function runsOf(dir: string, manifest: CaseManifest): Run[] {
  const indexPath = join(dir, '..', 'manifest.json');
  const name = typeof manifest['case'] === 'string' ? manifest['case'] : basename(resolve(dir));
  const runs = Object.values(readJsonAs(indexPath, Index).cases).find((c) => c.dir === name)?.runs;
  if (!runs?.length) throw new Error(`${indexPath} lists no runs for case ${name} (each run names its inputs, outputs and attention layers)`);
  return runs;
}

/** Our attn1 layers in forward order against the reference's module paths, feature-map sizes and head counts. */
function layerTableCheck(tag: string, layers: AttentionLayerInfo[], selfMaps: AttentionMap[]): OutputCheck {
  const ours = layers.map((l) => `${l.module}.attn1 ${l.height}x${l.width} ${l.heads}/${l.headDim}`);
  const want = selfMaps.map((m) => `${m.module} ${m.feature_hw.join('x')} ${m.heads}/${m.head_dim}`);
  const rows = Array.from({ length: Math.max(ours.length, want.length) }, (_, i) => i);
  return exactCheck(`${tag}/attention layers`, rows, (i) => (ours[i] === want[i] ? undefined : `layer ${i}: ${ours[i] ?? 'none'}, reference ${want[i] ?? 'none'}`));
}

/** The graph's `self_attn_mean.HxW` against the mean of the reference maps of that feature-map size. */
function meanChecks(tag: string, r: Record<string, ort.Tensor>, file: SafetensorsFile, selfMaps: AttentionMap[]): OutputCheck[] {
  const groups = new Map<string, string[]>();
  for (const m of selfMaps) {
    const key = m.feature_hw.join('x');
    groups.set(key, [...(groups.get(key) ?? []), m.tensor]);
  }
  return [...groups].map(([key, names]) => {
    const maps = names.map((n) => file.readFloat32(n));
    const mean = maps[0]!.map((_, j) => maps.reduce((a, m) => a + m[j]!, 0) / maps.length);
    return compareValues(`${tag}/self_attn_mean.${key}`, r[`self_attn_mean.${key}`], { data: mean, dims: file.info(names[0]!).shape }, MODEL_ATOL);
  });
}
