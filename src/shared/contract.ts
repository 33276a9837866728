// The API contract: every method and event between the UI and the back end, with the zod schema of its
// payloads. Electron IPC (preload) and web mode (HTTP + WebSocket) bind this same table; the back end
// validates every input against it before doing anything.
import { z } from 'zod';

export const ImageStatus = z.enum(['unlabeled', 'in_progress', 'done', 'error']);
export type ImageStatus = z.infer<typeof ImageStatus>;

const Id = z.number().int().positive();
const Bbox = z.tuple([z.number(), z.number(), z.number(), z.number()]);
const Color = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'colour must look like #rrggbb');

/** A mask in COCO RLE form: size is [height, width]; counts compressed (string) or not (list). */
export const CocoRle = z.object({
  size: z.tuple([z.number().int().positive(), z.number().int().positive()]),
  // The list is checked whole (one issue), not entry by entry: a million wrong entries would be a million issues.
  counts: z.union([
    z.string(),
    z.custom<number[]>((v) => Array.isArray(v) && v.every((c) => Number.isInteger(c) && c >= 0), 'counts must be a list of non-negative integers'),
  ]),
});
export type CocoRle = z.infer<typeof CocoRle>;

export const Image = z.object({
  id: Id,
  path: z.string(),
  width: z.number().int().nonnegative(),
  height: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  format: z.string().nullable(),
  status: ImageStatus,
  error: z.string().nullable(),
  /** Number of annotations on the image. */
  annotations: z.number().int().nonnegative(),
  /** The file is gone: the image is kept with its masks, read-only and not exported, until indexing finds it again. */
  missing: z.boolean(),
});
export type Image = z.infer<typeof Image>;

export const Category = z.object({
  id: Id,
  name: z.string(),
  supercategory: z.string().nullable(),
  color: z.string(),
  isthing: z.boolean(),
});
export type Category = z.infer<typeof Category>;

/** A mask's attribute value: true/false for a boolean attribute, a string for text and select ones. */
export const AttributeValue = z.union([z.boolean(), z.string().max(1000)]);
export type AttributeValue = z.infer<typeof AttributeValue>;

/** An attribute a category's masks carry (occluded, truncated, a note…). */
export const AttributeDef = z.object({
  id: Id,
  categoryId: Id,
  name: z.string(),
  type: z.enum(['boolean', 'text', 'select']),
  /** The choices of a 'select' attribute. */
  options: z.array(z.string()),
  /** What a mask given no value has. */
  default: AttributeValue,
});
export type AttributeDef = z.infer<typeof AttributeDef>;

export const Annotation = z.object({
  id: Id,
  imageId: Id,
  categoryId: Id.nullable(),
  mask: z.object({ size: z.tuple([z.number(), z.number()]), counts: z.string() }),
  area: z.number(),
  bbox: Bbox,
  iscrowd: z.boolean(),
  source: z.string(),
  runId: Id.nullable(),
  score: z.number().nullable(),
  /** Made by a run that proposes masks (segment everything), not accepted by a labeler: see isProposal. */
  proposed: z.boolean(),
  /**
   * For a proposal, the category its run was asked to find (an example's; the category must still exist), which
   * accepting it gives at once; null otherwise.
   */
  suggestedCategoryId: Id.nullable(),
  /** Values of its category's attributes by name; one not here has its default. */
  attributes: z.record(z.string(), AttributeValue),
  /** A mask, a box (bbox; mask.counts '') or a point (bbox [x, y, 0, 0]; mask.counts ''). */
  shape: z.enum(['mask', 'box', 'point']),
});
export type Annotation = z.infer<typeof Annotation>;

/** A box [x, y, w, h] or a point in image pixels (continuous coordinates: the image spans 0…width, 0…height). */
export const ShapeGeometry = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('box'), bbox: z.tuple([z.number().finite(), z.number().finite(), z.number().finite(), z.number().finite()]) }).strict(),
  z.object({ kind: z.literal('point'), x: z.number().finite(), y: z.number().finite() }).strict(),
]);
export type ShapeGeometry = z.infer<typeof ShapeGeometry>;

/** A mask marked "use as example": what a pipeline that segments from an example is given. */
export const Example = z.object({
  id: Id,
  annotationId: Id,
  label: z.string(),
  imageId: Id,
  imagePath: z.string(),
  /** The example mask's category (null: unassigned) and where it lies on its image. */
  categoryId: Id.nullable(),
  bbox: Bbox,
});
export type Example = z.infer<typeof Example>;

/**
 * A proposal: a mask a pipeline proposed that no labeler has given a category. Proposals alone leave an image
 * 'unlabeled' (a machine's guesses are not labelling); any other mask, an accepted click included, moves it on.
 */
export function isProposal(a: { categoryId: number | null; proposed: boolean }): boolean {
  return a.categoryId === null && a.proposed;
}

