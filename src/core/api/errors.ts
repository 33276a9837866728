import type { ApiErrorBody, ApiErrorCode } from '../../shared/contract';
import { CocoFileError } from '../formats/coco/import';
import { FileRefusedError, FileWriteError } from '../formats/files';
import { DatasetFileError } from '../formats/dataset/errors';
import { MaskFormatError } from '../../shared/masks';
import { BundleError } from '../ml/bundle';
import { ModelNotFoundError } from '../pipelines/common/bundles';
import { PipelineInputError } from '../pipelines/run';
import { ProjectOpenError, StoreError, type StoreErrorCode } from '../project';

/** An error that crosses the API with a code the UI and HTTP layer understand. */
export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly issues?: ApiErrorBody['issues'],
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toBody(): ApiErrorBody {
    return { code: this.code, message: this.message, ...(this.issues ? { issues: this.issues } : {}) };
  }
}

export const httpStatusOf: Record<ApiErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  no_project: 409,
  conflict: 409,
  too_large: 413,
  unsupported_media_type: 415,
  project_refused: 422,
  internal: 500,
  no_model: 409,
  unavailable: 503,
};

const codeOfStoreError: Record<StoreErrorCode, ApiErrorCode> = {
  'not-found': 'not_found',
  invalid: 'bad_request',
  conflict: 'conflict',
  // The storage failed and nothing was saved: the message says what to do (free space, wait, copy the folder).
  'disk-full': 'unavailable',
  locked: 'unavailable',
  'read-only': 'unavailable',
  corrupt: 'unavailable',
  'io-error': 'unavailable',
};

/**
 * Errors of the layers below that the API reports as they are: the request was wrong (4xx), or the disk failed and
 * nothing was saved (503); null for anything else.
 */
export function knownApiError(e: unknown): ApiError | null {
  if (e instanceof ApiError) return e;
  if (e instanceof StoreError) return new ApiError(codeOfStoreError[e.code], e.message);
  if (e instanceof ProjectOpenError) return new ApiError('project_refused', e.message);
  if (e instanceof MaskFormatError || e instanceof CocoFileError || e instanceof DatasetFileError || e instanceof FileRefusedError) return new ApiError('bad_request', e.message);
  if (e instanceof PipelineInputError) return new ApiError('bad_request', e.message, e.issues.length ? e.issues : undefined);
  // No model a pipeline can run on: none installed, the one named is not, or it cannot be used (the message says why).
  if (e instanceof ModelNotFoundError || e instanceof BundleError) return new ApiError('no_model', e.message);
  if (e instanceof FileWriteError) return new ApiError('unavailable', e.message);
  return null;
}

/**
 * What a transport answers for any error: a known one as it is; anything else is 'internal' with a generic
 * message, while its detail (the stack) goes to this process's log, once, and never to the client.
 */
export function publicError(e: unknown): ApiError {
  const known = knownApiError(e);
  if (known) return known;
  console.error('difflabel: unexpected error while answering a request:', e);
  return new ApiError('internal', 'internal error (the details are in the log of the DiffLabel process)');
}
