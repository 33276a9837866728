// Masks: COCO RLE codec, run-level set operations, polygons and holes.
export { MaskFormatError, encode, decode, toCompressedString, fromCompressedString, toCocoRle, fromCocoRle, emptyRle, fullRle, rleEquals, maskFields } from './rle';
export type { Rle } from './rle';
export { area, bbox, boxRle, union, intersect, subtract, unionAll, iou } from './ops';
export { polygonsToRle, polygonsWithHolesToRle, maskToPolygons } from './polygons';
export type { Polygon } from './polygons';
export { hasHoles, fillHoles } from './holes';
export { connectedComponents, countHoles } from './components';
export { mergeSmallRegions } from './regions';
export { MagicWand } from './wand';