/** Undo/redo position of one image; kept in the project database, so it survives a reload. */
export const HistoryState = z.object({
  imageId: Id,
  canUndo: z.boolean(),
  canRedo: z.boolean(),
  /** What the next undo / redo would revert / repeat, e.g. "brush", "delete". */
  undoLabel: z.string().nullable(),
  redoLabel: z.string().nullable(),
});
export type HistoryState = z.infer<typeof HistoryState>;

/** The result of an edit, undo or redo: the image's annotations afterwards and its history position. */
export const EditResult = z.object({ annotations: z.array(Annotation), history: HistoryState });
export type EditResult = z.infer<typeof EditResult>;

/** Short name of the tool that made an edit, shown as "Undo brush". */
const EditLabel = z.string().min(1).max(40).optional();

export const Stats = z.object({
  images: z.number(),
  byStatus: z.record(ImageStatus, z.number()),
  annotations: z.number(),
  categories: z.number(),
  bytes: z.number(),
  /** Images whose file is missing. */
  missing: z.number(),
  /** Masks set aside because their image changed size (back when it has that size again). */
  setAside: z.number(),
});
export type Stats = z.infer<typeof Stats>;

export const ProjectInfo = z.object({ folder: z.string(), dbPath: z.string(), schemaVersion: z.number(), stats: Stats });
export type ProjectInfo = z.infer<typeof ProjectInfo>;

export const JobState = z.enum(['running', 'done', 'failed', 'cancelled']);
export const Job = z.object({
  id: z.string(),
  kind: z.string(),
  state: JobState,
  done: z.number(),
  total: z.number(),
  message: z.string(),
  result: z.unknown().optional(),
  error: z.string().optional(),
});
export type Job = z.infer<typeof Job>;

export const CocoExportReport = z.object({
  images: z.number(),
  annotations: z.number(),
  categories: z.number(),
  polygons: z.number(),
  rle: z.number(),
  /** Masks with holes written as RLE in polygon mode (a polygon cannot hold a hole). */
  rleBecauseHoles: z.number(),
  /** Masks with holes forced into polygons: their holes were filled. */
  holesFilled: z.number(),
  /** With a simplification tolerance: how far the written polygons are from the masks (IoU), and how many fell under 0.9. */
  simplification: z.object({ meanIoU: z.number(), minIoU: z.number(), under90: z.number() }).nullable(),
  skipped: z.array(z.object({ annotationId: z.number(), reason: z.string() })),
  /** Images whose file cannot be read now (unreadable, missing): left out with their masks; the reason says how to bring them back. */
  leftOut: z.array(z.object({ path: z.string(), masks: z.number(), reason: z.string() })),
});
export type CocoExportReport = z.infer<typeof CocoExportReport>;

/** COCO panoptic export: one PNG of segment ids per image, one segment per thing mask and per stuff category. */
export const PanopticExportReport = z.object({
  images: z.number(),
  /** Masks that went into a segment. */
  annotations: z.number(),
  segments: z.number(),
  categories: z.number(),
  /** Overlapping masks: the pixels a mask drawn above took from the masks under it, per image and in all. */
  changedHands: z.object({ pixels: z.number(), images: z.array(z.object({ path: z.string(), pixels: z.number() })) }),
  /** Several masks of one stuff category on an image, written as the category's one segment. */
  stuffMerged: z.array(z.object({ path: z.string(), category: z.string(), masks: z.number() })),
  skipped: CocoExportReport.shape.skipped,
  leftOut: CocoExportReport.shape.leftOut,
});
export type PanopticExportReport = z.infer<typeof PanopticExportReport>;

export const CocoImportReport = z.object({
  images: z.number(),
  annotations: z.number(),
  categoriesCreated: z.number(),
  /** id: the entry's COCO id, or "#<position>" with a short description when it has no usable one. */
  skipped: z.array(z.object({ what: z.enum(['image', 'annotation', 'category']), id: z.union([z.number(), z.string()]), reason: z.string() })),
});
export type CocoImportReport = z.infer<typeof CocoImportReport>;

/** The dataset folder formats: written (YOLO segmentation or detection, VOC, labelme, mask PNGs) and read (YOLO lines of either kind, VOC, labelme, mask PNGs). */
export const DatasetExportFormat = z.enum(['yolo-seg', 'yolo-det', 'voc', 'labelme', 'masks']);
export type DatasetExportFormat = z.infer<typeof DatasetExportFormat>;
export const DatasetImportFormat = z.enum(['yolo', 'voc', 'labelme', 'masks']);
export type DatasetImportFormat = z.infer<typeof DatasetImportFormat>;

