// Masks: COCO RLE codec, run-level set operations, polygons and holes.
export { MaskFormatError, encode, decode, toCompressedString, fromCompressedString, toCocoRle, fromCocoRle, emptyRle, fullRle, rleEquals, maskFields } from './rle';
export type { Rle } from './rle';
export { area, bbox, union, intersect, subtract, unionAll, iou } from './ops';
export { polygonsToRle, polygonsWithHolesToRle, maskToPolygons } from './polygons';
export type { Polygon } from './polygons';
export { countHoles, hasHoles, fillHoles } from './holes';
export { connectedComponents } from './components';
export { mergeSmallRegions } from './regions';
export { MagicWand } from './wand';
