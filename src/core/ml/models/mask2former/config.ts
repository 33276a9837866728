// Mask2Former's heads as ODISE builds them: the MSDeformAttn pixel decoder and the masked-attention transformer
// decoder, configured with the reference constructors' own argument names (msdeformattn.py:167-181,
// mask2former_transformer_decoder.py:236-250), plus ODISE's two replacements (odise.py:622-640): a constant class
// head and pooled mask embeddings. Also every weight name and shape a config implies, under the modules' own names.
import { z } from 'zod';
import { conv, lin, norm } from '../shapes';

/** Points sampled per head and level: the encoder always takes MSDeformAttnTransformerEncoderOnly's default. */
export const ENCODER_POINTS = 4;
/** Mask2Former always feeds its decoder three scales (msdeformattn.py:254, mask2former_transformer_decoder.py:321). */
export const FEATURE_LEVELS = 3;
/** torch's GroupNorm(32, C) (msdeformattn.py:218, detectron2's get_norm('GN')). */
export const GN_GROUPS = 32;

const int = z.number().int().positive();
const refuse = (msg: string) => (ctx: z.RefinementCtx, path: string) => ctx.addIssue({ code: 'custom', message: msg, path: [path] });

export const PixelDecoderConfigSchema = z
  .object({
    /** Backbone features by name: channels and stride (detectron2's ShapeSpec). */
    input_shape: z.record(z.string(), z.object({ channels: int, stride: int })),
    transformer_in_features: z.array(z.string()).min(1),
    conv_dim: int,
    mask_dim: int,
    /** Only GroupNorm: what every Mask2Former and ODISE config sets (BatchNorm would need its running statistics). */
    norm: z.literal('GN', { message: 'only GroupNorm ("GN") is supported' }),
    transformer_nheads: int,
    transformer_dim_feedforward: int,
    transformer_enc_layers: int,
    /** Training only. */
    transformer_dropout: z.number().min(0).max(1).default(0),
    common_stride: int,
  })
  .superRefine((c, ctx) => {
    for (const f of c.transformer_in_features) if (!c.input_shape[f]) refuse(`${f} is not one of input_shape's features`)(ctx, 'transformer_in_features');
    if (c.conv_dim % GN_GROUPS) refuse(`must be a multiple of GroupNorm's ${GN_GROUPS} groups`)(ctx, 'conv_dim');
    if (c.conv_dim % c.transformer_nheads) refuse('must divide conv_dim')(ctx, 'transformer_nheads');
    for (const [k, s] of Object.entries(c.input_shape))
      if (!Number.isInteger(Math.log2(s.stride))) refuse(`stride ${s.stride} of ${k} is not a power of 2`)(ctx, 'input_shape');
    const strides = c.transformer_in_features.map((f) => c.input_shape[f]?.stride ?? 0);
    if (Math.min(...strides) < c.common_stride) refuse('must not exceed the transformer features\' smallest stride')(ctx, 'common_stride');
  });
export type PixelDecoderConfig = z.infer<typeof PixelDecoderConfigSchema>;

export const DecoderConfigSchema = z
  .object({
    in_channels: int,
    /** Only mask classification (the reference asserts it, :270). */
    mask_classification: z.literal(true, { message: 'the decoder always classifies masks (true)' }).default(true),
    num_classes: int,
    hidden_dim: int,
    num_queries: int,
    nheads: int,
    dim_feedforward: int,
    /** Layers actually built: detectron2 configs store one more (from_config subtracts 1, :355); ODISE passes 9 itself. */
    dec_layers: int,
    /** Only post-norm layers: every Mask2Former and ODISE config. */
    pre_norm: z.literal(false, { message: 'only post-norm layers (false) are supported' }),
    mask_dim: int,
    enforce_input_project: z.boolean().default(false),
    /** 'linear': Mask2Former's Linear(hidden, K+1); 'pseudo': ODISE's PseudoClassEmbed (ones for the K classes, 0). */
    class_embed: z.enum(['linear', 'pseudo']).default('linear'),
    /** ODISE's PooledMaskEmbed (odise.py:966-1015); absent in Mask2Former. */
    post_mask_embed: z.object({ projection_dim: int, temperature: z.number().positive().default(0.07) }).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.hidden_dim % c.nheads) refuse('must divide hidden_dim')(ctx, 'nheads');
    if (c.hidden_dim % 2) refuse('must be even (half the channels encode y, half x)')(ctx, 'hidden_dim');
    // PooledMaskEmbed normalises mask-pooled mask features with LayerNorm(hidden_dim) (odise.py:975, 998).
    if (c.post_mask_embed && c.mask_dim !== c.hidden_dim) refuse(`pooled mask embeddings need mask_dim = hidden_dim (${c.hidden_dim})`)(ctx, 'mask_dim');
  });