/** Export to a dataset folder (YOLO, VOC): what was written, and what was not with the reason. */
export const DatasetExportReport = z.object({
  images: z.number(),
  /** Masks written; a mask in several pieces is one line per piece in YOLO segmentation. */
  annotations: z.number(),
  /** YOLO lines, or VOC objects. */
  lines: z.number(),
  categories: z.number(),
  /** Masks with holes written filled (a YOLO polygon has one ring). */
  holesFilled: z.number(),
  /** Masks that lost pixels to a later mask (a label image holds one object per pixel); whole ones lost are in skipped. */
  overlapped: z.number(),
  skipped: z.array(z.object({ annotationId: z.number(), reason: z.string() })),
  leftOut: z.array(z.object({ path: z.string(), masks: z.number(), reason: z.string() })),
});
export type DatasetExportReport = z.infer<typeof DatasetExportReport>;

/**
 * Import of a dataset folder (YOLO, VOC). skipped: a file (line null) or one of its lines (from 1; for VOC the
 * object's index in the mask PNG), with the reason. labelFiles: label files or mask PNGs read.
 */
export const DatasetImportReport = z.object({
  images: z.number(),
  annotations: z.number(),
  categoriesCreated: z.number(),
  labelFiles: z.number(),
  skipped: z.array(z.object({ file: z.string(), line: z.number().nullable(), reason: z.string() })),
});
export type DatasetImportReport = z.infer<typeof DatasetImportReport>;

/** A click in image pixels; positive = add (+), false = remove (−). */
export const ClickPoint = z.object({ x: z.number().finite(), y: z.number().finite(), positive: z.boolean() }).strict();
export type ClickPoint = z.infer<typeof ClickPoint>;

/** What a labeler gives a pipeline besides the image, by the kind the pipeline declares ('none': no prompt). */
export const PromptKind = z.enum(['points', 'text', 'example', 'vocabulary']);
export type PromptKind = z.infer<typeof PromptKind>;
export const Prompt = z.discriminatedUnion('kind', [
  /** Clicks, and a box [x, y, w, h] the segment should lie in; without a box at least one click. */
  z.object({ kind: z.literal('points'), points: z.array(ClickPoint).max(100), box: Bbox.optional() }).strict(),
  /** A text; `categoryId`: the category it names, which its proposals are offered in. */
  z.object({ kind: z.literal('text'), text: z.string().trim().min(1).max(1000), categoryId: Id.optional() }).strict(),
  /** An annotated example: one of the project's masks, with its category. */
  z.object({ kind: z.literal('example'), annotationId: Id }).strict(),
  /**
   * Category names to find (an entry may list synonyms: "car, automobile"); `stuff`: the entries, by their first
   * synonym, that are stuff (regions, merged where they touch) rather than things (instances).
   */
  z.object({
    kind: z.literal('vocabulary'),
    names: z.array(z.string().trim().min(1).max(200)).min(1).max(1000),
    stuff: z.array(z.string().trim().min(1).max(200)).max(1000).optional(),
  }).strict(),
]);
export type Prompt = z.infer<typeof Prompt>;

/** A project's vocabulary: entries as a vocabulary prompt takes them, and those (by first synonym) that are stuff. */
export const ProjectVocabulary = z.object({
  names: z.array(z.string().trim().min(1).max(200)).max(1000),
  stuff: z.array(z.string().trim().min(1).max(200)).max(1000),
});
export type ProjectVocabulary = z.infer<typeof ProjectVocabulary>;

/** A pipeline's id (`pipelines.list`): also its runs' pipeline, its jobs' kind and its proposals' source. */
const PipelineId = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, 'a pipeline id is lower-case letters, digits and dashes');

/** A pipeline's parameters as a JSON object, checked by the back end against the pipeline's own schema. */
const PipelineParams = z.record(z.string(), z.unknown());

export const PipelineInfo = z.object({
  id: z.string(),
  title: z.string(),
  description: z.string(),
  prompt: z.union([PromptKind, z.literal('none')]),
  /** The interactive preview it offers for its prompt (e.g. 'click'); null: runs over images only. */
  preview: z.string().nullable(),
  /** What running it on an image is called ("segment everything"): its button, and the undo step of its proposals. */
  runLabel: z.string(),
  /** Its parameters as JSON Schema (draft 2020-12), each with its default and description. */
  params: z.record(z.string(), z.unknown()),
  /** Components it needs from a model bundle ('tokenizer': the bundle's tokenizer); none: it needs no model. */
  components: z.array(z.string()),
  /** It has a test fixture model, chosen as model 'fixture'. */
  fixture: z.boolean(),
  /** Whether it can run with the model asked about (or the automatic choice), and if not, why. */
  available: z.boolean(),
  reason: z.string().optional(),
  /** The bundle that was judged (null: none needed, or none found). */
  model: z.string().nullable(),
});
export type PipelineInfo = z.infer<typeof PipelineInfo>;

