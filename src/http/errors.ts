// The one error model: every failure a client can see is an AppError with a code from this closed list.

const STATUS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  gate_failed: 409,
  bump_too_small: 409,
  version_not_higher: 409,
  request_timeout: 408,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_error: 422,
  invalid_template: 422,
  missing_variables: 422,
  unexpected_variables: 422,
  invalid_variables: 422,
  limit_exceeded: 422,
  rate_limited: 429,
  internal: 500,
  // A model connection the request called failed (answered an error, or not at all): the service itself is fine.
  model_failed: 502,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof STATUS;

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.status = STATUS[code];
  }
}

export const notFound = (what: string) => new AppError("not_found", `${what} not found`);