export type DecoderConfig = z.infer<typeof DecoderConfigSchema>;

function parse<T>(schema: z.ZodType<T>, json: unknown, what: string): T {
  const r = schema.safeParse(json);
  if (!r.success) throw new Error(`unsupported or invalid ${what} config: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

export const parsePixelDecoderConfig = (json: unknown): PixelDecoderConfig => parse(PixelDecoderConfigSchema, json, 'Mask2Former pixel decoder');
export const parseDecoderConfig = (json: unknown): DecoderConfig => parse(DecoderConfigSchema, json, 'Mask2Former transformer decoder');

/** The features sorted by stride (res2 … res5), as the pixel decoder orders them (msdeformattn.py:200). */
export function featuresByStride(c: PixelDecoderConfig): { name: string; channels: number; stride: number }[] {
  return Object.entries(c.input_shape).map(([name, s]) => ({ name, ...s })).sort((a, b) => a.stride - b.stride);
}

/** Transformer features from the lowest resolution to the highest, the encoder's level order (msdeformattn.py:319). */
export function transformerLevels(c: PixelDecoderConfig): { name: string; channels: number; stride: number }[] {
  return featuresByStride(c).filter((f) => c.transformer_in_features.includes(f.name)).reverse();
}

/** Extra FPN levels below the transformer's finest stride, down to common_stride (msdeformattn.py:258-259). */
export function fpnLevels(c: PixelDecoderConfig): number {
  return Math.log2(Math.min(...transformerLevels(c).map((f) => f.stride))) - Math.log2(c.common_stride);
}

/** ODISE's label model (configs/common/models/mask_generator_with_label.py:32-42; features s2…s5 of 512 channels). */
export const ODISE_PIXEL_DECODER_CONFIG: PixelDecoderConfig = parsePixelDecoderConfig({
  input_shape: { s2: { channels: 512, stride: 4 }, s3: { channels: 512, stride: 8 }, s4: { channels: 512, stride: 16 }, s5: { channels: 512, stride: 32 } },
  transformer_in_features: ['s3', 's4', 's5'], conv_dim: 256, mask_dim: 256, norm: 'GN',
  transformer_nheads: 8, transformer_dim_feedforward: 1024, transformer_enc_layers: 6, transformer_dropout: 0, common_stride: 4,
});

/** ODISE's label model (mask_generator_with_label.py:45-64, 90: 100 queries, 9 layers, COCO's 133 classes). */
export const ODISE_DECODER_CONFIG: DecoderConfig = parseDecoderConfig({
  in_channels: 256, num_classes: 133, hidden_dim: 256, num_queries: 100, nheads: 8, dim_feedforward: 2048, dec_layers: 9,
  pre_norm: false, mask_dim: 256, enforce_input_project: false, class_embed: 'pseudo', post_mask_embed: { projection_dim: 256, temperature: 0.07 },
});

type Shapes = Map<string, number[]>;

/** MSDeformAttn's weights under `p` (ms_deform_attn.py:59-62). */
export function msDeformAttnShapes(m: Shapes, p: string, dModel: number, levels: number, heads: number, points: number): void {
  lin(m, `${p}.sampling_offsets`, heads * levels * points * 2, dModel);
  lin(m, `${p}.attention_weights`, heads * levels * points, dModel);
  lin(m, `${p}.value_proj`, dModel, dModel);
  lin(m, `${p}.output_proj`, dModel, dModel);
}

export function pixelDecoderWeightShapes(c: PixelDecoderConfig): Shapes {
  const m: Shapes = new Map();
  const C = c.conv_dim;
  const levels = transformerLevels(c);
  levels.forEach((f, i) => {
    conv(m, `input_proj.${i}.0`, C, f.channels, 1);
    norm(m, `input_proj.${i}.1`, C);
  });
  m.set('transformer.level_embed', [levels.length, C]);
  for (let i = 0; i < c.transformer_enc_layers; i++) {
    const p = `transformer.encoder.layers.${i}`;
    msDeformAttnShapes(m, `${p}.self_attn`, C, levels.length, c.transformer_nheads, ENCODER_POINTS);
    norm(m, `${p}.norm1`, C);
    lin(m, `${p}.linear1`, c.transformer_dim_feedforward, C);
    lin(m, `${p}.linear2`, C, c.transformer_dim_feedforward);
    norm(m, `${p}.norm2`, C);
  }
  conv(m, 'mask_features', c.mask_dim, C, 1);
  // detectron2's Conv2d with a norm has no bias and keeps the norm under `.norm` (msdeformattn.py:264-285).
  featuresByStride(c).slice(0, fpnLevels(c)).forEach((f, i) => {
    conv(m, `adapter_${i + 1}`, C, f.channels, 1, false);
    norm(m, `adapter_${i + 1}.norm`, C);
    conv(m, `layer_${i + 1}`, C, C, 3, false);
    norm(m, `layer_${i + 1}.norm`, C);
  });
  return m;
}

/** An MLP's layers (mask_embed: 3 Linear layers, ReLU between them; mask2former_transformer_decoder.py:192-204). */
function mlp(m: Shapes, p: string, inp: number, hidden: number, out: number, layers = 3): void {
  for (let i = 0; i < layers; i++) lin(m, `${p}.layers.${i}`, i === layers - 1 ? out : hidden, i === 0 ? inp : hidden);
}

export function decoderWeightShapes(c: DecoderConfig): Shapes {
  const m: Shapes = new Map();
  const C = c.hidden_dim;
  const attention = (p: string) => {
    m.set(`${p}.in_proj_weight`, [3 * C, C]);
    m.set(`${p}.in_proj_bias`, [3 * C]);
    lin(m, `${p}.out_proj`, C, C);
  };
  for (let i = 0; i < c.dec_layers; i++) {
    attention(`transformer_self_attention_layers.${i}.self_attn`);
    norm(m, `transformer_self_attention_layers.${i}.norm`, C);
    attention(`transformer_cross_attention_layers.${i}.multihead_attn`);
    norm(m, `transformer_cross_attention_layers.${i}.norm`, C);
    lin(m, `transformer_ffn_layers.${i}.linear1`, c.dim_feedforward, C);
    lin(m, `transformer_ffn_layers.${i}.linear2`, C, c.dim_feedforward);
    norm(m, `transformer_ffn_layers.${i}.norm`, C);
  }
  norm(m, 'decoder_norm', C);
  m.set('query_feat.weight', [c.num_queries, C]);
  m.set('query_embed.weight', [c.num_queries, C]);
  m.set('level_embed.weight', [FEATURE_LEVELS, C]);
  if (hasInputProjection(c)) for (let i = 0; i < FEATURE_LEVELS; i++) conv(m, `input_proj.${i}`, C, c.in_channels, 1);
  if (c.class_embed === 'linear') lin(m, 'class_embed', c.num_classes + 1, C);
  mlp(m, 'mask_embed', C, C, c.mask_dim);
  if (c.post_mask_embed) {
    norm(m, 'post_mask_embed.pool_proj.0', C);
    lin(m, 'post_mask_embed.pool_proj.1', C, C);
    norm(m, 'post_mask_embed.mask_embed.0', c.mask_dim);
    mlp(m, 'post_mask_embed.mask_embed.1', c.mask_dim, C, c.post_mask_embed.projection_dim);
    m.set('post_mask_embed.logit_scale', []);
  }
  return m;
}

/** A 1×1 Conv2d per level when the features' width differs from the decoder's (or is forced); else none (:323-329). */
export const hasInputProjection = (c: DecoderConfig): boolean => c.in_channels !== c.hidden_dim || c.enforce_input_project;
