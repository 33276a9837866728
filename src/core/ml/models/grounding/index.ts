export { buildGroundingModule } from './module';
export type { BuiltGroundingModule, GroundingBuildOptions } from './module';
export {
  featureDim, GROUNDING_SD1_CONFIG, GroundingConfigSchema, groundingTaps, groundingWeightShapes, parseGroundingConfig, segBlocks,
} from './config';
export type { GroundingConfig, GroundingGroup, GroundingTap } from './config';
export { groundingModuleSource, GroundingWeights } from './weights';
export type { GroundingSourceOptions } from './weights';
export { powerIteration } from './spectralNorm';
export type { PowerIteration } from './spectralNorm';
