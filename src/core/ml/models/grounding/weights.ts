// The grounding module's weights: the released `grounding_module.pth` (`seg_module.state_dict()` pickled by
// torch.save, train.py:512-515) or the same names in safetensors, read as strictly as test.py's
// `load_state_dict(strict=True)`. The widths come from the shapes; what they cannot say (the attention heads, the
// UNet the features come from) from the caller, with the reference's values as defaults.
import { fileSource, type TensorFile, type WeightSource } from '../../weights/source';
import type { StDType } from '../../weights/safetensors';
import { checkWeights } from '../shapes';
import {
  BN_MOMENTUM, GROUNDING_SD1_CONFIG, groupChannels, groundingTaps, groundingWeightShapes, GROUPS, parseGroundingConfig, segBlocks, type GroundingConfig,
} from './config';
import { powerIteration } from './spectralNorm';

export interface GroundingSourceOptions {
  /** Attention heads (not in the state dict): Segmodule()'s default is 8. */
  heads?: number;
  /** block_out_channels of the UNet whose features feed the module (default SD 1.x's). */
  unetChannels?: number[];
  mode?: GroundingConfig['mode'];
}

const PROJ = /^(transfromer_decoder\.layers\.\d+\.(?:self_attn|multihead_attn))\.([qkv])_proj\.weight$/;

/**
 * The state dict as the graph reads it: each SegBlock convolution's weight already divided by σ (one power iteration
 * from the stored u0, as the reference's first call after loading does, in train and eval mode alike) and each
 * attention's fused `in_proj_weight` also as `q_proj`/`k_proj`/`v_proj` rows, so the shared attention layer reads it.
 */
export class GroundingWeights implements WeightSource {
  private readonly spectral: Set<string>;

  constructor(private readonly base: WeightSource, private readonly config: GroundingConfig) {
    this.spectral = new Set(segBlocks(config).flatMap((b) => [`${b.name}.conv1.weight`, `${b.name}.conv2.weight`]));
  }

  /**
   * The buffers as the reference leaves them after one call on `images` images (the module's state; DiffLabel
   * does not carry it to the next call). Train mode: each u0 becomes the power iteration's u and sv0 its σ, and the
   * stored batch-norm statistics move by the momentum towards the call's (`batch`: the graph's `batchStatistics`
   * outputs; the variance stored is the unbiased one). Eval mode changes nothing.
   */
  buffersAfterCall(batch: Record<string, ArrayLike<number>>, images: number): Map<string, Float32Array> {
    const train = this.config.mode === 'train';
    const out = new Map<string, Float32Array>();
    for (const { name, size } of segBlocks(this.config)) {
      for (const conv of [`${name}.conv1`, `${name}.conv2`]) {
        const u0 = this.base.read(`${conv}.u0`);
        const p = train ? powerIteration(this.base.read(`${conv}.weight`), this.base.shape(`${conv}.weight`)[0]!, u0) : undefined;
        out.set(`${conv}.u0`, p ? p.u : u0);
        out.set(`${conv}.sv0`, p ? Float32Array.of(p.sigma) : this.base.read(`${conv}.sv0`));
      }
      const n = images * size * size;
      for (const i of [1, 2]) {
        const mean = this.base.read(`${name}.stored_mean${i}`);
        const variance = this.base.read(`${name}.stored_var${i}`);
        if (train) {
          const bm = batch[`${name}.batch_mean${i}`];
          const bv = batch[`${name}.batch_var${i}`];
          if (!bm || !bv) throw new Error(`no ${name}.batch_mean${i} or batch_var${i}: build the graph with batchStatistics`);
          mean.forEach((m, j) => (mean[j] = (1 - BN_MOMENTUM) * m + BN_MOMENTUM * bm[j]!));
          variance.forEach((v, j) => (variance[j] = (1 - BN_MOMENTUM) * v + BN_MOMENTUM * bv[j]! * (n / (n - 1))));
        }
        out.set(`${name}.stored_mean${i}`, mean);
        out.set(`${name}.stored_var${i}`, variance);
      }
    }
    return out;
  }

