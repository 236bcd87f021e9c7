import type { z } from 'zod';
import { ApiError } from '../../../src-shared/api/ApiError.js';

/** Validates a parsed JSON body against a zod schema; failures become a 400 with the field paths. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError(400, 'INVALID_REQUEST', 'Request body must be a JSON object');
  }
  const result = schema.safeParse(body);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
    const first = issues[0];
    throw new ApiError(400, 'INVALID_REQUEST', first ? `${first.path || 'body'}: ${first.message}` : 'Invalid request', issues);
  }
  return result.data;
}
