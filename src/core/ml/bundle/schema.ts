// bundle.json: what a model bundle folder holds. Paths are relative to the bundle folder, '/'-separated,
// and may not leave it. Every file is listed with its size and sha256 so verifyBundle can prove integrity.
import { z } from 'zod';
import type { Value } from '../graph';

export const BUNDLE_FORMAT_VERSION = 1;
export const BUNDLE_FILE = 'bundle.json';
/** The licence of a bundle whose converter was not told one. */
export const UNKNOWN_LICENCE = 'unknown';

/** A relative path that stays inside the bundle (no absolute paths, no `..`, no backslashes). */
const RelPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !/^[A-Za-z]:/.test(p) && !p.includes('\\') && !p.split('/').includes('..'), {
    message: 'must be a relative path inside the bundle',
  });

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex sha256');

export const FileEntrySchema = z.object({ path: RelPath, bytes: z.number().int().nonnegative(), sha256: Sha256 });
export type FileEntry = z.infer<typeof FileEntrySchema>;

export const TensorSpecSchema = z.object({
  name: z.string().min(1),
  dtype: z.string(),
  /** Numbers are fixed sizes, strings are symbolic dims (same name = same size), null = unknown. */
  shape: z.array(z.union([z.number().int().nonnegative(), z.string(), z.null()])),
});
export type TensorSpec = z.infer<typeof TensorSpecSchema>;

/** A graph's inputs or outputs as bundle.json lists them. */
export const tensorSpecs = (vs: readonly Value[]): TensorSpec[] => vs.map((v) => ({ name: v.name, dtype: v.dtype, shape: v.shape ? [...v.shape] : [] }));

export const DTypeSchema = z.enum(['float32', 'float16']);
export type BundleDType = z.infer<typeof DTypeSchema>;

/**
 * A component's key: the converter's own ('text_encoder', 'unet', 'vae_encoder', 'vae_decoder', 'image_encoder': a
 * CLIP image tower, imageEncoder.ts) or a UNet variant a pipeline declares (convert.ts UNetVariant, e.g. 'unet_diffseg').
 */
export const ComponentKeySchema = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be a lower-case name (letters, digits, _)');
export type ComponentKey = z.infer<typeof ComponentKeySchema>;

export const ComponentSchema = z.object({
  /** The ONNX model file. */
  model: RelPath,
  /** The model file and every external data file it reads (checksummed). */
  files: z.array(FileEntrySchema).min(1),
  /** When set, this component's weights live in that component's external data file (not written twice). */
  sharesWeightsWith: ComponentKeySchema.optional(),
  inputs: z.array(TensorSpecSchema).min(1),
  outputs: z.array(TensorSpecSchema).min(1),
  /** The architecture config (diffusers/transformers names, defaults filled in) the graph was built from. */
  config: z.record(z.string(), z.unknown()),
  /**
   * The licence its weights were released under, where the converter recognised the release (a bundle made from
   * several: Alpha-CLIP's tower beside SD's VAE); otherwise the bundle's `licence` applies.
   */
  licence: z.string().min(1).max(200).optional(),
  /** A UNet variant with self-attention map outputs: one entry per feature-map size, head- and layer-averaged. */
  selfAttention: z
    .array(z.object({ output: z.string(), height: z.number().int().positive(), width: z.number().int().positive(), layers: z.number().int().positive(), heads: z.array(z.number().int()) }))
    .optional(),
});
export type BundleComponent = z.infer<typeof ComponentSchema>;

export const TokenizerSchema = z.object({
  /** 'vocab-merges': diffusers/transformers vocab.json + merges.txt; 'bpe-gz': openai's bpe_simple_vocab_16e6.txt.gz. */
  format: z.enum(['vocab-merges', 'bpe-gz']),
  vocab: RelPath.optional(),
  merges: RelPath.optional(),
  bpe: RelPath.optional(),
  files: z.array(FileEntrySchema).min(1),
  /** Pad with EOT as SD 1.x pipelines (HF CLIPTokenizer) do. */
  pad: z.enum(['eot', 'zero']).default('eot'),
  contextLength: z.number().int().positive().default(77),
});
export type BundleTokenizer = z.infer<typeof TokenizerSchema>;

