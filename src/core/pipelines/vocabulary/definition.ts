// The vocabulary mode as a pipeline: a vocabulary → every segment of the image it names, as proposals with their
// categories, on any SD 1.x bundle (inference.ts). It reads DiffSeg's components: the DiffSeg UNet variant gives the
// self-attention and the cross-attention maps of one pass, and shares its sessions with DiffSeg's.
import { z } from 'zod';
import { BundleError, type BundleManifest } from '../../ml/bundle';
import { CrossAttentionHeat } from '../common/crossAttention';
import { letterbox } from '../common/frame';
import { BundleModels, DIFFSEG_COMPONENTS, type DiffSegModels } from '../diffseg/models';
import { PREPROCESSING, segmentEverything, stableParams } from '../diffseg/pipeline';
import { DIFFSEG_UNET } from '../diffseg/variant';
import { PipelineInputError } from '../run';
import type { Pipeline, PipelineSession } from '../types';
import { ensureFixtureBundle } from './fixture';
import { vocabularyEntries } from '../common/vocabulary';
import { namedProposals, nameSegments, promptLayout } from './inference';

/** Bumped when the prompt, the pooling or the naming rule change what a run gives. */
const PROCEDURE_VERSION = 1;

export const VocabularyParamsSchema = z
  .object({
    minScore: z
      .number()
      .min(0)
      .max(0.99)
      .default(0.5)
      .meta({
        title: 'Least score',
        description: "a segment is named when its best category's attention per token, 1 / (1 − this) times the uniform share or more, reaches it (0.5: twice); other segments are background",
      }),
  })
  .strict();
export type VocabularyParams = z.output<typeof VocabularyParamsSchema>;

/** Why a bundle holding DiffSeg's components cannot name segments (converted before its UNet gave cross-attention), or null. */
export function noCrossAttention(manifest: BundleManifest): string | null {
  return manifest.components[DIFFSEG_UNET.key]?.outputs.some((o) => o.name.startsWith('cross_attn.'))
    ? null
    : `model bundle ${manifest.name} was converted before the vocabulary mode: its ${DIFFSEG_UNET.key} has no cross-attention outputs (convert the checkpoint again with \`npx difflabel models convert\`)`;
}

export const vocabulary: Pipeline<VocabularyParams> = {
  id: 'vocabulary',
  title: 'Vocabulary (attention)',
  description: "Labels every segment a vocabulary names with any Stable Diffusion 1.x model, untrained: DiffSeg's segments named by the vocabulary's cross-attention",
  params: VocabularyParamsSchema,
  prompt: 'vocabulary',
  components: DIFFSEG_COMPONENTS,
  models: {
    hint: 'Convert a Stable Diffusion 1.x checkpoint once with `npx difflabel models convert <diffusers folder | v1-5-pruned-emaonly.safetensors> --out <models folder>/sd15`',
    fixture: () => ensureFixtureBundle(),
  },
  refuses: noCrossAttention,
  runLabel: 'label everything',
  open: ({ bundle, host }) => {
    const refused = noCrossAttention(bundle!.manifest);
    if (refused) throw new BundleError(refused);
    return vocabularySession(new BundleModels(bundle!.dir, bundle!.manifest, host));
  },
};

export function vocabularySession(models: BundleModels): PipelineSession<VocabularyParams> {
  const contextLength = models.manifest.tokenizer!.contextLength;
  const crossOutputs = models.crossAttentionOutputs;
  // The last prompt's text embedding: a run over images asks the text encoder once.
  let kept: { text: string; context: Promise<Float32Array> } | null = null;
  return {
    model: models.name,
    recorded: (p) => ({ ...p, segments: stableParams(), preprocessing: PREPROCESSING, procedure: PROCEDURE_VERSION }),
    run: async (image, params, prompt, ctx) => {
      if (prompt?.kind !== 'vocabulary') throw new PipelineInputError('the vocabulary mode needs a vocabulary prompt');
      const entries = vocabularyEntries(prompt);
      const layout = promptLayout(models.tokenizer, entries, contextLength);
      const run = { signal: ctx.signal, priority: ctx.priority };
      if (kept?.text !== layout.text) {
        const context = models.promptContext(layout.text, run);
        context.catch(() => kept?.context === context && (kept = null));
        kept = { text: layout.text, context };
      }
      const context = await kept.context;
      const heat = new CrossAttentionHeat(layout.positions, contextLength);
      // DiffSeg segments the image with the self-attention of the pass whose cross-attention names the segments.
      const segmenter: DiffSegModels = {
        name: models.name, id: models.id, scalingFactor: models.scalingFactor, stats: { encode: 0, attention: 0 },
        encode: (x, r) => models.encode(x, r),
        attention: async (latent, r) => {
          const { maps, outputs } = await models.attentionWith(latent, crossOutputs, r, context);
          heat.add(crossOutputs.map((n) => outputs[n]!.data), 1);
          return maps;
        },
        dispose: async () => {},
      };
      const { masks } = await segmentEverything(image, stableParams(), { models: segmenter, signal: ctx.signal, priority: ctx.priority });
      const names = nameSegments(masks, heat.mean(), layout, entries.length, letterbox(image.row.width, image.row.height), contextLength, params);
      return namedProposals(masks, names, entries);
    },
    dispose: () => models.dispose(),
  };
}
