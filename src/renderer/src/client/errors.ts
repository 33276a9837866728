import type { ApiErrorBody } from '../../../shared/contract';

export class ClientError extends Error {
  readonly code: string;
  readonly issues?: ApiErrorBody['issues'];
  constructor(body: ApiErrorBody) {
    super(body.message);
    this.code = body.code;
    this.issues = body.issues;
  }
}