/** The result of a pipeline's batch job (`pipelines.run`). */
export const BatchReport = z.object({
  pipeline: z.string(),
  /** Bundle name; null for a pipeline that needs no model. */
  model: z.string().nullable(),
  params: z.record(z.string(), z.unknown()),
  total: z.number(),
  /** Images segmented in this run. */
  segmented: z.number(),
  /** Images skipped: a finished run with the same pipeline, model and params exists (resume). */
  skipped: z.number(),
  proposals: z.number(),
  failed: z.array(z.object({ imageId: z.number(), path: z.string(), error: z.string() })),
  cancelled: z.boolean(),
});
export type BatchReport = z.infer<typeof BatchReport>;

/** An installed model bundle (or the pipelines' test fixture) as the model manager shows it. */
export const ModelInfo = z.object({
  name: z.string(),
  /** Its folder; null for the test fixture. */
  dir: z.string().nullable(),
  /** bundle.json reads and names only files the bundle holds (contents are checked by models.verify). */
  ok: z.boolean(),
  error: z.string().optional(),
  components: z.array(z.string()),
  /** The behaviour fixture used by tests and demos: not a real segmenter. */
  fixture: z.boolean(),
  /** Which models folder holds it: 'user' ($DIFFLABEL_MODELS_DIR or the user data folder) or 'resources' (resources/models). */
  folder: z.enum(['user', 'resources']).nullable(),
  /** What each registered pipeline can do with it: run, or why not. */
  runs: z.array(z.object({ pipeline: z.string(), title: z.string(), available: z.boolean(), reason: z.string().optional() })),
  /** Bytes of every file in its folder. */
  bytes: z.number().nullable(),
  dtype: z.enum(['float32', 'float16']).nullable(),
  /** The execution provider a new session on it would get (runtime.status says what running sessions got). */
  provider: z.string(),
  /** As the user stated it at conversion ('unknown' when not). */
  licence: z.string().nullable(),
  /** Components whose weights carry a licence of their own, different from `licence` (e.g. Alpha-CLIP's tower). */
  componentLicences: z.record(z.string(), z.string()),
  /** What it was converted from. */
  source: z.object({ path: z.string(), kind: z.string() }).nullable(),
  createdAt: z.string().nullable(),
  /** What the converter noticed but accepted. */
  warnings: z.array(z.string()),
  /** The latest verification of the bundle as it is on disk now; null: never verified, or a file changed since. */
  verified: z.object({ ok: z.boolean(), at: z.string(), problems: z.array(z.string()) }).nullable(),
  /** A running job uses it (its conversion, its verification, a pipeline's run): it cannot be removed now. */
  busy: z.boolean(),
});
export type ModelInfo = z.infer<typeof ModelInfo>;

/** The result of a models.add or models.verify job. */
export const ModelJobResult = z.object({ dir: z.string(), name: z.string(), warnings: z.array(z.string()) });
export type ModelJobResult = z.infer<typeof ModelJobResult>;

/** A path on the machine the back end runs on. */
const FilePath = z.string().min(1).max(4096);

/** 'fixture' (the pipeline's test model), a bundle folder, or an installed bundle's name; default: the first installed bundle the pipeline can run on. */
const ModelSpec = z.string().min(1).max(4096);

const none = z.object({}).strict();

