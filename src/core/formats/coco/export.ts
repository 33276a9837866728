// COCO instances export, written to what pycocotools, Detectron2, mmdet, torchvision and FiftyOne accept:
// info and licenses present, ids unique with categories from 1, bbox and area taken from the mask exactly as
// a consumer will decode it, polygon rings of at least 3 points, and masks with holes as RLE (a COCO polygon
// cannot hold a hole) unless the user forces polygons, which fills the holes — and the report says so. Images
// whose file cannot be read now (unreadable, missing) are left out with their masks, and the report lists them.
// A box goes out as its bbox with `segmentation: []` (as CVAT and Roboflow write boxes), a point as one COCO keypoint
// ([x, y, 2], bbox [x, y, 0, 0]), its category listing the keypoint "point" (docs/coco-compatibility.md).
import type { CocoExportReport } from '../../../shared/contract';
import {
  area,
  bbox,
  fillHoles,
  fromCompressedString,
  hasHoles,
  iou,
  maskToPolygons,
  polygonsToRle,
  type Rle,
} from '../../../shared/masks';
import type { AttributeDef, AttributeValue, AttributeValues, ImageRow, ProjectStore } from '../../project';
import { writeFileAtomic } from '../atomic-file';
import { FileWriteError, exportTarget, type Replaceable } from '../files';

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
  categories: { id: number; name: string; supercategory: string; isthing: number; color: string; keypoints?: string[]; skeleton?: number[][] }[];
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  segmentation: number[][] | { size: [number, number]; counts: string | number[] };
  /** A point's [x, y, v] (v = 2: labelled and visible). */
  keypoints?: [number, number, 2];
  num_keypoints?: 1;
  area: number;
  bbox: [number, number, number, number];
  iscrowd: 0 | 1;
  score?: number;
  /** Every attribute its category defines, by name, as CVAT writes them (the default where the mask has no value). */
  attributes?: Record<string, AttributeValue>;
}

/** A project's export: its head (info, images, categories) and its annotations, produced one by one. */
interface CocoExport {
  report: CocoExportReport;
  info: CocoDocument['info'];
  images: CocoDocument['images'];
  categories: CocoDocument['categories'];
  /** Fills in the report's annotation counts as it goes; the simplification figures once it is done. */
  annotations(): Generator<CocoAnnotation>;
}

/** The whole document in memory (the app downloads it); writeCocoFile streams the same document to a file. */
export function exportCoco(store: ProjectStore, opts: CocoExportOptions): { document: CocoDocument; report: CocoExportReport } {
  const coco = prepare(store, opts);
  const annotations = [...coco.annotations()];
  return {
    report: coco.report,
    document: { info: coco.info, licenses: [], images: coco.images, annotations, categories: coco.categories },
  };
}

