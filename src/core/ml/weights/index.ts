export { SafetensorsFile, SafetensorsError, encodeSafetensors, writeSafetensors, stDTypeOf } from './safetensors';
export type { StDType, TensorInfo, RawTensor, WriteTensor } from './safetensors';
export { MappedSource, fileSource, openWeights, openTensorFile, weightsFormat, legacyDiffusersName } from './source';
export type { WeightSource, MappedEntry, TensorFile } from './source';
export { TorchFile, TorchCheckpointError, readTorchCheckpoint, PyDict, PyGlobal, PyObject, PySet, TorchSize, TorchStorage, TorchTensor } from './torch';
export type { TorchTensorInfo, CheckpointTensor } from './torch';
export { openSingleFile, ldmUnetKey, ldmVaeKey, ldmClipKey, diffusersToLdmUnetKey, diffusersToLdmVaeKey, LDM_PREFIX } from './ldm';
export type { SingleFileComponents } from './ldm';
export { RandomWeights } from './random';
