export { buildUNet } from './unet';
export type { UNetBuildOptions, BuiltUNet, AttentionLayerInfo } from './unet';
export { parseUNetConfig, headsPerBlock, SD15_UNET_CONFIG, UNetConfigSchema } from './unetConfig';
export type { UNetConfig } from './unetConfig';
export { buildVaeEncoder, buildVaeDecoder, parseVaeConfig, SD15_VAE_CONFIG, VaeConfigSchema } from './vae';
export type { VaeConfig, VaeBuildOptions } from './vae';
export { buildClipTextEncoder, parseClipTextConfig, SD15_CLIP_CONFIG, ClipTextConfigSchema } from './clip';
export type { ClipTextConfig, ClipBuildOptions } from './clip';
export { unetWeightShapes, vaeWeightShapes, clipWeightShapes, checkWeights } from './shapes';
export { Layers, attention } from './nn';
export type { ComputeDType, AttentionResult } from './nn';
export { buildClipVisionEncoder } from './clipVision';
export type { ClipVisionBuildOptions } from './clipVision';
export {
  ALPHA_PATCH_EMBEDDING, ClipVisionConfigSchema, clipVisionWeightShapes, gridSize, parseClipVisionConfig, VIT_L14_336_CONFIG, VIT_L14_CONFIG,
} from './clipVisionConfig';
export type { ClipVisionConfig } from './clipVisionConfig';
export { isOpenAiVisionLayout, openAiVisionSource } from './clipVisionWeights';
export type { OpenAiVisionOverrides } from './clipVisionWeights';
export { clipEncoderLayer } from './clipEncoderLayer';
export type { ClipEncoderLayerOptions } from './clipEncoderLayer';
export {
  ALPHA_MEAN, ALPHA_STD, alphaFromMask, CLIP_MEAN, CLIP_STD, decodeClipImage, preprocessClipImage, resizedSize, resizeNearestPlane, tokenMaskFromMask,
} from './clipPreprocess';
export type { ClipImage, ClipPreprocessVariant } from './clipPreprocess';
export { resizeBicubic, resizeNearest } from './pilResample';
export type { Pixels } from './pilResample';
export {
  buildGroundingModule, GROUNDING_SD1_CONFIG, GroundingConfigSchema, groundingModuleSource, groundingTaps, groundingWeightShapes, GroundingWeights,
  parseGroundingConfig,
} from './grounding';
export type { GroundingBuildOptions, GroundingConfig, GroundingSourceOptions, GroundingTap } from './grounding';
export {
  buildMaskDecoder, buildPixelDecoder, decoderWeightShapes, msDeformAttn, ODISE_DECODER_CONFIG, ODISE_PIXEL_DECODER_CONFIG, parseDecoderConfig,
  parsePixelDecoderConfig, pixelDecoderWeightShapes,
} from './mask2former';
export type { DecoderBuildOptions, DecoderConfig, PixelDecoderBuildOptions, PixelDecoderConfig } from './mask2former';
