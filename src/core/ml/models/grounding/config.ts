// Grounded diffusion's grounding module (Lipurple/Grounded-Diffusion, ldm/models/seg_module.py `Segmodule`): its
// widths, the 25 UNet taps it fuses, and the state-dict names and shapes they imply. The reference hard-codes the
// widths for SD 1.x; here they come from the config, so the same code builds the released module and tiny ones.
import { z } from 'zod';

const width = z.number().int().positive();

export const GroundingConfigSchema = z
  .object({
    /** block_out_channels of the SD UNet whose features the module was trained on (SD 1.x: 320, 640, 1280, 1280). */
    unet_channels: z.array(width).length(4).default([320, 640, 1280, 1280]),
    /** Output channels of the 1×1 convolutions of the low (8²), mid (16²), high (32²) and highest (64²) features. */
    feature_channels: z.array(width).length(4).default([16, 32, 64, 128]),
    /** Width of the class token embedding (the SD text encoder's). */
    context_dim: width.default(768),
    embedding_dim: width.default(512),
    num_heads: width.default(8),
    num_layers: width.default(3),
    /** The decoder layers' feed-forward width. */
    hidden_dim: width.default(2048),
    /**
     * 'train': as the reference's test.py runs the module (it never calls eval()): batch norm normalises with the
     * statistics of the call's own features. 'eval': with the stored running statistics.
     */
    mode: z.enum(['train', 'eval']).default('train'),
  })
  .superRefine((c, ctx) => {
    if (c.embedding_dim % c.num_heads !== 0)
      ctx.addIssue({ code: 'custom', path: ['num_heads'], message: `embedding_dim ${c.embedding_dim} is not divisible by num_heads ${c.num_heads}` });
  });
export type GroundingConfig = z.infer<typeof GroundingConfigSchema>;

