// Text → image with grounding masks (Grounded diffusion): the generator beside the segmentation pipelines
// (docs/grounded.md).
import type { BundleUser } from '../common/bundles';
import { ensureFixtureBundle } from './fixture';
import { GROUNDED_COMPONENTS } from './models';

export { generateDataset, GROUNDED_SOURCE } from './dataset';
export type { DatasetReport, DatasetRequest } from './dataset';
export { GenerateInputError } from './generate';
export { openGroundedModels } from './models';

/** What bundle resolution (common/bundles.ts) needs to pick and check a bundle for generation. */
export const GROUNDED_GENERATOR: BundleUser = {
  id: 'grounded',
  title: 'Grounded diffusion',
  components: GROUNDED_COMPONENTS,
  models: {
    hint: 'A bundle needs a UNet with the grounding taps (unet_grounded) and the grounding module (grounding_module), which `npx difflabel models convert` does not build yet.',
    fixture: ensureFixtureBundle,
  },
};