/** Existing files an export may replace: JSON objects whose first key is one of COCO's (ours, or another tool's). */
export const previousExport: Replaceable = {
  accepts: (head) => /^\s*\{\s*"(?:info|licenses|images|annotations|categories)"/.test(new TextDecoder().decode(head)),
  what: 'a COCO export',
};

/**
 * Streams the export to `path` and returns its report. The target is checked first (exportTarget: never the
 * project's database or images, never a file that is not a previous export) and replaced atomically, so a
 * failure or a cancel leaves whatever was there.
 */
export async function writeCocoFile(store: ProjectStore, path: string, opts: CocoExportOptions, signal?: AbortSignal): Promise<CocoExportReport> {
  const target = await exportTarget(store, path, previousExport);
  const coco = prepare(store, opts);
  try {
    await writeFileAtomic(target, cocoJson({ ...coco, annotations: coco.annotations() }), { signal });
  } catch (e) {
    if (signal?.aborted) throw new FileWriteError(`cannot write ${path}: cancelled (it is unchanged)`, { cause: e });
    if ((e as NodeJS.ErrnoException).code) throw new FileWriteError(`cannot write ${path}: ${(e as Error).message} (it is unchanged)`, { cause: e });
    throw e;
  }
  return coco.report;
}

/** A COCO document as text in pieces (instances or panoptic: the same top level), never all of it in one string. */
export function* cocoJson(doc: { info: unknown; images: Iterable<unknown>; annotations: Iterable<unknown>; categories: unknown }): Generator<string> {
  yield `{"info":${JSON.stringify(doc.info)},"licenses":[],"images":[`;
  let comma = '';
  for (const image of doc.images) {
    yield comma + JSON.stringify(image);
    comma = ',';
  }
  yield '],"annotations":[';
  comma = '';
  for (const a of doc.annotations) {
    yield comma + JSON.stringify(a);
    comma = ',';
  }
  yield `],"categories":${JSON.stringify(doc.categories)}}`;
}

function prepare(store: ProjectStore, opts: CocoExportOptions): CocoExport {
  const tolerance = opts.tolerance ?? 0;
  const report: CocoExportReport = {
    images: 0, annotations: 0, categories: 0, polygons: 0, rle: 0, rleBecauseHoles: 0, holesFilled: 0, simplification: null, skipped: [], leftOut: [],
  };
  const images: ImageRow[] = [];
  for (const img of store.listImages({})) {
    const reason = leftOutReason(img);
    if (!reason) images.push(img);
    else if (img.annotationCount > 0) report.leftOut.push({ path: img.path, masks: img.annotationCount, reason });
  }
  const categories = store.listCategories();
  const withPoints = new Set(store.shapeCategories('point'));
  const defsOf = new Map<number, AttributeDef[]>();
  for (const d of store.listAttributeDefs()) defsOf.set(d.categoryId, [...(defsOf.get(d.categoryId) ?? []), d]);
  report.images = images.length;
  report.categories = categories.length;
  const now = new Date();
  return {
    report,
    info: {
      description: `DiffLabel export of ${store.folder}`,
      version: '1.0',
      year: now.getUTCFullYear(),
      contributor: 'DiffLabel',
      url: '',
      date_created: now.toISOString(),
    },
    images: images.map((i) => ({ id: i.id, file_name: i.path, width: i.width, height: i.height })),
    categories: categories.map((c) => ({
      id: c.id,
      name: c.name,
      supercategory: c.supercategory ?? '',
      isthing: c.isthing ? 1 : 0,
      color: c.color,
      ...(withPoints.has(c.id) ? { keypoints: ['point'], skeleton: [] } : {}),
    })),
    *annotations() {
      const ious: number[] = [];
      // Image by image: memory stays at one image's masks however large the project.
      for (const img of images) {
        for (const a of store.listAnnotations({ imageId: img.id })) {
          if (a.categoryId === null) {
            report.skipped.push({ annotationId: a.id, reason: 'no category assigned (a COCO annotation needs one)' });
            continue;
          }
          const extra = {
            iscrowd: a.iscrowd ? 1 : 0,
            ...(a.score !== null && a.score !== undefined ? { score: a.score } : {}),
            ...(defsOf.has(a.categoryId) ? { attributes: attributeValues(defsOf.get(a.categoryId)!, a.attributes) } : {}),
          } as const;
          if (a.shape !== 'mask') {
            report.annotations++;
            const [x, y] = a.bbox;
            yield a.shape === 'box'
              ? { id: a.id, image_id: a.imageId, category_id: a.categoryId, segmentation: [], area: a.area, bbox: a.bbox, ...extra }
              : { id: a.id, image_id: a.imageId, category_id: a.categoryId, segmentation: [], keypoints: [x, y, 2], num_keypoints: 1, area: 0, bbox: [x, y, 0, 0], ...extra };
            continue;
          }
          const rle = fromCompressedString(a.rle, a.height, a.width);
          if (area(rle) === 0) {
            report.skipped.push({ annotationId: a.id, reason: 'empty mask' });
            continue;
          }
          const out = encodeSegmentation(a.rle, rle, Boolean(a.iscrowd), opts.format, Boolean(opts.forcePolygons), tolerance, report);
          if (tolerance > 0 && Array.isArray(out.segmentation)) ious.push(iou(out.decoded, out.source));
          report.annotations++;
          yield {
            id: a.id,
            image_id: a.imageId,
            category_id: a.categoryId,
            segmentation: out.segmentation,
            area: area(out.decoded),
            bbox: bbox(out.decoded),
            ...extra,
          };
        }
      }
      if (ious.length)
        report.simplification = {
          meanIoU: ious.reduce((s, v) => s + v, 0) / ious.length,
          minIoU: Math.min(...ious),
          under90: ious.filter((v) => v < 0.9).length,
        };
    },
  };
}

function attributeValues(defs: readonly AttributeDef[], values: AttributeValues): Record<string, AttributeValue> {
  return Object.fromEntries(defs.map((d) => [d.name, values[d.name] ?? d.default]));
}

/** Why an image's masks cannot be exported now, and how to bring them back; null when they can. */
export function leftOutReason(img: ImageRow): string | null {
  if (img.missingSince !== null)
    return `the file is missing (since ${new Date(img.missingSince).toISOString().slice(0, 10)}): put it back, then index the folder again`;
  if (img.status === 'error') return `the file could not be read (${img.error ?? 'unknown reason'}): fix or replace it, then index the folder again`;
  return null;
}

/**
 * The segmentation to write and the mask a consumer will decode from it (bbox and area come from that). RLE
 * goes out as the stored counts string (`counts`): it is already COCO's compressed form.
 */
function encodeSegmentation(counts: string, rle: Rle, crowd: boolean, format: 'polygons' | 'rle', force: boolean, tolerance: number, report: CocoExportReport) {
  const asRle = { size: [rle.h, rle.w] as [number, number], counts };
  // Crowd regions are RLE by COCO convention.
  if (format === 'rle' || crowd) {
    report.rle++;
    return { segmentation: asRle, decoded: rle, source: rle };
  }
  // Holes are found on the runs, before any tracing: a mask that goes out as RLE is never traced, a filled one
  // once.
  let source = rle;
  if (hasHoles(rle)) {
    if (!force) {
      report.rleBecauseHoles++;
      report.rle++;
      return { segmentation: asRle, decoded: rle, source: rle };
    }
    report.holesFilled++;
    source = fillHoles(rle);
  }
  const outer = maskToPolygons(source, { tolerance }).map((p) => p.outer);
  report.polygons++;
  // Exact outlines rasterise back to the mask itself; simplified ones do not, so measure what was written.
  const decoded = tolerance > 0 ? polygonsToRle(outer, rle.h, rle.w) : source;
  return { segmentation: outer, decoded, source };
}
