// ODISE as a pipeline: the labeler's vocabulary ("person, car, road, sky" — an entry may list synonyms, "car,
// automobile") → every pixel of the image in at most one segment, each a proposal with its class's name (offered in
// the project's category of that name) and score. The bundle is ODISE's label model (ml/bundle/odise.ts).
import { z } from 'zod';
import { PipelineInputError } from '../run';
import type { Pipeline, PipelineSession } from '../types';
import { notOdise, ODISE_COMPONENTS, OdiseModels } from './models';
import { vocabularyEntries } from '../common/vocabulary';
import { odisePanoptic, panopticSegments } from './segment';

/** Bumped when the preprocessing or the post-processing changes what a run gives. */
const PROCEDURE_VERSION = 1;

export const OdiseParamsSchema = z.object({}).strict();
export type OdiseParams = z.output<typeof OdiseParamsSchema>;

export const odise: Pipeline<OdiseParams> = {
  id: 'odise',
  title: 'ODISE (vocabulary → panoptic)',
  description: 'Labels every pixel of an image with the categories of a vocabulary (ODISE: diffusion features and Mask2Former, classified by CLIP)',
  params: OdiseParamsSchema,
  prompt: 'vocabulary',
  components: ODISE_COMPONENTS,
  models: {
    hint: 'Convert ODISE\'s released files once with `npx difflabel models convert --odise <odise_label_coco_50e.pth> --sd <sd-v1-3.ckpt> --clip <ViT-L-14-336px.pt> --bpe <bpe_simple_vocab_16e6.txt.gz> --training-labels <coco_panoptic_with_prompt_eng.txt> --out <models folder>/odise`',
  },
  refuses: notOdise,
  runLabel: 'label everything',
  open: ({ bundle, host }) => odiseSession(new OdiseModels(bundle!.dir, bundle!.manifest, host)),
};

export function odiseSession(models: OdiseModels): PipelineSession<OdiseParams> {
  return {
    model: models.name,
    recorded: () => ({ procedure: PROCEDURE_VERSION }),
    run: async (image, _params, prompt, ctx) => {
      if (prompt?.kind !== 'vocabulary') throw new PipelineInputError('ODISE needs a vocabulary prompt: the category names to label');
      const entries = vocabularyEntries(prompt);
      const result = await odisePanoptic(models, await image.rgb(), entries.map((e) => e.synonyms), {
        signal: ctx.signal, priority: ctx.priority, isThing: entries.map((e) => e.isThing),
        onProgress: (done, total, message) => ctx.onProgress?.({ fraction: done / total, message }),
      });
      return panopticSegments(result).map((s) => {
        const { synonyms, isThing } = entries[s.classIndex]!;
        return { mask: s.mask, score: s.score, category: { name: synonyms[0]!, isThing } };
      });
    },
    dispose: () => models.dispose(),
  };
}
