/**
 * Every tier answers errors with the same envelope: `{"error":{"code","message"}}`.
 * The queen's OpenAI routes wrap the same codes in OpenAI's envelope (see queen/openai).
 */
export type ErrorCode =
  | 'MISSING_API_KEY'
  | 'INVALID_API_KEY'
  | 'MISDIRECTED_HOST'
  | 'ORIGIN_NOT_ALLOWED'
  | 'INSUFFICIENT_SCOPE'
  | 'MODEL_NOT_ALLOWED'
  | 'RATE_LIMITED'
  | 'DOWNLOAD_REFUSED'
  | 'TOO_MANY_SUBSCRIBERS'
  | 'DEADLINE_EXCEEDED'
  | 'ALL_SLOTS_BUSY'
  | 'QUEUE_FULL'
  | 'INVALID_JSON'
  | 'INVALID_REQUEST'
  | 'BODY_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'NOT_FOUND'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_NOT_READY'
  | 'MODEL_UNAVAILABLE'
  | 'MODEL_STOPPED'
  | 'WORKER_NOT_FOUND'
  | 'HIVE_NOT_FOUND'
  | 'HIVE_UNREACHABLE'
  | 'INSUFFICIENT_MEMORY'
  | 'SHUTTING_DOWN'
  | 'AUDIT_UNAVAILABLE'
  | 'CONFLICT'
  | 'UPSTREAM_ERROR'
  | 'INTERNAL';

export interface ApiErrorBody {
  error: { code: ErrorCode; message: string; details?: unknown };
}

/** A typed error value that crosses a boundary; the root error handler maps it to its HTTP status. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }

  toBody(): ApiErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

export function isApiErrorBody(value: unknown): value is ApiErrorBody {
  if (typeof value !== 'object' || value === null || !('error' in value)) return false;
  const error = (value as { error: unknown }).error;
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string';
}
