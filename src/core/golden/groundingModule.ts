// Grounded diffusion's grounding module (Segmodule, with its widths patched down for a tiny UNet): the mask logits
// and masks of the call test.py makes (train mode: batch statistics; the first call after loading) and of the
// module in eval mode, every submodule output the case stores, the buffers the train-mode call leaves behind, and the
// widths the loader reads off the state dict. The case keeps its two large files in parts (readCaseFile).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { buildGroundingModule, groundingModuleSource, groundingWeightShapes, type GroundingConfig } from '../ml/models/grounding';
import { openTensorFile, SafetensorsFile } from '../ml/weights';
import {
  compareValues, exactCheck, floatTensor, MODEL_ATOL, readJsonAs, ReferenceOutputs, runGraph, type CaseManifest, type GoldenKind, type OutputCheck,
} from './compare';

const Config = z.object({
  unet_channels: z.array(z.number().int().positive()).length(4),
  feature_channels: z.array(z.number().int().positive()).length(4),
  context_dim: z.number().int(),
  embedding_dim: z.number().int(),
  num_heads: z.number().int().positive(),
  num_layers: z.number().int(),
  hidden_dim: z.number().int(),
});
const Listed = z.object({ files: z.array(z.object({ path: z.string(), bytes: z.number(), sha256: z.string() })) });

const FEATURES = 'diffusion_features.';
const AFTER = 'train.buffers_after_call.';

/**
 * A file of the case, whole or kept in parts (`<name>.part1`, `.part2`, … put together byte for byte, so that no
 * file in the repository is over 5 MB); the whole file's size and sha256 in the case's manifest check the parts.
 */
export function readCaseFile(dir: string, name: string, manifest: CaseManifest): Uint8Array {
  const whole = join(dir, name);
  if (existsSync(whole)) return readFileSync(whole);
  const parts: Buffer[] = [];
  for (let i = 1; existsSync(`${whole}.part${i}`); i++) parts.push(readFileSync(`${whole}.part${i}`));
  if (!parts.length) throw new Error(`no ${name} and no ${name}.part1 in ${dir}`);
  const listed = Listed.safeParse(manifest).data?.files.find((f) => f.path === name);
  if (!listed) throw new Error(`${join(dir, 'manifest.json')} does not list ${name}: its parts cannot be checked`);
  const bytes = Buffer.concat(parts);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== listed.sha256 || bytes.length !== listed.bytes)
    throw new Error(`${name}.part1..part${parts.length} put together do not match manifest.json (sha256 ${sha.slice(0, 12)}…, expected ${listed.sha256.slice(0, 12)}…)`);
  return bytes;
}

export const groundingModuleKind: GoldenKind = {
  title: 'Grounded-Diffusion grounding module (train and eval mode)',
  async check(dir, manifest) {
    const cfg = readJsonAs(join(dir, 'config.json'), Config);
    const file = openTensorFile(join(dir, 'weights.safetensors'));
    try {
      const inp = SafetensorsFile.fromBytes(readCaseFile(dir, 'inputs.safetensors', manifest), 'inputs.safetensors');
      const ref = new ReferenceOutputs(SafetensorsFile.fromBytes(readCaseFile(dir, 'outputs.safetensors', manifest), 'outputs.safetensors'));
      const feeds = Object.fromEntries(inp.keys().map((k) => [k.startsWith(FEATURES) ? k.slice(FEATURES.length) : k, floatTensor(inp, k)]));
      for (const mode of ['train', 'eval'] as const) {
        const { config, weights } = groundingModuleSource(file, 'weights.safetensors', { heads: cfg.num_heads, unetChannels: cfg.unet_channels, mode });
        if (mode === 'train') ref.add(configCheck(config, cfg));
        const train = mode === 'train';
        const r = await runGraph(buildGroundingModule(config, weights, { debug: true, batchStatistics: train }).graph, feeds);
        ref.tensor(r['logits'], `${mode}.seg_result`);
        ref.add(maskCheck(`${mode}.mask`, r['mask'], ref.file.readFloat32(`${mode}.seg_result`)));
        const debug = `${mode}.debug.`;
        for (const k of ref.file.keys()) if (k.startsWith(debug)) ref.tensor(r[k.slice(debug.length)], k);
        if (!train) continue;
        const batch = Object.fromEntries(Object.entries(r).map(([k, t]) => [k, t.data as Float32Array]));
        const after = weights.buffersAfterCall(batch, inp.info('text_embedding').shape[0]!);
        const shapes = groundingWeightShapes(config);
        for (const k of ref.file.keys()) {
          if (!k.startsWith(AFTER)) continue;
          const name = k.slice(AFTER.length);
          const got = after.get(name);
          ref.add(compareValues(k, got && new ort.Tensor('float32', got, shapes.get(name)), { data: ref.file.readFloat32(k), dims: ref.file.info(k).shape }, MODEL_ATOL), k);
        }
      }
      return ref.checks();
    } finally {
      file.close();
    }
  },
};

/** The widths the loader read off the state dict against the case's config. */
function configCheck(ours: GroundingConfig, want: z.infer<typeof Config>): OutputCheck {
  const keys = ['feature_channels', 'context_dim', 'embedding_dim', 'num_layers', 'hidden_dim'] as const;
  const text = (v: unknown) => JSON.stringify(v);
  return exactCheck('config', [...keys], (k) => (text(ours[k]) === text(want[k]) ? undefined : `${k}: ${text(ours[k])}, reference ${text(want[k])}`));
}

/**
 * Our mask against test.py's `sigmoid(logits) > 0.5` on the reference logits (in float32). Pixels whose reference
 * logit is within the logits' tolerance of 0 are not counted: float32 rounding may put them on either side.
 */
function maskCheck(name: string, got: ort.Tensor | undefined, logits: Float32Array): OutputCheck {
  if (!got || got.type !== 'bool' || got.data.length !== logits.length)
    return { name, measure: 'mismatches', error: Infinity, tolerance: 0, total: logits.length, detail: got ? `${got.type} [${got.dims.join(',')}]` : 'no mask output' };
  const ours = got.data as Uint8Array;
  const sure = Array.from(logits.keys()).filter((i) => Math.abs(logits[i]!) > MODEL_ATOL);
  return exactCheck(name, sure, (i) => {
    const want = Math.fround(1 / (1 + Math.exp(-logits[i]!))) > 0.5;
    return Boolean(ours[i]) === want ? undefined : `pixel ${i}: ${Boolean(ours[i])}, reference ${want} (logit ${logits[i]})`;
  });
}
