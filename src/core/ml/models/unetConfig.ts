// diffusers UNet2DConditionModel config.json, the subset SD 1.x/2.x-style models use, with diffusers' defaults.
import { z } from 'zod';

const intOrList = z.union([z.number().int(), z.array(z.number().int())]);

export const UNetConfigSchema = z.object({
  in_channels: z.number().int().default(4),
  out_channels: z.number().int().default(4),
  down_block_types: z.array(z.enum(['CrossAttnDownBlock2D', 'DownBlock2D'])),
  mid_block_type: z.enum(['UNetMidBlock2DCrossAttn']).nullable().default('UNetMidBlock2DCrossAttn'),
  up_block_types: z.array(z.enum(['UpBlock2D', 'CrossAttnUpBlock2D'])),
  block_out_channels: z.array(z.number().int()),
  layers_per_block: z.number().int().default(2),
  downsample_padding: z.number().int().default(1),
  mid_block_scale_factor: z.number().default(1),
  act_fn: z.literal('silu').default('silu'),
  norm_num_groups: z.number().int().default(32),
  norm_eps: z.number().default(1e-5),
  cross_attention_dim: z.number().int().default(1280),
  transformer_layers_per_block: intOrList.default(1),
  /** Legacy: the number of heads (see README of the golden data). */
  attention_head_dim: intOrList.default(8),
  num_attention_heads: intOrList.nullable().default(null),
  use_linear_projection: z.boolean().default(false),
  upcast_attention: z.boolean().nullable().default(false),
  only_cross_attention: z.union([z.literal(false), z.array(z.literal(false))]).default(false),
  flip_sin_to_cos: z.boolean().default(true),
  freq_shift: z.number().default(0),
  center_input_sample: z.literal(false).default(false),
  resnet_time_scale_shift: z.literal('default').default('default'),
  resnet_out_scale_factor: z.number().default(1),
  time_embedding_type: z.literal('positional').default('positional'),
  time_embedding_dim: z.null().default(null),
  class_embed_type: z.null().default(null),
  addition_embed_type: z.null().default(null),
  /** Width of the context before `encoder_hid_proj` (Ref LDM-Seg: 1024, Alpha-CLIP tokens); null = no projection. */
  encoder_hid_dim: z.number().int().positive().nullable().default(null),
  /** diffusers sets "text_proj" when only encoder_hid_dim is given; the image/text-image projections are not supported. */
  encoder_hid_dim_type: z.literal('text_proj').nullable().default(null),
  time_cond_proj_dim: z.null().default(null),
  conv_in_kernel: z.literal(3).default(3),
  conv_out_kernel: z.literal(3).default(3),
  dual_cross_attention: z.literal(false).default(false),
});

export type UNetConfig = z.infer<typeof UNetConfigSchema>;

/** Parses config.json; unsupported features fail here with the offending key named. */
export function parseUNetConfig(json: unknown): UNetConfig {
  const r = UNetConfigSchema.safeParse(json);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`unsupported or invalid UNet config: ${issues}`);
  }
  const c = r.data;
  const n = c.block_out_channels.length;
  if (c.down_block_types.length !== n || c.up_block_types.length !== n)
    throw new Error(`UNet config: ${n} block_out_channels but ${c.down_block_types.length} down / ${c.up_block_types.length} up blocks`);
  // diffusers' own rules (0.27 unet_2d_condition.py:568-579): the type defaults to text_proj and needs a width.
  if (c.encoder_hid_dim_type !== null && c.encoder_hid_dim === null) throw new Error('UNet config: encoder_hid_dim_type is set but encoder_hid_dim is not');
  if (c.encoder_hid_dim !== null) c.encoder_hid_dim_type = 'text_proj';
  return c;
}

export const perBlock = (v: number | number[], n: number): number[] => (Array.isArray(v) ? v : Array(n).fill(v));

/** Heads per down block: diffusers falls back to `attention_head_dim`, which is the head COUNT in legacy configs. */
export function headsPerBlock(c: UNetConfig): number[] {
  return perBlock(c.num_attention_heads ?? c.attention_head_dim, c.block_out_channels.length);
}

/** SD 1.5's unet/config.json (the values that matter for the architecture). */
export const SD15_UNET_CONFIG: UNetConfig = parseUNetConfig({
  act_fn: 'silu', attention_head_dim: 8, block_out_channels: [320, 640, 1280, 1280], center_input_sample: false,
  cross_attention_dim: 768,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 1, flip_sin_to_cos: true, freq_shift: 0, in_channels: 4, layers_per_block: 2,
  mid_block_scale_factor: 1, norm_eps: 1e-5, norm_num_groups: 32, out_channels: 4, sample_size: 64,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
});
