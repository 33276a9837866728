export {
  DecoderConfigSchema, decoderWeightShapes, ENCODER_POINTS, FEATURE_LEVELS, featuresByStride, fpnLevels, msDeformAttnShapes, ODISE_DECODER_CONFIG,
  ODISE_PIXEL_DECODER_CONFIG, parseDecoderConfig, parsePixelDecoderConfig, PixelDecoderConfigSchema, pixelDecoderWeightShapes, transformerLevels,
} from './config';
export type { DecoderConfig, PixelDecoderConfig } from './config';
export { levelsOf, msDeformAttn } from './msDeformAttn';
export type { MsDeformAttnLevel, MsDeformAttnOptions, MsDeformAttnResult } from './msDeformAttn';
export { buildPixelDecoder, pixelDecoder } from './pixelDecoder';
export type { PixelDecoderBuildOptions, PixelDecoderResult } from './pixelDecoder';
export { buildMaskDecoder, maskedTransformerDecoder } from './transformerDecoder';
export type { DecoderBuildOptions, DecoderPrediction, MaskedDecoderOptions } from './transformerDecoder';
export { positionEmbeddingSine } from './positionEncoding';
export { multiheadAttention } from './multiheadAttention';
export { pooledMaskEmbed, pseudoClassLogits } from './pooledMaskEmbed';
