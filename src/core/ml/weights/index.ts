export { SafetensorsFile, SafetensorsError, encodeSafetensors, writeSafetensors, stDTypeOf } from './safetensors';
export type { StDType, TensorInfo, RawTensor, WriteTensor } from './safetensors';
export { MappedSource, fileSource, openWeights, legacyDiffusersName } from './source';
export type { WeightSource, MappedEntry } from './source';
export { openSingleFile, ldmUnetKey, ldmVaeKey, ldmClipKey, diffusersToLdmUnetKey, diffusersToLdmVaeKey, LDM_PREFIX } from './ldm';
export type { SingleFileComponents } from './ldm';
export { RandomWeights } from './random';
