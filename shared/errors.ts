/**
 * One catalogue of error codes for the whole product: each code has an HTTP status and a message template.
 * Inner code throws `AppError`s; the edges (function handlers, the service) map them to responses, and
 * never put a stack trace or a secret in a response. `retryable` errors are the ones a retry can fix
 * (the workflow retries 503s); everything else is the caller's mistake or a permanent condition.
 *
 * Every code must be documented in docs/errors.md (a test checks it).
 */
export const ERROR_CATALOGUE = {
  CONFIG_INVALID: { status: 500, retryable: false, message: 'invalid configuration' },
  BAD_REQUEST: { status: 400, retryable: false, message: 'invalid request' },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false, message: 'request body too large' },
  NOT_FOUND: { status: 404, retryable: false, message: 'not found' },
  REQUEST_TIMEOUT: { status: 408, retryable: false, message: 'the request was not received in time' },
  HEADERS_TOO_LARGE: { status: 431, retryable: false, message: 'the request headers are too large' },
  UNAUTHENTICATED: { status: 401, retryable: false, message: 'authentication is required' },
  PERMISSION_DENIED: { status: 403, retryable: false, message: 'the caller is not allowed to do this' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false, message: 'unsupported content type' },
  CSV_EMPTY: { status: 422, retryable: false, message: 'the file is empty' },
  CSV_HEADER_ONLY: { status: 422, retryable: false, message: 'the file has a header but no rows' },
  CSV_MISSING_COLUMN: { status: 422, retryable: false, message: 'a required column is missing' },
  CSV_MALFORMED: { status: 422, retryable: false, message: 'the file is not a readable CSV' },
  CSV_TOO_LARGE: { status: 422, retryable: false, message: 'the file is over the size limit' },
  CSV_TOO_MANY_REJECTED: { status: 422, retryable: false, message: 'too many rows were rejected' },
  TRAINING_DATA_UNUSABLE: { status: 422, retryable: false, message: 'the training data cannot be used' },
  ARTIFACT_INVALID: { status: 422, retryable: false, message: 'the model artifact is invalid' },
  MODEL_NOT_LOADED: { status: 503, retryable: true, message: 'no model is loaded yet' },
  DATASET_NOT_FOUND: { status: 404, retryable: false, message: 'dataset not found' },
  FEATURE_SET_NOT_FOUND: { status: 404, retryable: false, message: 'feature set not found' },
  UNAVAILABLE: { status: 503, retryable: true, message: 'a backing service is unavailable' },
  RATE_LIMITED: { status: 429, retryable: true, message: 'too many requests; slow down' },
  INTERNAL: { status: 500, retryable: false, message: 'internal error' },
} as const satisfies Record<string, { status: number; retryable: boolean; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** Safe, caller-facing details (field names, line numbers); never secrets or internals. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    const entry = ERROR_CATALOGUE[code];
    super(message ?? entry.message, options);
    this.name = 'AppError';
    this.code = code;
    this.status = entry.status;
    this.retryable = entry.retryable;
    this.details = details;
  }

  /** The JSON body an edge sends back. */
  toJSON(): { error: { code: ErrorCode; message: string; details?: Record<string, unknown> } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

/** Thrown only while parsing configuration; caught at the entry point. */
export class ConfigError extends AppError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('CONFIG_INVALID', message, details);
    this.name = 'ConfigError';
  }
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}

/** Makes a `switch` over a union exhaustive: the compiler rejects a missing case. */
export function assertUnreachable(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
