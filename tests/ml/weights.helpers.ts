// Shared by the weights and models tests: the golden directory and a tiny original-layout (LDM) checkpoint
// written from the golden diffusers weights with our own inverse key map and safetensors writer.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import {
  diffusersToLdmUnetKey, diffusersToLdmVaeKey, encodeSafetensors, LDM_PREFIX, SafetensorsFile, type WriteTensor,
} from '../../src/core/ml/weights';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const GOLDEN = join(REPO_ROOT, 'tests', 'golden');
export const golden = (...p: string[]) => join(GOLDEN, ...p);

/** Builds a single-file SD 1.x checkpoint (unet_A + vae_C + clip_D) in LDM key layout, in memory. */
export function buildLdmCheckpoint(): Uint8Array {
  const out: Record<string, WriteTensor> = {};
  const unet = SafetensorsFile.open(golden('unet_A', 'diffusion_pytorch_model.safetensors'));
  const upAttn = (b: number) => b > 0; // unet_A: UpBlock2D then 3 CrossAttnUpBlock2D
  for (const k of unet.keys()) {
    const r = unet.readRaw(k);
    out[LDM_PREFIX.unet + diffusersToLdmUnetKey(k, 2, upAttn)] = { dtype: r.dtype, shape: r.shape, data: r.data };
  }
  const vae = SafetensorsFile.open(golden('vae_C', 'diffusion_pytorch_model.safetensors'));
  for (const k of vae.keys()) {
    const r = vae.readRaw(k);
    const { name, unsqueeze } = diffusersToLdmVaeKey(k, 4);
    out[LDM_PREFIX.vae + name] = { dtype: r.dtype, shape: unsqueeze ? [...r.shape, 1, 1] : r.shape, data: r.data };
  }
  const clip = SafetensorsFile.open(golden('clip_D', 'model.safetensors'));
  for (const k of clip.keys()) {
    const r = clip.readRaw(k);
    out[LDM_PREFIX.clip + k] = { dtype: r.dtype, shape: r.shape, data: r.data };
  }
  // SD checkpoints carry the CLIP position_ids buffer and EMA copies; both must be skipped.
  out[`${LDM_PREFIX.clip}text_model.embeddings.position_ids`] = { dtype: 'I64', shape: [1, 77], data: BigInt64Array.from({ length: 77 }, (_, i) => BigInt(i)) };
  out['model_ema.decay'] = { dtype: 'F32', shape: [], data: Float32Array.of(0.9999) };
  for (const f of [unet, vae, clip]) f.close();
  return encodeSafetensors(out);
}