export const SourceSchema = z.object({
  /** Absolute path at conversion time (informational: the bundle does not need it afterwards). */
  path: z.string(),
  /** 'refldmseg': Ref LDM-Seg's DeepSpeed model states, with an SD 1.5 VAE and an Alpha-CLIP tower (refLdmSeg.ts). */
  kind: z.enum(['diffusers', 'single-file', 'refldmseg', 'odise']),
  /** Weight, config and tokenizer files read: relative to `path` (a single file: to its folder), else absolute. */
  files: z.array(FileEntrySchema.extend({ path: z.string().min(1) })),
});

export const OdiseManifestSchema = z.object({
  /** Images are resized to this short side (long side at most `maxSize`) and padded to a multiple of `sizeDivisibility`. */
  shortSide: z.number().int().positive(),
  maxSize: z.number().int().positive(),
  sizeDivisibility: z.number().int().positive(),
  /** Side of the square windows the features are computed on. */
  window: z.number().int().positive(),
  /** safetensors: text_proj.{weight,bias}, null_embed, empty_context (SD's text encoding of ""). */
  constants: FileEntrySchema,
  /** MaskCLIP's logit scale: min(exp(CLIP's logit_scale), 100). */
  clipLogitScale: z.number().positive(),
  /** The classes the label model was trained on, each a synonym list; absent: every class counts as new. */
  trainingVocabulary: z.array(z.array(z.string().min(1)).min(1)).optional(),
});
export type OdiseManifest = z.infer<typeof OdiseManifestSchema>;

export const BundleManifestSchema = z
  .object({
    format: z.literal('difflabel-model-bundle'),
    formatVersion: z.literal(BUNDLE_FORMAT_VERSION),
    name: z.string().min(1),
    createdAt: z.iso.datetime(),
    /** Weight/compute dtype of the graphs; inputs and outputs are float32 (token ids int64) either way. */
    dtype: DTypeSchema,
    /** The weights' licence as the user stated it at conversion ("CreativeML Open RAIL-M" for SD 1.5); bundles made before it was asked: unknown. */
    licence: z.string().min(1).max(200).default(UNKNOWN_LICENCE),
    source: SourceSchema,
    /** In the order they were built (verify and list report them so). */
    components: z.record(ComponentKeySchema, ComponentSchema),
    tokenizer: TokenizerSchema.optional(),
    /** VAE latent scaling (0.18215 for SD 1.x): pipelines multiply the encoder mean by it. */
    vaeScalingFactor: z.number().optional(),
    /**
     * A Ref LDM-Seg bundle: 'f' (one UNet pass at t = 0, 4-channel conv_in) or 'n' (DDPM on [noise ‖ image latent],
     * 8-channel conv_in), as the UNet's conv_in says.
     */
    refLdmSeg: z.object({ variant: z.enum(['f', 'n']) }).optional(),
    /** An ODISE bundle (odise.ts): how its images are sized and cut, and its classification constants. */
    odise: OdiseManifestSchema.optional(),
    /** Things the converter noticed but accepted (e.g. text width != UNet cross_attention_dim). */
    warnings: z.array(z.string()).default([]),
  })
  .refine((m) => Object.keys(m.components).length > 0, { message: 'a bundle needs at least one component', path: ['components'] })
  .superRefine((m, ctx) => {
    for (const [k, c] of Object.entries(m.components)) {
      if (c.sharesWeightsWith && !m.components[c.sharesWeightsWith])
        ctx.addIssue({ code: 'custom', message: `${k} shares weights with a component the bundle lacks`, path: ['components', k] });
    }
  });
export type BundleManifest = z.infer<typeof BundleManifestSchema>;
