// Ref LDM-Seg as a pipeline: an annotated example (a mask of the project, with its category) → the same kind of object
// in other images, one proposal per image, offered in the example's category (its run's prompt records it). The
// variant (-f or -n) is the bundle's; the parameters default to the reference's (README, modeln.py, prompter.py).
import { z } from 'zod';
import { area, decode, toCompressedString } from '../../../shared/masks';
import type { RunOptions } from '../../ml/runtime';
import type { RgbImage } from '../common/frame';
import { MAX_SEED } from '../../ml/schedulers';
import { PipelineInputError } from '../run';
import type { ExampleInput, Pipeline, PipelineSession } from '../types';
import { ensureFixtureBundle } from './fixture';
import { segmentQuery, supportTokens, type RefLdmSegSettings, type SupportTokens } from './inference';
import { BundleModels, notRefLdmSeg, REFLDMSEG_COMPONENTS, type RefLdmSegModels } from './models';

/** mask_alpha when none is given: 0 for -f (the default of modelf.py), 0.4 for -n (the README's command). */
const MASK_ALPHA = { f: 0, n: 0.4 } as const;
/** Bumped when the preprocessing or the post-processing changes what a run gives. */
const PROCEDURE_VERSION = 1;

export const RefLdmSegParamsSchema = z
  .object({
    variant: z.enum(['f', 'n']).optional().meta({ title: 'Variant', description: "the model's: f (one UNet pass) or n (20 denoising steps); a bundle holds one" }),
    steps: z.number().int().min(1).max(1000).default(20).meta({ title: 'Steps', description: 'denoising steps of -n (DDPM)' }),
    imageGuidance: z.number().min(0).max(50).default(1.5).meta({ title: 'Image guidance', description: "-n's guidance towards the query image" }),
    instructionGuidance: z.number().min(0).max(50).default(7).meta({ title: 'Example guidance', description: "-n's guidance towards the example" }),
    maskAlpha: z.number().min(0).max(1).optional().meta({ title: 'mask_alpha', description: 'share of the query image the model was trained to add to its mask (0 for -f, 0.4 for -n)' }),
    seed: z.number().int().min(0).max(MAX_SEED).default(0).meta({ title: 'Seed', description: 'noise of the latent sample (-f) and of the denoising (-n)' }),
  })
  .strict();
export type RefLdmSegParams = z.output<typeof RefLdmSegParamsSchema>;

export const refldmseg: Pipeline<RefLdmSegParams> = {
  id: 'refldmseg',
  title: 'Ref LDM-Seg',
  description: 'Finds the object of an annotated example in other images (a diffusion model conditioned on the example)',
  params: RefLdmSegParamsSchema,
  prompt: 'example',
  components: REFLDMSEG_COMPONENTS,
  models: {
    hint: 'Convert the released Ref LDM-Seg files once with `npx difflabel models convert --refldmseg <mp_rank_00_model_states.pt> --image-encoder <Alpha-CLIP .pth> --vae <SD 1.5 folder> --out <models folder>/ref-ldm-seg`',
    fixture: () => ensureFixtureBundle('f'),
  },
  refuses: notRefLdmSeg,
  runLabel: 'find from example',
  open: ({ bundle, host }) => refLdmSegSession(new BundleModels(bundle!.dir, bundle!.manifest, host)),
};

/** The settings a run uses: the bundle's variant (a different one asked for is the caller's mistake), defaults filled in. */
function settings(models: RefLdmSegModels, p: RefLdmSegParams): RefLdmSegSettings {
  if (p.variant && p.variant !== models.variant)
    throw new PipelineInputError(`the model ${models.name} is Ref LDM-Seg -${models.variant}; -${p.variant} needs a bundle of that variant`, [{ path: 'params.variant', message: `must be ${models.variant} with this model` }]);
  const variant = models.variant;
  return { variant, steps: p.steps, imageGuidance: p.imageGuidance, instructionGuidance: p.instructionGuidance, maskAlpha: p.maskAlpha ?? MASK_ALPHA[variant], seed: p.seed };
}

export function refLdmSegSession(models: RefLdmSegModels): PipelineSession<RefLdmSegParams> {
  // The example's tokens, kept for the next image: a run over images encodes its example once.
  let support: { key: string; tokens: Promise<SupportTokens> } | null = null;
  const tokensOf = (example: ExampleInput, rgb: RgbImage, run: RunOptions) => {
    const key = `${example.image.row.id}:${toCompressedString(example.mask)}`;
    if (support?.key !== key) {
      const tokens = supportTokens(models, [{ rgb, mask: decode(example.mask) }], run);
      tokens.catch(() => support?.tokens === tokens && (support = null));
      support = { key, tokens };
    }
    return support.tokens;
  };
  return {
    model: models.name,
    recorded: (p) => {
      const s = settings(models, p);
      // -f takes no steps nor guidance: they do not change its result.
      const { steps, imageGuidance, instructionGuidance, ...always } = s;
      return { ...always, ...(s.variant === 'n' ? { steps, imageGuidance, instructionGuidance } : {}), procedure: PROCEDURE_VERSION };
    },
    run: async (image, params, prompt, ctx) => {
      const s = settings(models, params);
      const example = ctx.example;
      if (prompt?.kind !== 'example' || !example) throw new PipelineInputError('Ref LDM-Seg needs an example prompt');
      const [query, shown] = await Promise.all([image.rgb(), example.image.rgb()]);
      if (example.mask.w !== shown.width || example.mask.h !== shown.height)
        throw new PipelineInputError(`the example's mask is ${example.mask.w}×${example.mask.h}, its image ${shown.width}×${shown.height}`);
      const run = { signal: ctx.signal, priority: ctx.priority };
      const { mask, score } = await segmentQuery(models, query, await tokensOf(example, shown, run), s, {
        ...run, onStep: (done, total) => ctx.onProgress?.({ fraction: done / total, message: `step ${done}/${total}` }),
      });
      return area(mask) > 0 ? [{ mask, score }] : [];
    },
    dispose: () => models.dispose(),
  };
}
