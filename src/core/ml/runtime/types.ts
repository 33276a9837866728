// Plain-data types of the session layer. Tensors are {type, data, dims} objects (not ORT Tensor instances) so
// they cross the worker boundary by structured clone / transfer and stay independent of onnxruntime.

/** Element types the session layer feeds and fetches (ONNX Runtime names). */
export type TensorType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool';

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** An input tensor. `type` defaults from the array class (Uint16Array -> uint16: say 'float16' explicitly; Uint8Array -> uint8: say 'bool'). */
export interface TensorInput {
  data: TensorData;
  dims: readonly number[];
  type?: TensorType;
}

/** An output tensor. */
export interface TypedTensor {
  type: TensorType;
  data: TensorData;
  dims: number[];
}

export type Feeds = Record<string, TensorInput>;
export type Outputs = Record<string, TypedTensor>;

/** One input/output of a loaded model: fixed dims are numbers, symbolic ones their names (e.g. "batch"). */
export interface ValueInfo {
  name: string;
  type: TensorType | 'string' | 'non-tensor';
  shape: Array<number | string>;
}

export interface ProviderFallback {
  provider: string;
  reason: string;
}

/** Which execution provider a session runs on, and why not the ones before it. Shown in the API and UI. */
export interface ProviderStatus {
  requested: string[];
  active: string;
  fallbacks: ProviderFallback[];
}

/** A model a session can be created from. */
export interface ModelSpec {
  /** .onnx path; external data files are expected beside it, as ONNX Runtime resolves them. */
  path: string;
  /** Memory estimate in bytes; default: the .onnx file plus the external data files it references. */
  bytes?: number;
  /** Run once with zero inputs right after loading (first-run kernels, allocations). */
  warmUp?: boolean;
}

export interface SessionInfo {
  key: string;
  path: string;
  bytes: number;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  provider: ProviderStatus;
  /** ms spent creating the session (and warming it up). */
  loadMs: number;
}

export interface SessionEntryState {
  key: string;
  path: string;
  loaded: boolean;
  bytes: number;
  busy: number;
  lastUsed: number;
}

/** 'interactive' (default): someone waits for it (a click); 'batch': one of many (segment everything). */
export type RunPriority = 'interactive' | 'batch';

export interface RunOptions {
  /** Cancels the run if it has not started yet; a started run's result is discarded. */
  signal?: AbortSignal;
  /**
   * WorkerSessionHost starts queued 'interactive' runs before queued 'batch' runs (a started run is never
   * interrupted), so a click does not wait behind a whole batch. SessionManager has no queue and ignores it.
   */
  priority?: RunPriority;
}

/** The API shared by the in-process SessionManager and the worker-thread WorkerSessionHost. */
export interface InferenceHost {
  register(key: string, spec: ModelSpec | string): Promise<void>;
  load(key: string): Promise<SessionInfo>;
  run(key: string, feeds: Feeds, outputNames?: readonly string[], opts?: RunOptions): Promise<Outputs>;
  release(key?: string): Promise<void>;
  sessions(): Promise<SessionEntryState[]>;
  /** The providers the sessions created so far run on (summarizeProviders); null before the first session. */
  providerStatus(): ProviderStatus | null;
  dispose(): Promise<void>;
}

export class InputValidationError extends Error {
  override name = 'InputValidationError';
}

export class RunCancelledError extends Error {
  override name = 'RunCancelledError';
  constructor(message = 'inference run cancelled') {
    super(message);
  }
}
