// COCO instances export, written to what pycocotools, Detectron2, mmdet, torchvision and FiftyOne accept:
// info and licenses present, ids unique with categories from 1, bbox and area taken from the mask exactly as
// a consumer will decode it, polygon rings of at least 3 points, and masks with holes as RLE (a COCO polygon
// cannot hold a hole) unless the user forces polygons, which fills the holes — and the report says so.
import type { CocoExportReport } from '../../../shared/contract';
import {
  area,
  bbox,
  fillHoles,
  fromCompressedString,
  iou,
  maskToPolygons,
  polygonsToRle,
  toCocoRle,
  type Rle,
} from '../../masks';
import type { ProjectStore } from '../../project';

export interface CocoExportOptions {
  format: 'polygons' | 'rle';
  /** Polygons for masks with holes too: the holes are filled. */
  forcePolygons?: boolean;
  /** Polygon simplification in pixels; 0 keeps the exact pixel outline. */
  tolerance?: number;
}

export interface CocoDocument {
  info: Record<string, unknown>;
  licenses: unknown[];
  images: { id: number; file_name: string; width: number; height: number }[];
  annotations: CocoAnnotation[];
  categories: { id: number; name: string; supercategory: string; isthing: number; color: string }[];
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  segmentation: number[][] | { size: [number, number]; counts: string | number[] };
  area: number;
  bbox: [number, number, number, number];
  iscrowd: 0 | 1;
  score?: number;
}

export function exportCoco(store: ProjectStore, opts: CocoExportOptions): { document: CocoDocument; report: CocoExportReport } {
  const tolerance = opts.tolerance ?? 0;
  const report: CocoExportReport = { images: 0, annotations: 0, categories: 0, polygons: 0, rle: 0, rleBecauseHoles: 0, holesFilled: 0, simplification: null, skipped: [] };
  const ious: number[] = [];
  const categories = store.listCategories();
  const images = store.listImages({}).filter((i) => i.status !== 'error');
  const imageIds = new Set(images.map((i) => i.id));
  const annotations: CocoAnnotation[] = [];

  for (const a of store.listAnnotations({})) {
    if (!imageIds.has(a.imageId)) continue;
    if (a.categoryId === null) {
      report.skipped.push({ annotationId: a.id, reason: 'no category assigned (a COCO annotation needs one)' });
      continue;
    }
    const rle = fromCompressedString(a.rle, a.height, a.width);
    if (area(rle) === 0) {
      report.skipped.push({ annotationId: a.id, reason: 'empty mask' });
      continue;
    }
    const out = encodeSegmentation(rle, Boolean(a.iscrowd), opts.format, Boolean(opts.forcePolygons), tolerance, report);
    if (tolerance > 0 && Array.isArray(out.segmentation)) ious.push(iou(out.decoded, out.source));
    annotations.push({
      id: a.id,
      image_id: a.imageId,
      category_id: a.categoryId,
      segmentation: out.segmentation,
      area: area(out.decoded),
      bbox: bbox(out.decoded),
      iscrowd: a.iscrowd ? 1 : 0,
      ...(a.score !== null && a.score !== undefined ? { score: a.score } : {}),
    });
  }

  if (ious.length)
    report.simplification = {
      meanIoU: ious.reduce((s, v) => s + v, 0) / ious.length,
      minIoU: Math.min(...ious),
      under90: ious.filter((v) => v < 0.9).length,
    };
  report.images = images.length;
  report.annotations = annotations.length;
  report.categories = categories.length;
  const now = new Date();
  return {
    report,
    document: {
      info: {
        description: `DiffLabel export of ${store.folder}`,
        version: '1.0',
        year: now.getUTCFullYear(),
        contributor: 'DiffLabel',
        url: '',
        date_created: now.toISOString(),
      },
      licenses: [],
      images: images.map((i) => ({ id: i.id, file_name: i.path, width: i.width, height: i.height })),
      annotations,
      categories: categories.map((c) => ({
        id: c.id,
        name: c.name,
        supercategory: c.supercategory ?? '',
        isthing: c.isthing ? 1 : 0,
        color: c.color,
      })),
    },
  };
}

/** The segmentation to write and the mask a consumer will decode from it (bbox and area come from that). */
function encodeSegmentation(rle: Rle, crowd: boolean, format: 'polygons' | 'rle', force: boolean, tolerance: number, report: CocoExportReport) {
  // Crowd regions are RLE by COCO convention.
  if (format === 'rle' || crowd) {
    report.rle++;
    return { segmentation: toCocoRle(rle, true) as { size: [number, number]; counts: string }, decoded: rle, source: rle };
  }
  // One trace finds the holes too (hole rings), so masks without holes are decoded once.
  let source = rle;
  let rings = maskToPolygons(rle, { tolerance });
  if (rings.some((p) => p.holes.length > 0)) {
    if (!force) {
      report.rleBecauseHoles++;
      report.rle++;
      return { segmentation: toCocoRle(rle, true) as { size: [number, number]; counts: string }, decoded: rle, source: rle };
    }
    report.holesFilled++;
    source = fillHoles(rle);
    rings = maskToPolygons(source, { tolerance });
  }
  const outer = rings.map((p) => p.outer);
  report.polygons++;
  // Exact outlines rasterise back to the mask itself; simplified ones do not, so measure what was written.
  const decoded = tolerance > 0 ? polygonsToRle(outer, rle.h, rle.w) : source;
  return { segmentation: outer, decoded, source };
}
