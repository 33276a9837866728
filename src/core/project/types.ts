// Row types handed out by the store: plain camelCase objects (snake_case stays inside SQL).

export const IMAGE_STATUSES = ['unlabeled', 'in_progress', 'done', 'error'] as const;
export type ImageStatus = (typeof IMAGE_STATUSES)[number];

export const PROMPT_KINDS = ['points', 'text', 'example', 'vocabulary'] as const;
export type PromptKind = (typeof PROMPT_KINDS)[number];

export const RUN_STATUSES = ['running', 'done', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export interface ImageRow {
  id: number;
  /** Relative to the project folder, '/' separators. */
  path: string;
  /** As displayed: after EXIF orientation. 0 when the file could not be read. */
  width: number;
  height: number;
  bytes: number;
  mtimeMs: number;
  sha1: string | null;
  /** Detected from content: 'jpeg' | 'png' | 'webp' | 'tiff' | 'bmp' | 'gif'; null when not an image. */
  format: string | null;
  status: ImageStatus;
  error: string | null;
  indexedAt: number;
  /** When indexing last found the file gone (ms since epoch); null while it is there. */
  missingSince: number | null;
  /** Annotations on this image (computed when read). */
  annotationCount: number;
}

export interface ImageFilter {
  status?: ImageStatus;
  /** Case-insensitive substring of the path. */
  search?: string;
  /** true: only images whose file is missing; false: only those whose file is there. */
  missing?: boolean;
  /** true: only images holding proposals (isProposal); false: only those without. */
  proposals?: boolean;
}

export interface ImageListOptions extends ImageFilter {
  offset?: number;
  limit?: number;
}

export interface Category {
  id: number;
  name: string;
  supercategory: string;
  /** '#rrggbb', lower case. */
  color: string;
  isthing: boolean;
}

/** Alias kept for callers that name rows '…Row'. */
export type CategoryRow = Category;

export interface CategoryInput {
  /** Explicit id (≥ 1), e.g. to keep COCO ids on import; otherwise the next free one. */
  id?: number;
  name: string;
  /** null or absent: '' (COCO wants a string). */
  supercategory?: string | null;
  color?: string;
  isthing?: boolean;
}

export type CategoryPatch = Partial<Omit<CategoryInput, 'id'>>;

export type BBox = [x: number, y: number, w: number, h: number];

export const ATTRIBUTE_TYPES = ['boolean', 'text', 'select'] as const;
export type AttributeType = (typeof ATTRIBUTE_TYPES)[number];
/** A boolean attribute holds true/false; text and select (one of its options) hold a string. */
export type AttributeValue = boolean | string;
export type AttributeValues = Record<string, AttributeValue>;

/** One attribute a category's masks carry (e.g. occluded, truncated, a note). */
export interface AttributeDef {
  id: number;
  categoryId: number;
  name: string;
  type: AttributeType;
  /** The choices of a 'select' attribute; empty for the others. */
  options: string[];
  /** What a mask that was given no value has (export writes it). */
  default: AttributeValue;
}

export interface AttributeDefInput {
  categoryId: number;
  name: string;
  type: AttributeType;
  options?: string[];
  /** Absent: false, '' or the first option. */
  default?: AttributeValue;
}

export interface Annotation {
  id: number;
  imageId: number;
  categoryId: number | null;
  /** COCO compressed RLE counts string (column-major, first run zeros). */
  rle: string;
  height: number;
  width: number;
  area: number;
  bbox: BBox;
  iscrowd: 0 | 1;
  source: string;
  runId: number | null;
  score: number | null;
  /** Values of its category's attributes, by name; an attribute without one has its default. */
  attributes: AttributeValues;
  createdAt: number;
  updatedAt: number;
}

export type AnnotationRow = Annotation;

export interface AnnotationInput {
  imageId: number;
  categoryId: number | null;
  rle: string;
  height: number;
  width: number;
  area: number;
  bbox: BBox;
  iscrowd?: 0 | 1;
  /** 'manual' | 'import' | a pipeline's id | … */
  source: string;
  runId?: number | null;
  score?: number | null;
  attributes?: AttributeValues;
}

/** A new mask must come with its area and bbox (rle, area and bbox are given together). */
export type AnnotationPatch = Partial<Omit<AnnotationInput, 'imageId'>>;

export interface AnnotationFilter {
  imageId?: number;
  categoryId?: number | null;
  runId?: number;
}

export interface Prompt {
  id: number;
  imageId: number;
  kind: PromptKind;
  payload: unknown;
  runId: number | null;
  createdAt: number;
}

export interface PromptInput {
  imageId: number;
  kind: PromptKind;
  /** Any JSON-serialisable value. */
  payload: unknown;
  runId?: number | null;
}

export interface Run {
  id: number;
  pipeline: string;
  modelBundle: string | null;
  params: unknown;
  imageId: number | null;
  startedAt: number;
  finishedAt: number | null;
  status: RunStatus;
  error: string | null;
  /** Its unassigned masks are proposals (segment everything), not a labeler's accepted prompt (a click). */
  proposes: boolean;
}

export interface RunInput {
  pipeline: string;
  modelBundle?: string | null;
  params?: unknown;
  imageId?: number | null;
  proposes?: boolean;
}

/** A finished run, stored with its prompt and its masks in one transaction (ProjectStore.recordRun). */
export interface RunRecord extends RunInput {
  imageId: number;
  startedAt: number;
  status: Exclude<RunStatus, 'running'>;
  error?: string | null;
  prompt?: { kind: PromptKind; payload: unknown } | null;
  /** The masks it made, added to its image as one undoable step called `label`. */
  masks?: { label: string; add: Array<Omit<AnnotationInput, 'imageId' | 'runId'>> };
  /** Per mask of `masks.add`, the vocabulary class a run labelled it with (kept in its prompt's payload as `classes`). */
  proposalClasses?: (string | null)[];
}

export interface Example {
  id: number;
  imageId: number;
  annotationId: number;
  label: string;
}

export interface ExampleInput {
  imageId: number;
  annotationId: number;
  label?: string;
}

export interface ProjectStats {
  images: number;
  byStatus: Record<ImageStatus, number>;
  annotations: number;
  categories: number;
  /** Sum of the image files' sizes. */
  bytes: number;
  /** Images whose file is gone, kept with their work (excluded from export). */
  missing: number;
  /** Masks set aside because their image changed size (restored when it has that size again). */
  setAside: number;
}

/** What the indexer writes for one file. */
export interface IndexedImage {
  path: string;
  width: number;
  height: number;
  bytes: number;
  mtimeMs: number;
  sha1: string | null;
  format: string | null;
  /** Set when the file failed: the image gets status 'error'. */
  error: string | null;
}

/** One operation of an undoable edit on an image's annotations. */
export type EditOp =
  | { kind: 'add'; input: Omit<AnnotationInput, 'imageId'> }
  | { kind: 'update'; id: number; patch: AnnotationPatch }
  | { kind: 'delete'; id: number };

export interface HistoryState {
  canUndo: boolean;
  canRedo: boolean;
  undoLabel: string | null;
  redoLabel: string | null;
}