/** Every method: its input and output schema. Names are `area.verb`. */
export const methods = {
  'app.info': {
    input: none,
    output: z.object({ version: z.string(), shell: z.enum(['electron', 'web']), project: ProjectInfo.nullable() }),
  },
  /** Native folder picker; web mode has none and answers null (the UI then asks for a path). */
  'app.pickFolder': { input: none, output: z.object({ folder: z.string().nullable() }) },
  /** Native file picker, offering files with these extensions; web mode has none and answers null. */
  'app.pickFile': {
    input: z.object({ extensions: z.array(z.string().regex(/^[a-z0-9.]{1,20}$/i, 'an extension without the dot')).max(20).optional() }).strict(),
    output: z.object({ file: z.string().nullable() }),
  },
  /** Which ONNX Runtime execution provider inference uses, and why any preferred one was not available. */
  'runtime.status': {
    input: none,
    output: z.object({
      active: z.string(),
      requested: z.array(z.string()),
      fallbacks: z.array(z.object({ provider: z.string(), reason: z.string() })),
    }),
  },
  /** Installed model bundles (resources/models, the user models folder), plus the test fixture. */
  'models.list': { input: none, output: z.array(ModelInfo) },
  /**
   * Converts a checkpoint (diffusers folder, or an SD 1.x single file with `tokenizer` and, for other architectures,
   * `configs`) into a bundle in a models folder, then verifies it: a job of kind 'models.add' (result ModelJobResult).
   * A failed or cancelled job leaves nothing. In web mode every path must lie inside the project folder.
   */
  'models.add': {
    input: z
      .object({
        source: FilePath,
        /** Bundle name (default: the source's name); its folder is named after it. */
        name: z.string().trim().min(1).max(100).optional(),
        licence: z.string().trim().min(1).max(200).optional(),
        fp16: z.boolean().default(false),
        tokenizer: FilePath.optional(),
        configs: FilePath.optional(),
        into: z.enum(['user', 'resources']).default('user'),
      })
      .strict(),
    output: z.object({ jobId: z.string(), dir: z.string() }),
  },
  /** Checks a listed bundle's files, checksums and models: a job of kind 'models.verify' (result ModelJobResult). */
  'models.verify': { input: z.object({ dir: FilePath }).strict(), output: z.object({ jobId: z.string() }) },
  /** Deletes a bundle inside a models folder that no running job uses. */
  'models.remove': { input: z.object({ dir: FilePath }).strict(), output: z.object({ dir: z.string() }) },
  'project.open': { input: z.object({ folder: z.string().min(1) }).strict(), output: ProjectInfo },
  'project.stats': { input: none, output: Stats },
  /** Starts (re-)indexing the folder as a job; progress arrives as `job.progress` events. */
  'project.index': { input: none, output: z.object({ jobId: z.string() }) },
  'jobs.list': { input: none, output: z.array(Job) },
  'jobs.cancel': { input: z.object({ id: z.string() }).strict(), output: Job },
  'images.list': {
    input: z
      .object({
        status: ImageStatus.optional(),
        search: z.string().max(1000).optional(),
        /** true: only images whose file is missing; false: only those whose file is there. */
        missing: z.boolean().optional(),
        /** true: only images holding proposals (isProposal); false: only those without. */
        proposals: z.boolean().optional(),
        offset: z.number().int().nonnegative().default(0),
        limit: z.number().int().positive().max(5000).default(500),
      })
      .strict(),
    output: z.object({ total: z.number(), items: z.array(Image) }),
  },
  /** Where an image sits in images.list with the same filter (ordered by path, then id): index null = the filter hides it. */
  'images.position': {
    input: z
      .object({ id: Id, status: ImageStatus.optional(), search: z.string().max(1000).optional(), missing: z.boolean().optional(), proposals: z.boolean().optional() })
      .strict(),
    output: z.object({ index: z.number().int().nonnegative().nullable(), total: z.number() }),
  },
  'images.get': { input: z.object({ id: Id }).strict(), output: Image },
  'images.setStatus': { input: z.object({ id: Id, status: ImageStatus.exclude(['error']) }).strict(), output: Image },
  'categories.list': { input: none, output: z.array(Category) },
  'categories.add': {
    input: z
      .object({
        name: z.string().trim().min(1).max(200),
        supercategory: z.string().max(200).optional(),
        color: Color.optional(),
        isthing: z.boolean().optional(),
      })
      .strict(),
    output: Category,
  },
  'categories.update': {
    input: z
      .object({
        id: Id,
        name: z.string().trim().min(1).max(200).optional(),
        supercategory: z.string().max(200).nullable().optional(),
        color: Color.optional(),
        isthing: z.boolean().optional(),
      })
      .strict(),
    output: Category,
  },
  /** How many masks, on how many images, each category has: what deleting it leaves unassigned. */
  'categories.counts': { input: none, output: z.array(z.object({ id: Id, annotations: z.number(), images: z.number() })) },
  /** Deletes a category; its masks become unassigned (not undoable). */
  'categories.delete': { input: z.object({ id: Id }).strict(), output: z.object({ deleted: z.boolean() }) },
  /** Moves every annotation of `from` to `into`, then deletes `from`. */
  'categories.merge': { input: z.object({ from: Id, into: Id }).strict(), output: Category },
  /**
   * The project's vocabulary ("Label everything"): category entries (synonyms comma-separated) and which of them are
   * stuff; until one is set, the project's categories (stuff: those with isthing false).
   */
  'vocabulary.get': { input: none, output: ProjectVocabulary },
  'vocabulary.set': { input: ProjectVocabulary.strict(), output: ProjectVocabulary },
  'annotations.list': { input: z.object({ imageId: Id }).strict(), output: z.array(Annotation) },
  'annotations.add': {
    input: z
      .object({
        imageId: Id,
        categoryId: Id.nullable(),
        mask: CocoRle,
        source: z.string().min(1).max(50).optional(),
        label: EditLabel,
        /** "No overlap": the mask's pixels are taken from the image's other masks in the same undo step (emptied ones are deleted). */
        exclusive: z.boolean().optional(),
      })
      .strict(),
    output: Annotation,
  },
  /** `exclusive` (needs `mask`): as for annotations.add, the new mask's pixels leave the image's other masks in the same step. */
  'annotations.update': {
    input: z
      .object({ id: Id, categoryId: Id.nullable().optional(), mask: CocoRle.optional(), label: EditLabel, exclusive: z.boolean().optional() })
      .strict(),
    /** droppedAttributes: values the new category has no attribute for (or does not accept), gone with the change. */
    output: Annotation.extend({ droppedAttributes: z.array(z.string()) }),
  },
  /** Sets attribute values on a mask (null: back to the default). One undo step. */
  'annotations.setAttributes': {
    input: z.object({ id: Id, values: z.record(z.string().min(1).max(100), AttributeValue.nullable()), label: EditLabel }).strict(),
    output: Annotation,
  },
  /** Attribute definitions, of one category or of all, in the order they were defined. */
  'attributes.list': { input: z.object({ categoryId: Id.optional() }).strict(), output: z.array(AttributeDef) },
  /** Defines an attribute for a category's masks; the default is false, '' or the first option unless given. */
  'attributes.define': {
    input: z
      .object({
        categoryId: Id,
        name: z.string().trim().min(1).max(100),
        type: AttributeDef.shape.type,
        options: z.array(z.string().trim().min(1).max(200)).max(100).optional(),
        default: AttributeValue.optional(),
      })
      .strict(),
    output: AttributeDef,
  },
  /** Deletes a definition and its values on the category's masks (not undoable); cleared: masks that had one. */
  'attributes.delete': { input: z.object({ id: Id }).strict(), output: z.object({ deleted: z.boolean(), cleared: z.number() }) },
  'annotations.delete': { input: z.object({ id: Id, label: EditLabel }).strict(), output: z.object({ deleted: z.boolean() }) },
  /** Deletes masks of one image as one undo step; ids already gone are skipped. */
  'annotations.deleteMany': {
    input: z.object({ imageId: Id, ids: z.array(Id).min(1).max(100_000), label: EditLabel }).strict(),
    output: EditResult,
  },
  /**
   * Unites masks of one image into the first of them; the others are deleted. One undo step. `exclusive` ("no
   * overlap"): the merged mask, less the `locked` masks' pixels, takes its pixels from the image's other masks.
   */
  'annotations.merge': {
    input: z
      .object({ ids: z.array(Id).min(2).max(1000), categoryId: Id.nullable().optional(), exclusive: z.boolean().optional(), locked: z.array(Id).max(100_000).optional() })
      .strict(),
    output: EditResult,
  },
  /** Splits a mask into its connected parts (8-connected), each its own annotation. One undo step. `exclusive` and `locked` as for merge. */
  'annotations.split': { input: z.object({ id: Id, exclusive: z.boolean().optional(), locked: z.array(Id).max(100_000).optional() }).strict(), output: EditResult },
  /** Marks a mask as an example (its image is the mask's; a mask that is one already answers that one). Deleting the mask deletes its examples. */
  'examples.add': { input: z.object({ annotationId: Id, label: z.string().max(200).optional() }).strict(), output: Example },
  /** The examples, oldest first; with categoryId (null: unassigned) those whose mask has that category. */
  'examples.list': { input: z.object({ categoryId: Id.nullable().optional() }).strict(), output: z.array(Example) },
  'examples.delete': { input: z.object({ id: Id }).strict(), output: z.object({ deleted: z.boolean() }) },
  'history.state': { input: z.object({ imageId: Id }).strict(), output: HistoryState },
  'history.undo': { input: z.object({ imageId: Id }).strict(), output: EditResult },
  'history.redo': { input: z.object({ imageId: Id }).strict(), output: EditResult },
  /**
   * COCO instances or panoptic export. With `out` the file is written there (atomically; only over a previous export; in web
   * mode only inside the project folder); without, the document is returned.
   */
  'coco.export': {
    input: z
      .object({
        /** instances (one JSON) or panoptic (a JSON and a folder of PNGs beside it: needs `out`). */
        kind: z.enum(['instances', 'panoptic']).default('instances'),
        format: z.enum(['polygons', 'rle']).default('rle'),
        forcePolygons: z.boolean().default(false),
        tolerance: z.number().min(0).max(10).default(0),
        out: z.string().min(1).optional(),
      })
      .strict(),
    output: z.object({ report: z.union([CocoExportReport, PanopticExportReport]), path: z.string().optional(), document: z.unknown().optional() }),
  },
  /** COCO instances or panoptic import from a file path (`file`; in web mode inside the project folder), or instances from an uploaded document (`document`); the project folder is indexed first. */
  'coco.import': {
    input: z
      .object({
        file: z.string().min(1).optional(),
        document: z.unknown().optional(),
        /** What the file must be: panoptic reads the JSON and the folder of PNGs of its name beside it (a file only). Default: what the file is. */
        kind: z.enum(['instances', 'panoptic']).optional(),
      })
      .strict()
      .refine((v) => (v.file === undefined) !== (v.document === undefined), 'give exactly one of file or document'),
    output: CocoImportReport,
  },
  /**
   * Export to a dataset folder `out` (created when its parent exists; in web mode inside the project folder):
   * YOLO segmentation or detection (data.yaml + labels/), Pascal VOC (XML + label PNGs), labelme (JSON per image), mask PNGs
   * (a PNG per mask, a 16-bit instance PNG per image, masks.json). docs/formats.md says
   * what each format keeps.
   */
  'formats.export': {
    /** copyImages: the images are copied into the dataset (YOLO and mask PNGs: images/, VOC: JPEGImages/; not labelme). */
    input: z.object({ format: DatasetExportFormat, out: z.string().min(1), copyImages: z.boolean().optional() }).strict(),
    output: z.object({ report: DatasetExportReport, path: z.string() }),
  },
  /**
   * Import of a dataset folder (in web mode inside the project folder); all of it or, on a refusal, nothing.
   * Without `format`: VOC for a folder with SegmentationObject/, mask PNGs for one with masks.json, masks/ or instances/,
   * YOLO for one with labels/ or a .yaml file, else labelme. The project folder is indexed first.
   */
  'formats.import': {
    input: z.object({ folder: z.string().min(1), format: DatasetImportFormat.optional() }).strict(),
    output: DatasetImportReport,
  },
  /** The segmenters, each with its parameters (JSON Schema), prompt kind, components and whether it can run with `model`. */
  'pipelines.list': { input: z.object({ model: ModelSpec.optional() }).strict(), output: z.array(PipelineInfo) },
  /**
   * A pipeline over images as a job (kind: the pipeline's id; progress: image i of n; cancel; resume: images with a
   * finished run of the same pipeline, model and params are skipped). Results are proposals: annotations with
   * categoryId null, the pipeline's id as source and the run's id. The job's result is the BatchReport.
   */
  'pipelines.run': {
    input: z
      .object({ pipeline: PipelineId, imageIds: z.array(Id).max(1_000_000).optional(), params: PipelineParams.optional(), prompt: Prompt.optional(), model: ModelSpec.optional() })
      .strict(),
    output: z.object({ jobId: z.string() }),
  },
  /**
   * The mask a prompt gives on one image, not stored (e.g. + / − clicks). The first call on an image may take seconds.
   * `cachedOnly` (the click tool's hover preview): answer only from what the pipeline cached for the image, never run a
   * model; refused with `conflict` when nothing is cached.
   */
  'pipelines.preview': {
    input: z
      .object({ pipeline: PipelineId, imageId: Id, prompt: Prompt, params: PipelineParams.optional(), model: ModelSpec.optional(), cachedOnly: z.boolean().optional() })
      .strict(),
    output: z.object({
      mask: z.object({ size: z.tuple([z.number(), z.number()]), counts: z.string() }),
      area: z.number(),
      /** What the image needs was cached (no model ran). */
      cached: z.boolean(),
      ms: z.number(),
    }),
  },
  /** Keeps a preview: its run, the prompt and the mask (source: the pipeline's id and the preview's name) in one step. */
  'pipelines.accept': {
    input: z
      .object({
        pipeline: PipelineId, imageId: Id, prompt: Prompt, categoryId: Id.nullable(), params: PipelineParams.optional(), model: ModelSpec.optional(),
        /** No overlap: the accepted mask, less the `locked` masks, takes its pixels from the image's other masks in the same undo step. */
        exclusive: z.boolean().optional(),
        locked: z.array(Id).max(100_000).optional(),
      })
      .strict(),
    output: Annotation,
  },
  /** Adds a box or a point (not a mask) with a category; one undo step. */
  'annotations.addShape': {
    input: z.object({ imageId: Id, categoryId: Id.nullable(), shape: ShapeGeometry, source: z.string().min(1).max(50).optional(), label: EditLabel }).strict(),
    output: Annotation,
  },
  /** Moves or resizes a box, or moves a point (the kind must be the annotation's); one undo step. */
  'annotations.setShape': { input: z.object({ id: Id, shape: ShapeGeometry, label: EditLabel }).strict(), output: Annotation },
  /**
   * The prompts a pipeline's runs were given (stored with each run), each once, the last used first: to run one again.
   */
  'prompts.list': {
    input: z.object({ pipeline: PipelineId, limit: z.number().int().min(1).max(1000).default(50) }).strict(),
    output: z.array(z.object({ prompt: Prompt, usedAt: z.number(), runs: z.number() })),
  },
  /**
   * Generates images from text with a mask per category (grounded diffusion, docs/grounded.md) as a job of kind
   * 'generate' (progress: model calls of all images; cancel between calls; resume: images made before with the same
   * settings are skipped). The images are held for review (generate.held) and join the project when kept. seed: the
   * first image's (image j gets seed + j); drawn at random when not given, and answered.
   */
  'generate.start': {
    input: z
      .object({
        prompt: z.string().trim().min(1).max(1000),
        negativePrompt: z.string().max(1000).default(''),
        /** Category names to mask (created when an image is kept). */
        categories: z.array(z.string().trim().min(1).max(200)).min(1, 'give at least one category to mask').max(50),
        count: z.number().int().min(1).max(1000).default(1),
        seed: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
        sampler: z.enum(['ddim', 'pndm', 'dpmpp']).default('ddim'),
        /** Default: 50 for ddim and pndm, 25 for dpmpp. */
        steps: z.number().int().min(1).max(1000).optional(),
        scale: z.number().finite().nonnegative().max(100).default(7.5),
        width: z.number().int().positive().multipleOf(64, 'a multiple of 64').default(512),
        height: z.number().int().positive().multipleOf(64, 'a multiple of 64').default(512),
        grounding: z.enum(['module', 'attention']).default('module'),
        model: ModelSpec.optional(),
        /** The project subfolder kept images go to. */
        subfolder: z.string().min(1).max(1000).default('generated'),
        /** Previews while sampling: 'latent' (a linear map of the latent, no model run) or 'decoder' (a decoder run each). */
        preview: z.enum(['latent', 'decoder']).default('latent'),
      })
      .strict(),
    output: z.object({ jobId: z.string(), seed: z.number() }),
  },
  /** The generated images waiting for review, with their masks; image: the PNG as a data URL. */
  'generate.held': {
    input: none,
    output: z.array(
      z.object({
        path: z.string(),
        image: z.string(),
        width: z.number(),
        height: z.number(),
        prompt: z.string(),
        seed: z.number(),
        model: z.string(),
        masks: z.array(z.object({ category: z.string(), mask: z.object({ size: z.tuple([z.number(), z.number()]), counts: z.string() }), area: z.number() })),
      }),
    ),
  },
  /** Adds held images to the project (their path) with their masks as annotations of their categories and their run. */
  'generate.keep': {
    input: z.object({ paths: z.array(z.string().min(1).max(4096)).min(1).max(10_000) }).strict(),
    output: z.array(z.object({ path: z.string(), imageId: Id })),
  },
  /** Deletes held images; nothing in the project changes. */
  'generate.discard': {
    input: z.object({ paths: z.array(z.string().min(1).max(4096)).min(1).max(10_000) }).strict(),
    output: z.object({ discarded: z.number() }),
  },
} as const;

