// What a segmenter declares to plug into DiffLabel (see docs/architecture.md, "Pipelines"). The API, the CLI, the
// converter and the renderer read these declarations through the registry; the runner (run.ts) does everything
// around the model: bundles, runs, prompts, proposals, resume, jobs.
import type { z } from 'zod';
import type { Prompt, PromptKind } from '../../shared/contract';
import type { Rle } from '../../shared/masks';
import type { BundleManifest, UNetVariant } from '../ml/bundle';
import type { InferenceHost, RunPriority } from '../ml/runtime';
import type { ImageRow } from '../project';
import type { RgbImage } from './common/frame';
import type { TensorCache, TensorCacheOptions } from './common/tensorCache';

export interface Pipeline<P = any> {
  /** Lower-case id: the runs' pipeline, the job kind, the proposals' source, `segment --pipeline`. */
  readonly id: string;
  /** Its name for people ("DiffSeg"). */
  readonly title: string;
  /** One sentence: what it does. */
  readonly description: string;
  /**
   * Its parameters: a zod schema of a JSON object whose defaults are the reference's, each field with a description
   * (the CLI's options and the renderer's settings are made from it). Its output is what runs get and record.
   */
  readonly params: z.ZodType<P>;
  /** What a labeler gives it besides the image. */
  readonly prompt: PromptKind | 'none';
  /** Components it needs from a model bundle ('tokenizer': the bundle's tokenizer); none: it needs no model. */
  readonly components: readonly string[];
  /** How to get a model, said when none is installed; a test fixture bundle (model 'fixture'), when it has one. */
  readonly models?: { hint: string; fixture?(): Promise<string> };
  /** Why a bundle that holds its components still cannot serve it (e.g. weights trained for it alone), or null. */
  readonly refuses?: (manifest: BundleManifest) => string | null;
  /** UNet variants the converter builds into bundles for it (`components` names them). */
  readonly variants?: readonly UNetVariant[];
  /** Its per-image tensor cache, one per project (disk level under <project>/.difflabel/cache/<id>). */
  readonly cache?: (opts: TensorCacheOptions) => TensorCache;
  /** The undo label of a run's proposals ("segment everything"). */
  readonly runLabel: string;
  /** An interactive preview of its prompt: its name (accepted masks' source is `<id>-<name>`) and undo label. */
  readonly preview?: { name: string; label: string };
  /** A session on a bundle (null when it needs no model); opening should be cheap: load models on first use. */
  open(o: OpenOptions): PipelineSession<P> | Promise<PipelineSession<P>>;
}

export interface OpenOptions {
  bundle: { dir: string; manifest: BundleManifest } | null;
  /** The process's inference host (common/inference.ts): every model session goes through it. */
  host: InferenceHost;
  /** The project's cache for this pipeline (Pipeline.cache), if it declares one. */
  cache: TensorCache | null;
}

/** An image to run on: its index row, and its pixels as displayed (decoded once, on first use). */
export interface ImageInput {
  readonly row: ImageRow;
  rgb(): Promise<RgbImage>;
}

/** An example prompt's annotation, resolved by the runner: its mask (at its image's size), category and image. */
export interface ExampleInput {
  annotationId: number;
  categoryId: number | null;
  mask: Rle;
  image: ImageInput;
}

export interface RunContext {
  signal?: AbortSignal;
  /** The example an 'example' prompt names. */
  example?: ExampleInput;
  /** Inference queue priority: 'interactive' for previews, 'batch' for runs over images. */
  priority: RunPriority;
  /** Progress within the image (an iterative pipeline's steps; a live preview's latest mask). */
  onProgress?(p: { fraction: number; message?: string; mask?: Rle }): void;
}

export interface Proposal {
  /** At the image's size. */
  mask: Rle;
  score?: number | null;
  /** The vocabulary entry it was labelled with: accepting it offers the project's category of that name. */
  className?: string;
}

export interface PipelineSession<P = any> {
  /** The bundle's name, stored on runs (null without a model). */
  readonly model: string | null;
  /**
   * What a run records as its params: the params and everything else that decides the result (model identity,
   * preprocessing version). Resume compares these.
   */
  recorded(params: P, use: 'run' | 'preview'): Record<string, unknown>;
  /** Proposals for one image. Throws an AbortError when the signal aborts. */
  run(image: ImageInput, params: P, prompt: Prompt | null, ctx: RunContext): Promise<Proposal[]>;
  /** The mask a prompt gives, for a labeler to see before keeping it (Pipeline.preview). */
  preview?(image: ImageInput, params: P, prompt: Prompt, ctx: RunContext): Promise<{ mask: Rle; cached: boolean }>;
  /** Frees its models. */
  dispose(): Promise<void>;
}
