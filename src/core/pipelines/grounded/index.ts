// Text → image with grounding masks (Grounded diffusion): the generator beside the segmentation pipelines
// (docs/grounded.md).
import type { BundleUser } from '../common/bundles';
import { ensureFixtureBundle } from './fixture';
import { ATTENTION_COMPONENTS, GROUNDED_COMPONENTS } from './models';

export { generateDataset, GROUNDED_SOURCE, planDataset } from './dataset';
export { callsPerImage, DEFAULT_STEPS, SAMPLER_NAMES } from './generate';
export { encodePng } from './png';
export { discardHeld, heldMask, keepHeld, listHeld, type HeldImage } from './review';
export type { DatasetReport, DatasetRequest } from './dataset';
export { GenerateInputError } from './errors';
export { openGroundedModels } from './models';

const models = {
  hint: 'Convert an SD 1.x checkpoint with `npx difflabel models convert` (add --grounding-module grounding_module.pth for the grounding module)',
  fixture: ensureFixtureBundle,
};

/** What bundle resolution (common/bundles.ts) needs to pick and check a bundle, per grounding mode. */
export const GROUNDED_GENERATORS: Record<'module' | 'attention', BundleUser> = {
  module: { id: 'grounded', title: 'Grounded diffusion (grounding module)', components: GROUNDED_COMPONENTS, models },
  attention: { id: 'grounded', title: 'Grounded diffusion (attention grounding)', components: ATTENTION_COMPONENTS, models },
};