/** Every event the back end pushes to the UI. */
export const events = {
  'job.progress': z.object({
    jobId: z.string(), kind: z.string(), done: z.number(), total: z.number(), message: z.string(),
    /** An iterative pipeline's current mask on the image it is working on (sent every few of its steps). */
    preview: z.object({ imageId: Id, mask: z.object({ size: z.tuple([z.number(), z.number()]), counts: z.string() }) }).optional(),
    /**
     * A generator's look at the image it is sampling (sent every few of its steps): image `index` of the job's (from 0),
     * at `path` once made; a PNG data URL of width × height (the latent's size, 64² for 512², by default).
     */
    sample: z
      .object({
        index: z.number().int().nonnegative(), path: z.string(), step: z.number().int().positive(), steps: z.number().int().positive(),
        width: z.number().int().positive(), height: z.number().int().positive(), image: z.string().startsWith('data:image/png;base64,'),
      })
      .optional(),
  }),
  'job.finished': Job,
  'project.changed': z.object({ what: z.enum(['project', 'images', 'categories', 'annotations', 'examples', 'vocabulary']), imageId: z.number().optional() }),
  /** A bundle was added, removed or verified: models.list answers differently now. */
  'models.changed': z.object({}),
  /** The generated images held for review changed (one was made, kept or discarded). */
  'generate.changed': z.object({}),
} as const;

