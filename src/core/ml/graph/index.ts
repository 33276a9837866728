export { GraphBuilder, Value, ShapeError } from './builder';
export type { Operand, TensorSource, Attrs, AttrValue, NodeRecord, InitializerRecord, OutSpec, ConvOptions, GridSampleOptions, ResizeOptions, GraphBuilderOptions, Dim, Shape } from './builder';
export { saveModel, toBytes, decodeModel, irVersionFor, totalInitializerBytes, INLINE_LIMIT_BYTES } from './serialize';
export type { SaveOptions } from './serialize';
export * from './dtypes';
export * from './half';
export { countFlops } from './flops';
export type { FlopCount } from './flops';
