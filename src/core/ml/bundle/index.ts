/**
 * ml/bundle — model bundles (DESIGN §5): a folder with bundle.json, ONNX files (+ external data), tokenizer files.
 *
 *   const { dir, manifest } = await convertCheckpoint('sd15-diffusers/', 'resources/models/sd15', { fp16: true });
 *   const report = await verifyBundle(dir);      // throws BundleError listing every problem
 *   listBundles();                               // resources/models + the user models folder
 *
 * Layout: text_encoder.onnx, unet.onnx + unet.onnx.data, the UNet variants the pipelines declare (e.g.
 * unet_diffseg.onnx, reading unet.onnx.data), vae_encoder.onnx, vae_decoder.onnx, image_encoder.onnx (a CLIP image
 * tower), tokenizer/…, bundle.json (schema.ts).
 */
export { convertCheckpoint, convertRefLdmSeg, partialPrefix, sourceName, type ConvertOptions, type ConvertResult, type UNetVariant } from './convert';
export { type RefLdmSegFiles } from './refLdmSeg';
export { convertOdise, ODISE_GRAPHS, ODISE_LICENCES, type OdiseFiles } from './odise';
export { verifyBundle, readManifest, type VerifyOptions, type VerifyReport } from './verify';
export { componentLicences, listBundles, defaultModelDirs, resourcesModelsDir, userModelsDir, MODELS_DIR_ENV, type BundleListing } from './list';
export { openCheckpoint, readConfigsFolder, type CheckpointSource, type ConfigOverrides, type OpenOptions } from './checkpoint';
export { BundleError } from './errors';
export { saveSharingWeights } from './sharedWeights';
export { assertContained, bundleFileProblem, containmentProblems } from './confine';
export { sha256File } from './hash';
export { findTokenizerFiles, loadTokenizer, type TokenizerFiles } from './tokenizerFiles';
export * from './schema';