export type Methods = typeof methods;
export type MethodName = keyof Methods;
export type MethodInput<M extends MethodName> = z.input<Methods[M]['input']>;
export type MethodOutput<M extends MethodName> = z.output<Methods[M]['output']>;
export type EventName = keyof typeof events;
export type EventPayload<E extends EventName> = z.output<(typeof events)[E]>;

export const methodNames = Object.keys(methods) as MethodName[];
export const eventNames = Object.keys(events) as EventName[];

/** Errors crossing the contract keep a machine-readable code. */
export type ApiErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'no_project'
  | 'conflict'
  | 'too_large'
  | 'unsupported_media_type'
  | 'project_refused'
  | 'internal'
  /** A pipeline has no model to run: none is installed, the one named is not, or it lacks the pipeline's components. */
  | 'no_model'
  /** The disk failed (full, read-only, locked by another process, I/O error): nothing was saved. */
  | 'unavailable';
export interface ApiErrorBody {
  code: ApiErrorCode;
  message: string;
  issues?: { path: string; message: string }[];
}

/** The one client the renderer uses; implemented over Electron IPC and over HTTP + WebSocket. */
export interface Client {
  call<M extends MethodName>(method: M, input: MethodInput<M>): Promise<MethodOutput<M>>;
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
  thumbnailUrl(imageId: number): string;
  imageUrl(imageId: number): string;
}
