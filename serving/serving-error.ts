// The stable codes of errors the HTTP layer raises itself (src's codes are in src/errors.ts).
export type ServingErrorCode =
  | 'INVALID_REQUEST'
  | 'WRONG_INPUT_KIND'
  | 'INVALID_BUDGET'
  | 'CONFLICTING_BUDGET'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'UNKNOWN_MODEL'
  | 'PAYLOAD_TOO_LARGE'
  | 'TOO_MANY_TEXTS'
  | 'TEXT_TOO_LONG'
  | 'TOO_MANY_TOKENS'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'BUDGET_UNSATISFIABLE'
  | 'NOT_READY'
  | 'OVERLOADED'
  | 'BUDGET_NOT_MET_NOW'
  | 'SHUTTING_DOWN'
  | 'INTERNAL';

// An error of the serving layer: a stable code (mapped to a status in error-handler.ts) and, for 503s, when to
// retry.
export class ServingError extends Error {
  readonly code: ServingErrorCode;
  readonly retryAfterS: number | undefined;

  constructor(
    code: ServingErrorCode,
    message: string,
    options: { cause?: unknown; retryAfterS?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = 'ServingError';
    this.retryAfterS = options.retryAfterS;
  }
}