export function parseGroundingConfig(json: unknown): GroundingConfig {
  const r = GroundingConfigSchema.safeParse(json);
  if (!r.success) throw new Error(`invalid grounding module config: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** The released `grounding_module.pth` (Segmodule() with its defaults, on SD 1.x features). */
export const GROUNDING_SD1_CONFIG: GroundingConfig = parseGroundingConfig({});

export const GROUPS = ['low', 'mid', 'high', 'highest'] as const;
export type GroundingGroup = (typeof GROUPS)[number];

/** Sizes the reference resizes the low, mid and high groups to (the highest stays at its 64²). */
export const FUSION_SIZES = { low: 16, mid: 32, high: 64 } as const;
/** The logits' size: the generated image's (512² for a 64² latent). */
export const OUTPUT_SIZE = 512;
/** The fused 64² features are cut into 4×4 patches, the decoder's keys and values. */
export const PATCH = 4;
/** batch_norm's and F.normalize's eps in SegBlock and its spectral norm (seg_module.py:231, 346). */
export const NORM_EPS = 1e-4;
/** The stored batch-norm statistics move this far towards a call's in train mode. */
export const BN_MOMENTUM = 0.1;

export const featureDim = (c: GroundingConfig): number => c.feature_channels.reduce((a, b) => a + b, 0);

/** The SegBlocks, each mixing the features fused so far: their widths and the size they run at. */
export function segBlocks(c: GroundingConfig): { name: string; channels: number; size: number }[] {
  const [low, mid, high, highest] = c.feature_channels as [number, number, number, number];
  return [
    { name: 'mid_feature_mix_conv', channels: low + mid, size: FUSION_SIZES.mid },
    { name: 'high_feature_mix_conv', channels: low + mid + high, size: FUSION_SIZES.high },
    { name: 'highest_feature_mix_conv', channels: low + mid + high + highest, size: FUSION_SIZES.high },
  ];
}

export interface GroundingTap {
  /** The graph input: `<group>.<index>`, as the reference's feature dict. */
  name: string;
  group: GroundingGroup;
  /** The block of the CompVis UNet the reference records (openaimodel.py:870-955). */
  ldm: string;
  /** The same output in diffusers' UNet2DConditionModel. */
  diffusers: string;
  /** 2·C: the unconditional and conditional halves of the guidance pair, stacked as channels (uncond first). */
  channels: number;
  /** Height and width for a 64² latent (a 512² image). */
  size: number;
}

// [group, LDM block, diffusers module, UNet level whose width it has, size]: every input block, the middle block
// and every output block, grouped by size in forward order.
const TAPS: [GroundingGroup, string, string, number, number][] = [
  ['low', 'input_blocks.9', 'down_blocks.2.downsamplers.0', 2, 8],
  ['low', 'input_blocks.10', 'down_blocks.3.resnets.0', 3, 8],
  ['low', 'input_blocks.11', 'down_blocks.3.resnets.1', 3, 8],
  ['low', 'middle_block', 'mid_block', 3, 8],
  ['low', 'output_blocks.0', 'up_blocks.0.resnets.0', 3, 8],
  ['low', 'output_blocks.1', 'up_blocks.0.resnets.1', 3, 8],
  ['mid', 'input_blocks.6', 'down_blocks.1.downsamplers.0', 1, 16],
  ['mid', 'input_blocks.7', 'down_blocks.2.attentions.0', 2, 16],
  ['mid', 'input_blocks.8', 'down_blocks.2.attentions.1', 2, 16],
  ['mid', 'output_blocks.2', 'up_blocks.0.upsamplers.0', 3, 16],
  ['mid', 'output_blocks.3', 'up_blocks.1.attentions.0', 2, 16],
  ['mid', 'output_blocks.4', 'up_blocks.1.attentions.1', 2, 16],
  ['high', 'input_blocks.3', 'down_blocks.0.downsamplers.0', 0, 32],
  ['high', 'input_blocks.4', 'down_blocks.1.attentions.0', 1, 32],
  ['high', 'input_blocks.5', 'down_blocks.1.attentions.1', 1, 32],
  ['high', 'output_blocks.5', 'up_blocks.1.upsamplers.0', 2, 32],
  ['high', 'output_blocks.6', 'up_blocks.2.attentions.0', 1, 32],
  ['high', 'output_blocks.7', 'up_blocks.2.attentions.1', 1, 32],
  ['highest', 'input_blocks.0', 'conv_in', 0, 64],
  ['highest', 'input_blocks.1', 'down_blocks.0.attentions.0', 0, 64],
  ['highest', 'input_blocks.2', 'down_blocks.0.attentions.1', 0, 64],
  ['highest', 'output_blocks.8', 'up_blocks.2.upsamplers.0', 1, 64],
  ['highest', 'output_blocks.9', 'up_blocks.3.attentions.0', 0, 64],
  ['highest', 'output_blocks.10', 'up_blocks.3.attentions.1', 0, 64],
  ['highest', 'output_blocks.11', 'up_blocks.3.attentions.2', 0, 64],
];

/** The 25 features the module reads, in the reference's order. */
export function groundingTaps(c: GroundingConfig): GroundingTap[] {
  const index = new Map<GroundingGroup, number>();
  return TAPS.map(([group, ldm, diffusers, level, size]) => {
    const i = index.get(group) ?? 0;
    index.set(group, i + 1);
    return { name: `${group}.${i}`, group, ldm, diffusers, channels: 2 * c.unet_channels[level]!, size };
  });
}

/** Channels of one group's taps together: the input width of its 1×1 convolution. */
export const groupChannels = (c: GroundingConfig, group: GroundingGroup): number =>
  groundingTaps(c).filter((t) => t.group === group).reduce((a, t) => a + t.channels, 0);

/** Every state_dict name and shape of the module (parameters and buffers), under the reference's names. */
export function groundingWeightShapes(c: GroundingConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const E = c.embedding_dim;
  const lin = (n: string, out: number, inp: number, bias = true) => {
    m.set(`${n}.weight`, [out, inp]);
    if (bias) m.set(`${n}.bias`, [out]);
  };
  GROUPS.forEach((g, i) => {
    m.set(`${g}_feature_conv.0.weight`, [c.feature_channels[i]!, groupChannels(c, g), 1, 1]);
    if (i === 0) return;
    const { name, channels: C } = segBlocks(c)[i - 1]!;
    for (const k of ['stored_mean1', 'stored_var1', 'stored_mean2', 'stored_var2']) m.set(`${name}.${k}`, [C]);
    for (const conv of ['conv1', 'conv2']) {
      m.set(`${name}.${conv}.weight`, [C, C, 3, 3]);
      m.set(`${name}.${conv}.bias`, [C]);
      m.set(`${name}.${conv}.u0`, [1, C]);
      m.set(`${name}.${conv}.sv0`, [1]);
    }
  });
  for (let i = 0; i < c.num_layers; i++) {
    const p = `transfromer_decoder.layers.${i}`;
    for (const a of ['self_attn', 'multihead_attn']) {
      m.set(`${p}.${a}.in_proj_weight`, [3 * E, E]);
      m.set(`${p}.${a}.out_proj.weight`, [E, E]);
    }
    lin(`${p}.linear1`, c.hidden_dim, E);
    lin(`${p}.linear2`, E, c.hidden_dim);
    for (const n of ['norm1', 'norm2', 'norm3']) {
      m.set(`${p}.${n}.weight`, [E]);
      m.set(`${p}.${n}.bias`, [E]);
    }
  }
  lin('mlp.layers.0', E, E);
  lin('mlp.layers.1', E, E);
  lin('mlp.layers.2', featureDim(c), E);
  lin('to_k', E, featureDim(c) * PATCH * PATCH, false);
  lin('to_q', E, c.context_dim, false);
  return m;
}
