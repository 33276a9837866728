// CLIP image tower config: transformers' CLIPVisionConfig fields with transformers' defaults, plus `alpha_channel`
// (Alpha-CLIP's extra patch convolution on a mask channel, not a transformers field). Also the weight names and
// shapes a config implies, under transformers' names, which every layout is mapped to.
import { z } from 'zod';

export const ClipVisionConfigSchema = z
  .object({
    hidden_size: z.number().int().positive().default(768),
    intermediate_size: z.number().int().positive().default(3072),
    num_hidden_layers: z.number().int().positive().default(12),
    num_attention_heads: z.number().int().positive().default(12),
    num_channels: z.number().int().positive().default(3),
    image_size: z.number().int().positive().default(224),
    patch_size: z.number().int().positive().default(32),
    projection_dim: z.number().int().positive().default(512),
    hidden_act: z.enum(['quick_gelu', 'gelu']).default('quick_gelu'),
    layer_norm_eps: z.number().positive().default(1e-5),
    /** Alpha-CLIP: a second patch convolution (1 input channel, no bias) on the alpha input, added to the first. */
    alpha_channel: z.boolean().default(false),
  })
  .refine((c) => c.image_size % c.patch_size === 0, { message: 'image_size must be a multiple of patch_size', path: ['image_size'] })
  .refine((c) => c.hidden_size % c.num_attention_heads === 0, { message: 'hidden_size must be divisible by num_attention_heads', path: ['num_attention_heads'] });
export type ClipVisionConfig = z.infer<typeof ClipVisionConfigSchema>;

/**
 * A CLIPVisionConfig, or a whole CLIPConfig (`vision_config` inside; CLIPModel projects with the top-level
 * `projection_dim`, not the vision config's own).
 */
export function parseClipVisionConfig(json: unknown): ClipVisionConfig {
  let raw = json;
  if (typeof json === 'object' && json !== null && 'vision_config' in json) {
    const top = json as { vision_config: unknown; projection_dim?: unknown };
    raw = { ...(top.vision_config as object), ...(top.projection_dim !== undefined ? { projection_dim: top.projection_dim } : {}) };
  }
  const r = ClipVisionConfigSchema.safeParse(raw);
  if (!r.success) throw new Error(`unsupported or invalid CLIP vision config: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** ViT-L/14 (openai/clip-vit-large-patch14): Ref LDM-Seg's Alpha-CLIP tower at 224. */
export const VIT_L14_CONFIG: ClipVisionConfig = parseClipVisionConfig({
  hidden_size: 1024, intermediate_size: 4096, num_hidden_layers: 24, num_attention_heads: 16, image_size: 224, patch_size: 14, projection_dim: 768,
});

/** ViT-L/14-336 (openai/clip-vit-large-patch14-336): ODISE's CLIP. */
export const VIT_L14_336_CONFIG: ClipVisionConfig = { ...VIT_L14_CONFIG, image_size: 336 };

/** Patches per side. */
export const gridSize = (c: ClipVisionConfig): number => c.image_size / c.patch_size;

/** transformers' name of Alpha-CLIP's `conv1_alpha` (transformers has no Alpha-CLIP; this is DiffLabel's). */
export const ALPHA_PATCH_EMBEDDING = 'vision_model.embeddings.alpha_patch_embedding.weight';

export function clipVisionWeightShapes(c: ClipVisionConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const D = c.hidden_size;
  const p = c.patch_size;
  const norm = (n: string) => {
    m.set(`${n}.weight`, [D]);
    m.set(`${n}.bias`, [D]);
  };
  const lin = (n: string, out: number, inp: number) => {
    m.set(`${n}.weight`, [out, inp]);
    m.set(`${n}.bias`, [out]);
  };
  m.set('vision_model.embeddings.patch_embedding.weight', [D, c.num_channels, p, p]);
  if (c.alpha_channel) m.set(ALPHA_PATCH_EMBEDDING, [D, 1, p, p]);
  m.set('vision_model.embeddings.class_embedding', [D]);
  m.set('vision_model.embeddings.position_embedding.weight', [gridSize(c) ** 2 + 1, D]);
  norm('vision_model.pre_layrnorm');
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const l = `vision_model.encoder.layers.${i}`;
    norm(`${l}.layer_norm1`);
    for (const k of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) lin(`${l}.self_attn.${k}`, D, D);
    norm(`${l}.layer_norm2`);
    lin(`${l}.mlp.fc1`, c.intermediate_size, D);
    lin(`${l}.mlp.fc2`, D, c.intermediate_size);
  }
  norm('vision_model.post_layernorm');
  m.set('visual_projection.weight', [c.projection_dim, D]);
  return m;
}