  keys(): string[] {
    const fused = this.base.keys().filter((k) => k.endsWith('.in_proj_weight'));
    return [...this.base.keys(), ...fused.flatMap((k) => ['q', 'k', 'v'].map((p) => k.replace('in_proj_weight', `${p}_proj.weight`)))];
  }
  has(name: string): boolean {
    const m = PROJ.exec(name);
    return m ? this.base.has(`${m[1]}.in_proj_weight`) : this.base.has(name);
  }
  shape(name: string): number[] {
    const m = PROJ.exec(name);
    if (!m) return this.base.shape(name);
    const [, e] = this.base.shape(`${m[1]}.in_proj_weight`) as [number, number];
    return [e, e];
  }
  dtype(name: string): StDType {
    const m = PROJ.exec(name);
    return this.base.dtype(m ? `${m[1]}.in_proj_weight` : name);
  }
  read(name: string): Float32Array {
    const m = PROJ.exec(name);
    if (m) {
      const [, e] = this.base.shape(`${m[1]}.in_proj_weight`) as [number, number];
      const j = 'qkv'.indexOf(m[2]!);
      return this.base.read(`${m[1]}.in_proj_weight`).slice(j * e * e, (j + 1) * e * e);
    }
    const w = this.base.read(name);
    if (!this.spectral.has(name)) return w;
    const rows = this.base.shape(name)[0]!;
    // torch divides the float32 weight by a float32 σ.
    const sigma = Math.fround(powerIteration(w, rows, this.base.read(name.replace(/weight$/, 'u0'))).sigma);
    return w.map((x) => x / sigma);
  }
}

/** The widths a state dict's shapes give, or why they cannot be read (a tensor they come from is missing or misshapen). */
function widthsOf(base: WeightSource): Omit<GroundingConfig, 'unet_channels' | 'num_heads' | 'mode'> | string {
  const ranks: [string, number][] = [
    ...GROUPS.map((g): [string, number] => [`${g}_feature_conv.0.weight`, 4]), ['to_q.weight', 2], ['transfromer_decoder.layers.0.linear1.weight', 2],
  ];
  for (const [k, rank] of ranks) {
    if (!base.has(k)) return `missing ${k}`;
    if (base.shape(k).length !== rank) return `${k}: shape [${base.shape(k).join(',')}], not ${rank}-dimensional`;
  }
  const layers = new Set(base.keys().flatMap((k) => /^transfromer_decoder\.layers\.(\d+)\./.exec(k)?.[1] ?? []));
  const [embedding, context] = base.shape('to_q.weight') as [number, number];
  return {
    feature_channels: GROUPS.map((g) => base.shape(`${g}_feature_conv.0.weight`)[0]!),
    context_dim: context,
    embedding_dim: embedding,
    num_layers: layers.size,
    hidden_dim: base.shape('transfromer_decoder.layers.0.linear1.weight')[0]!,
  };
}

/**
 * The grounding module in `file`, and its config. Refused, naming what is wrong: a file that is not such a state
 * dict (a missing, unexpected or misshapen tensor, as load_state_dict(strict=True) would), and one whose 1×1
 * convolutions do not take the given UNet's features.
 */
export function groundingModuleSource(file: TensorFile, label: string, o: GroundingSourceOptions = {}): { config: GroundingConfig; weights: GroundingWeights } {
  const base = fileSource(file, '', label);
  const widths = widthsOf(base);
  if (typeof widths === 'string') throw new Error(`${label}: not a grounding module state dict: ${widths}`);
  let config: GroundingConfig;
  try {
    config = parseGroundingConfig({
      ...widths, unet_channels: o.unetChannels ?? GROUNDING_SD1_CONFIG.unet_channels, num_heads: o.heads ?? GROUNDING_SD1_CONFIG.num_heads, mode: o.mode,
    });
  } catch (e) {
    throw new Error(`${label}: ${(e as Error).message}`);
  }
  for (const g of GROUPS) {
    const takes = base.shape(`${g}_feature_conv.0.weight`)[1]!;
    const gives = groupChannels(config, g);
    if (takes !== gives) {
      const size = groundingTaps(config).find((t) => t.group === g)!.size;
      throw new Error(`${label}: the grounding module takes ${takes} channels of ${size}x${size} UNet features, a UNet with block_out_channels [${config.unet_channels.join(',')}] gives ${gives}: it was trained on another Stable Diffusion`);
    }
  }
  const problems = checkWeights(groundingWeightShapes(config), base);
  if (problems.length)
    throw new Error(`${label}: not a grounding module state dict: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''}`);
  return { config, weights: new GroundingWeights(base, config) };
}
