// Mask2Former's MultiScaleMaskedTransformerDecoder and ODISE's variant (constant class logits, pooled mask
// embeddings): final and auxiliary predictions, every attention mask as built and as used, attention maps, query
// features and mask-embedding MLP outputs, built for the case's sizes; then the final predictions of the graph built
// for any size.
import { join } from 'node:path';
import type * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { buildMaskDecoder, parseDecoderConfig, type DecoderConfig } from '../ml/models/mask2former';
import { openWeights, SafetensorsFile } from '../ml/weights';
import { compareTensor, exactCheck, floatTensor, readJsonAs, ReferenceOutputs, runGraph, type GoldenKind, type OutputCheck } from './compare';

const Config = z.object({
  mask2former_constructor: z.record(z.string(), z.unknown()),
  odise_constructor: z.record(z.string(), z.unknown()),
  odise: z.object({ projection_dim: z.number(), temperature: z.number() }),
});

/** The case's two decoders. ODISE's constructor names its class head and PooledMaskEmbed in words; `odise` has their numbers. */
export function decoderConfigs(json: unknown): { plain: DecoderConfig; odise: DecoderConfig } {
  const r = Config.safeParse(json);
  if (!r.success) throw new Error(`config.json: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  const { class_embed: _, post_mask_embed: __, ...odise } = r.data.odise_constructor;
  return {
    plain: parseDecoderConfig(r.data.mask2former_constructor),
    odise: parseDecoderConfig({ ...odise, class_embed: 'pseudo', post_mask_embed: r.data.odise }),
  };
}

const isMask = (k: string) => k.startsWith('attn_mask.') || k.startsWith('memory_mask.');
const isFinal = (k: string) => !isMask(k) && !k.startsWith('debug.') && !k.startsWith('aux_outputs.');

export const mask2formerDecoderKind: GoldenKind = {
  title: 'Mask2Former MultiScaleMaskedTransformerDecoder and ODISE\'s variant',
  async check(dir) {
    const { plain, odise } = decoderConfigs(readJsonAs(join(dir, 'config.json'), z.unknown()));
    const inp = SafetensorsFile.open(join(dir, 'inputs.safetensors'));
    const checks: OutputCheck[] = [];
    for (const [variant, c, maskFeatures] of [['mask2former', plain, 'mask_features'], ['odise', odise, 'mask_features_32ch_for_odise_variant']] as const) {
      const w = openWeights(join(dir, `${variant}_weights.safetensors`));
      const ref = new ReferenceOutputs(SafetensorsFile.open(join(dir, `${variant}_outputs.safetensors`)), `${variant}/`);
      const feeds: Record<string, ort.Tensor> = { mask_features: floatTensor(inp, maskFeatures) };
      for (let i = 0; i < 3; i++) feeds[`x.${i}`] = floatTensor(inp, `x.${i}`);
      const hw = (name: string) => inp.info(name).shape.slice(2) as [number, number];
      const sizes = { levels: [0, 1, 2].map((i) => hw(`x.${i}`)), maskFeatures: hw(maskFeatures) };
      const { graph, outputs } = buildMaskDecoder(c, w, { sizes, batch: inp.info(maskFeatures).shape[0], aux: true, debug: true });
      const r = await runGraph(graph, feeds);
      for (const k of outputs) {
        if (isMask(k)) ref.add(maskCheck(`${variant}/${k}`, r[k], ref.file.readFloat32(k)), k);
        else ref.tensor(r[k], k);
      }
      checks.push(...ref.checks());
      // What a pipeline runs: any size, final predictions only (ODISE's pooling then runs for the last one alone).
      const any = await runGraph(buildMaskDecoder(c, w).graph, feeds);
      checks.push(...ref.file.keys().filter(isFinal).map((k) => compareTensor(`${variant} (any size)/${k}`, any[k], ref.file, k)));
    }
    return checks;
  },
};

/** A boolean mask (1 = may not attend) entry by entry. */
function maskCheck(name: string, got: ort.Tensor | undefined, want: Float32Array): OutputCheck {
  const ours = got ? Array.from(got.data as Float32Array) : [];
  if (ours.length !== want.length) return { name, measure: 'mismatches', error: Infinity, tolerance: 0, total: want.length, detail: `${ours.length} entries, reference ${want.length}` };
  return exactCheck(name, ours, (v, i) => (v === want[i] ? undefined : `entry ${i}: ${v}, reference ${want[i]}`));
}
