// Peekaboo's parameters: the reference's constants (RyannDaGreat/Peekaboo run_peekaboo, see docs/peekaboo.md) as
// defaults, and a "fast" preset that changes only the optimiser, the number of iterations and the composite size.
import { z } from 'zod';

export type Optimizer = 'sgd' | 'adam';

export interface PeekabooParams {
  preset: 'reference' | 'fast';
  /** Side of the square alpha image the MLP paints (the reference: 256). */
  size: number;
  /** Fourier frequencies (the features are their sines and cosines: twice as many channels). */
  frequencies: number;
  /** Standard deviation of the frequencies, in cycles per image side. */
  frequencyScale: number;
  blurSigma: number;
  blurTolerance: number;
  blurIterations: number;
  /** Side of the composite the VAE encodes (8 pixels per latent cell). */
  compositeSize: number;
  minStep: number;
  maxStep: number;
  guidance: number;
  gravity: number;
  optimizer: Optimizer;
  learningRate: number;
  iterations: number;
  threshold: number;
  /**
   * Stop once the thresholded mask has changed in under 0.1% of its pixels for this many iterations in a row (0: run
   * every iteration, as the reference does).
   */
  stopWhenStable: number;
  /**
   * Timesteps (each with its own noise) per iteration: the UNet runs once on their 2k guided pairs and the step takes
   * the mean of their score-distillation gradients (1: the reference's one).
   */
  timestepsPerCall: number;
  /**
   * 'blank': the MLP's random initialisation (the reference). 'segment': the MLP is first fitted to a mask of the
   * prompt (`initialMask`, else the segment DiffSeg's cross-attention names for it) and Peekaboo refines it.
   */
  start: 'blank' | 'segment';
  /** With start 'segment': the mask to start from, at the image's size. */
  initialMask?: InitialMask;
  seed: number;
}

/** A mask as the API gives one: COCO RLE, counts compressed; size is [height, width]. */
export interface InitialMask {
  size: [number, number];
  counts: string;
}

/** What each preset sets when the field is not given. */
export const PRESETS: Record<PeekabooParams['preset'], Pick<PeekabooParams, 'optimizer' | 'learningRate' | 'iterations' | 'compositeSize'>> = {
  reference: { optimizer: 'sgd', learningRate: 1e-5, iterations: 300, compositeSize: 512 },
  // Chosen by numbers (docs/peekaboo.md, "Faster settings"): on the fixture scene its masks are within IoU 0.957–1 of
  // the reference setting's for "red" and "blue" over two seeds, and with SD 1.5-size weights an iteration at the
  // 256 composite costs about two thirds of one at 512 on a CPU, so 30 of them fit 3 minutes on two cores.
  fast: { optimizer: 'adam', learningRate: 1e-2, iterations: 30, compositeSize: 256 },
};

const side = (d: number, title: string, description: string) => z.number().int().min(8).max(1024).multipleOf(8).default(d).meta({ title, description });

export const PeekabooParamsSchema = z
  .object({
    preset: z
      .enum(['reference', 'fast'])
      .default('reference')
      .meta({ title: 'Preset', description: 'reference: SGD 1e-5 for 300 iterations on a 512 composite (the paper); fast: Adam 1e-2 for 30 on a 256 composite (optimiser, rate, iterations and composite not given explicitly)' }),
    size: side(256, 'Alpha size', 'side of the alpha image being optimised, in pixels'),
    frequencies: z.number().int().min(1).max(1024).default(128).meta({ title: 'Fourier frequencies', description: 'random frequencies of the positional features' }),
    frequencyScale: z.number().positive().max(1000).default(10).meta({ title: 'Frequency scale', description: 'standard deviation of the frequencies (cycles per side): higher allows finer masks' }),
    blurSigma: z.number().positive().max(100).default(5).meta({ title: 'Blur σ', description: 'spatial σ of the 3×3 bilateral blur' }),
    blurTolerance: z.number().positive().max(10).default(0.08).meta({ title: 'Blur colour tolerance', description: 'colour distance (RGB in [0,1]) across which the blur barely mixes' }),
    blurIterations: z.number().int().min(0).max(200).default(40).meta({ title: 'Blur iterations', description: 'passes of the bilateral blur over the logit' }),
    compositeSize: z
      .number().int().min(8).max(1024).multipleOf(8).optional()
      .meta({ title: 'Composite size', description: 'side of the composite image the VAE encodes, 8 pixels per latent cell (the preset decides when not given)' }),
    minStep: z.number().int().min(0).max(999).default(20).meta({ title: 'Smallest timestep', description: 'noise levels are drawn uniformly from [smallest, largest]' }),
    maxStep: z.number().int().min(0).max(999).default(980).meta({ title: 'Largest timestep', description: 'noise levels are drawn uniformly from [smallest, largest]' }),
    guidance: z.number().min(0).max(1000).default(100).meta({ title: 'Guidance scale', description: 'classifier-free guidance of the score' }),
    gravity: z.number().min(0).max(100).default(0.05).meta({ title: 'Gravity', description: 'pull of every alpha pixel towards 0 (transparent)' }),
    optimizer: z.enum(['sgd', 'adam']).optional().meta({ title: 'Optimiser', description: 'sgd (the reference) or adam (the preset decides when not given)' }),
    learningRate: z.number().positive().max(1).optional().meta({ title: 'Learning rate', description: 'step size (the preset decides when not given)' }),
    iterations: z.number().int().min(1).max(10000).optional().meta({ title: 'Iterations', description: 'optimisation steps (the preset decides when not given)' }),
    threshold: z.number().gt(0).lt(1).default(0.5).meta({ title: 'Threshold', description: 'alpha at or above it is inside the mask' }),
    stopWhenStable: z
      .number().int().min(0).max(10000).default(0)
      .meta({ title: 'Stop when stable', description: 'stop once the mask has changed in under 0.1% of its pixels for this many iterations in a row (0: never)' }),
    timestepsPerCall: z
      .number().int().min(1).max(16).default(1)
      .meta({ title: 'Timesteps per UNet call', description: 'noise levels per iteration, run as one UNet batch; their gradients are averaged (1: the reference)' }),
    start: z
      .enum(['blank', 'segment'])
      .default('blank')
      .meta({ title: 'Start from', description: "blank: a random mask (the reference); segment: the given initial mask, else the segment DiffSeg's cross-attention names for the prompt" }),
    // Compressed counts only: the schema must stay expressible as JSON Schema (the CLI's options and the app's form).
    initialMask: z
      .object({ size: z.tuple([z.number().int().positive(), z.number().int().positive()]), counts: z.string() })
      .strict()
      .optional()
      .meta({ title: 'Initial mask', description: "with start 'segment': the mask to start from: COCO RLE at the image's size, counts compressed" }),
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0).meta({ title: 'Seed', description: 'same seed, image and prompt: same mask' }),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.minStep > p.maxStep) ctx.addIssue({ code: 'custom', path: ['minStep'], message: `the smallest timestep ${p.minStep} is above the largest ${p.maxStep}` });
    if (p.initialMask && p.start !== 'segment') ctx.addIssue({ code: 'custom', path: ['initialMask'], message: "an initial mask is used only with start 'segment'" });
  })
  .transform((p): PeekabooParams => ({ ...p, ...PRESETS[p.preset], ...defined({ optimizer: p.optimizer, learningRate: p.learningRate, iterations: p.iterations, compositeSize: p.compositeSize }) }));

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export const DEFAULT_PEEKABOO_PARAMS: PeekabooParams = Object.freeze(PeekabooParamsSchema.parse({}));
