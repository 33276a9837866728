// Ref LDM-Seg's released files as a conversion source: the UNet from accelerate/DeepSpeed's
// `checkpoint-N/pytorch_model/mp_rank_00_model_states.pt` (its `module` holds the state dict under diffusers' names,
// plus encoder_hid_proj; bf16 or fp32), an SD 1.5 VAE (diffusers folder or SD 1.x single file). The Alpha-CLIP tower
// is opened by imageEncoder.ts. The variant is read off the weights: conv_in with 4 input channels is -f (one pass at
// t = 0 on the query latent), 8 is -n (DDPM on [noisy latent ‖ image latent]). Everything is checked before anything
// is built, and a wrong or partial file is refused with the file and the key that are wrong.
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseUNetConfig, parseVaeConfig, SD15_UNET_CONFIG, SD15_VAE_CONFIG, unetWeightShapes, vaeWeightShapes, type UNetConfig, type VaeConfig } from '../models';
import { fileSource, LDM_PREFIX, MappedSource, openSingleFile, type MappedEntry, type TensorFile, type WeightSource } from '../weights';
import { checkShapes, componentWeights, noteUnread, openWeightsFile, parseConfig, readJson, type CheckpointSource, type ConfigOverrides, type SourceComponent } from './checkpoint';
import { BundleError } from './errors';

export interface RefLdmSegFiles {
  /** The DeepSpeed model-states file (mp_rank_00_model_states.pt). */
  unet: string;
  /** Alpha-CLIP's visual state dict (.pth), e.g. clip_l14_grit20m_fultune_2xe.pth. */
  imageEncoder: string;
  /** SD 1.5's VAE: a diffusers pipeline folder (vae/), the vae folder itself, or an SD 1.x single file. */
  vae: string;
}

/** Where DeepSpeed's engine keeps the model's state dict in its model-states file. */
const MODULE = 'module.';
/** Ref LDM-Seg's latents: 256² images, so 32² (the UNet graph itself takes any size). */
const LATENT_SIZE = 32;

export function openRefLdmSeg(files: Omit<RefLdmSegFiles, 'imageEncoder'>, opts: { configs?: ConfigOverrides } = {}): CheckpointSource {
  const warnings: string[] = [];
  const unetPath = existing(files.unet, 'UNet');
  const vaePath = existing(files.vae, 'VAE');
  const opened: TensorFile[] = [];
  const close = () => opened.forEach((f) => f.close());
  try {
    const unet = openUNet(unetPath, opts.configs?.unet, opened, warnings);
    const vae = openVae(vaePath, opts.configs?.vae, opened, warnings);
    return {
      kind: 'refldmseg', path: unetPath, root: resolve(unetPath, '..'), files: [unetPath, ...vae.files], warnings, close,
      unet: { config: unet.config, weights: unet.weights, sampleSize: LATENT_SIZE },
      vae: { config: vae.config, weights: vae.weights },
      refLdmSeg: { variant: unet.config.in_channels === 8 ? 'n' : 'f' },
    };
  } catch (e) {
    close();
    throw e;
  }
}

function existing(p: string, what: string): string {
  const path = resolve(p);
  if (!existsSync(path)) throw new BundleError(`${what} source not found: ${path}`);
  return path;
}

function openUNet(path: string, configOverride: unknown, opened: TensorFile[], warnings: string[]): SourceComponent<UNetConfig> {
  if (!statSync(path).isFile()) throw new BundleError(`${path} is not a file: the Ref LDM-Seg UNet is DeepSpeed's mp_rank_00_model_states.pt`);
  const file = openWeightsFile(path);
  opened.push(file);
  noteUnread(file, basename(path), warnings);
  const map = new Map<string, MappedEntry>();
  for (const k of file.keys()) if (k.startsWith(MODULE)) map.set(k.slice(MODULE.length), { src: k });
  if (!map.size)
    throw new BundleError(`${path} holds no '${MODULE.slice(0, -1)}' state dict: expected DeepSpeed's model-states file (checkpoint-N/pytorch_model/mp_rank_00_model_states.pt) of Ref LDM-Seg (first keys: ${file.keys().slice(0, 3).join(', ') || 'none'})`);
  const weights = new MappedSource(file, map, path);
  const shapeOf = (k: string) => (weights.has(k) ? weights.shape(k) : undefined);
  const hid = shapeOf('encoder_hid_proj.weight');
  if (!hid || hid.length !== 2)
    throw new BundleError(`${path}: ${MODULE}encoder_hid_proj.weight is ${hid ? `[${hid.join(',')}], not a matrix` : 'missing'}: not a Ref LDM-Seg UNet (its UNet projects the Alpha-CLIP tokens with encoder_hid_proj)`);
  const convIn = shapeOf('conv_in.weight');
  if (!convIn || (convIn[1] !== 4 && convIn[1] !== 8))
    throw new BundleError(`${path}: ${MODULE}conv_in.weight is ${convIn ? `[${convIn.join(',')}]` : 'missing'}: Ref LDM-Seg's UNet takes 4 input channels (-f) or 8 (-n)`);
  const base = configOverride ? parseConfig('unet config', configOverride, parseUNetConfig) : SD15_UNET_CONFIG;
  const config: UNetConfig = { ...base, in_channels: convIn[1], encoder_hid_dim: hid[1]!, encoder_hid_dim_type: 'text_proj' };
  const hint = configOverride ? '' : ' (read with SD 1.5\'s UNet config)';
  checkShapes(`UNet weights (${MODULE}* of ${path})`, unetWeightShapes(config), weights, warnings, hint);
  return { config, weights };
}

function openVae(path: string, configOverride: unknown, opened: TensorFile[], warnings: string[]): SourceComponent<VaeConfig> & { files: string[] } {
  let weights: WeightSource;
  let config: VaeConfig;
  let files: string[];
  if (statSync(path).isDirectory()) {
    const root = [join(path, 'vae'), path].find((d) => existsSync(join(d, 'config.json')));
    if (!root) throw new BundleError(`${path} is not a diffusers VAE folder: no vae/config.json (nor config.json)`);
    const cfgPath = join(root, 'config.json');
    config = parseConfig(cfgPath, readJson(cfgPath), parseVaeConfig);
    const wPath = componentWeights(root, { safetensors: 'diffusion_pytorch_model', torch: 'diffusion_pytorch_model' });
    const file = openWeightsFile(wPath);
    opened.push(file);
    noteUnread(file, basename(wPath), warnings);
    weights = fileSource(file, '', wPath);
    files = [cfgPath, wPath];
  } else {
    const file = openWeightsFile(path);
    opened.push(file);
    if (!file.keys().some((k) => k.startsWith(LDM_PREFIX.vae)))
      throw new BundleError(`${path} holds no VAE weights (${LDM_PREFIX.vae}*): pass SD 1.5's diffusers folder (with vae/) or its single-file checkpoint`);
    noteUnread(file, basename(path), warnings);
    config = configOverride ? parseConfig('vae config', configOverride, parseVaeConfig) : SD15_VAE_CONFIG;
    weights = openSingleFile(file).vae;
    files = [path];
  }
  checkShapes(`VAE weights (${files[files.length - 1]})`, vaeWeightShapes(config), weights, warnings);
  return { config, weights, files };
}
