// DiffSeg as a pipeline: its parameters (the reference's defaults), the bundle components and the UNet variant it
// needs, its attention cache, segment everything as its run and + / − clicks as its preview.
import { z } from 'zod';
import type { TensorCache } from '../common/tensorCache';
import type { Pipeline, PipelineSession } from '../types';
import { DiffSegCache } from './cache';
import { ensureFixtureBundle } from './fixture';
import { clickOn } from './interactive';
import { BundleModels, DIFFSEG_COMPONENTS, type DiffSegModels } from './models';
import { DEFAULT_DIFFSEG_PARAMS, type DiffSegParams } from './params';
import { DIFFSEG_RUNS, everythingSession, stableParams } from './pipeline';
import { DIFFSEG_UNET } from './variant';

const Tau = z.number().positive().max(100);

export const DiffSegParamsSchema = z
  .object({
    tau: z
      .union([Tau, z.array(Tau).min(1).max(10)])
      .default(DEFAULT_DIFFSEG_PARAMS.tau)
      .meta({ title: 'Merge threshold τ', description: 'KL merge threshold: lower gives more, smaller segments (1.1 COCO-Stuff, 0.9 Cityscapes); a list gives one per iteration' }),
    iterations: z.number().int().min(1).max(10).optional().meta({ title: 'Iterations', description: `merge iterations (${DEFAULT_DIFFSEG_PARAMS.iterations}, or as many as τ values)` }),
    grid: z.number().int().min(2).max(64).default(DEFAULT_DIFFSEG_PARAMS.grid).meta({ title: 'Anchors per side', description: 'anchors per side of the sampling grid' }),
    refine: z.boolean().default(DEFAULT_DIFFSEG_PARAMS.refine).meta({ title: 'k-means refinement', description: 'k-means refinement of the merged segments (slower)' }),
    guided: z
      .boolean()
      .default(DEFAULT_DIFFSEG_PARAMS.guided)
      .meta({ title: 'Outlines follow image edges', description: "outlines snap to the image's colour edges, not the model's 8-pixel attention cells (off: the reference)" }),
  })
  .strict()
  .transform((p, ctx): DiffSegParams => {
    try {
      return stableParams(p);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  });

export const diffseg: Pipeline<DiffSegParams> = {
  ...DIFFSEG_RUNS,
  title: 'DiffSeg',
  description: 'Unsupervised segments of everything from Stable Diffusion self-attention; click an object to get its mask',
  params: DiffSegParamsSchema,
  prompt: 'points',
  components: DIFFSEG_COMPONENTS,
  models: {
    hint: 'Convert a Stable Diffusion 1.x checkpoint once with `npx difflabel models convert <diffusers folder | v1-5-pruned-emaonly.safetensors> --out <models folder>/sd15`',
    fixture: () => ensureFixtureBundle(),
  },
  variants: [DIFFSEG_UNET],
  cache: (o) => new DiffSegCache(o),
  preview: { name: 'click', label: 'click segment' },
  open: ({ bundle, host, cache }) => diffsegSession({ models: new BundleModels(bundle!.dir, bundle!.manifest, host), cache: cache ?? undefined }),
};

/** DiffSeg's session on opened models: segment everything as its run, + / − clicks as its preview. */
export function diffsegSession(ctx: { models: DiffSegModels; cache?: TensorCache }): PipelineSession<DiffSegParams> {
  return {
    ...everythingSession(ctx),
    preview: async (image, params, prompt, run) => {
      if (prompt.kind !== 'points') throw new RangeError(`DiffSeg takes clicks, not a ${prompt.kind} prompt`);
      return clickOn(image, prompt.points, params, { ...ctx, signal: run.signal, priority: run.priority, cachedOnly: run.cachedOnly }, prompt.box);
    },
    dispose: () => ctx.models.dispose(),
  };
}
