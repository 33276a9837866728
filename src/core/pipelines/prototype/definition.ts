// The prototype mode as a pipeline: an annotated example → the same kind of object in other images, on any SD 1.x
// bundle (no Ref LDM-Seg weights, no training; inference.ts). One proposal per image, offered in the example's
// category like Ref LDM-Seg's (its run's prompt records it).
import { z } from 'zod';
import { area, decode, toCompressedString } from '../../../shared/masks';
import type { RunOptions } from '../../ml/runtime';
import { PREPROCESSING, stableParams } from '../diffseg/pipeline';
import { PipelineInputError } from '../run';
import type { ExampleInput, Pipeline, PipelineSession } from '../types';
import { ensureFixtureBundle } from './fixture';
import { examplePrototypes, findInImage, type Prototypes } from './inference';
import { FEATURE_TAP } from '../diffseg/variant';
import { bundleModels, noFeatures, PROTOTYPE_COMPONENTS, type PrototypeModels } from './models';

/** Bumped when the features, the prototypes or the vote change what a run gives. */
const PROCEDURE_VERSION = 1;

export const PrototypeParamsSchema = z
  .object({
    minSimilarity: z
      .number()
      .min(-1)
      .max(1)
      .default(0.5)
      .meta({ title: 'Least similarity', description: "cosine similarity to the example's features a region needs to be taken (besides being more like the example than like its background)" }),
  })
  .strict();
export type PrototypeParams = z.output<typeof PrototypeParamsSchema>;

export const prototype: Pipeline<PrototypeParams> = {
  id: 'prototype',
  title: 'Example prototype',
  description: "Finds the object of an annotated example in other images with any Stable Diffusion 1.x model, untrained: the example's UNet features, matched and snapped to DiffSeg segments",
  params: PrototypeParamsSchema,
  prompt: 'example',
  components: PROTOTYPE_COMPONENTS,
  models: {
    hint: 'Convert a Stable Diffusion 1.x checkpoint once with `npx difflabel models convert <diffusers folder | v1-5-pruned-emaonly.safetensors> --out <models folder>/sd15`',
    fixture: () => ensureFixtureBundle(),
  },
  refuses: noFeatures,
  runLabel: 'find from example',
  open: ({ bundle, host }) => prototypeSession(bundleModels(bundle!.dir, bundle!.manifest, host)),
};

export function prototypeSession(models: PrototypeModels): PipelineSession<PrototypeParams> {
  // The example's prototypes, kept for the next image: a run over images passes its example through the UNet once.
  let kept: { key: string; prototypes: Promise<Prototypes> } | null = null;
  const prototypesOf = async (example: ExampleInput, run: RunOptions) => {
    const key = `${example.image.row.id}:${toCompressedString(example.mask)}`;
    if (kept?.key !== key) {
      const rgb = await example.image.rgb();
      if (example.mask.w !== rgb.width || example.mask.h !== rgb.height)
        throw new PipelineInputError(`the example's mask is ${example.mask.w}×${example.mask.h}, its image ${rgb.width}×${rgb.height}`);
      if (!area(example.mask)) throw new PipelineInputError("the example's mask is empty: there is nothing to find", [{ path: 'prompt.annotationId', message: 'its mask is empty' }]);
      const prototypes = examplePrototypes(models, rgb, decode(example.mask), run);
      prototypes.catch(() => kept?.prototypes === prototypes && (kept = null));
      kept = { key, prototypes };
    }
    return kept.prototypes;
  };
  return {
    model: models.name,
    recorded: (p) => ({ ...p, segments: stableParams(), preprocessing: PREPROCESSING, features: FEATURE_TAP, procedure: PROCEDURE_VERSION }),
    run: async (image, params, prompt, ctx) => {
      const example = ctx.example;
      if (prompt?.kind !== 'example' || !example) throw new PipelineInputError('the prototype mode needs an example prompt');
      const run = { signal: ctx.signal, priority: ctx.priority };
      const found = await findInImage(models, image, await prototypesOf(example, run), params, run);
      return found ? [found] : [];
    },
    dispose: () => models.dispose(),
  };
}
