import type { ApiErrorBody, ApiErrorCode } from '../../shared/contract';

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
  not_found: 404,
  no_project: 409,
  conflict: 409,
  project_refused: 422,
  internal: 500,
};
