import type { z } from 'zod';
import { ApiError } from '../../../src-shared/api/ApiError.js';

/** One schema failure, wherever it was found: a zod issue or a route schema's validation entry. */
export interface ValidationIssue {
  path: string;
  message: string;
}

/**
 * The one 400 every tier answers for a body that fails its schema: the first failing field in the
 * message, every failing field in `details`. Route schemas (fastify-type-provider-zod) and
 * `parseBody` (IPC and the other in-process boundaries) both end here, so a client sees the same
 * error whichever way its request was checked.
 */
export function invalidBody(issues: readonly ValidationIssue[]): ApiError {
  const first = issues[0];
  return new ApiError(400, 'INVALID_REQUEST', first ? `${first.path || 'body'}: ${first.message}` : 'Invalid request', issues);
}

/** A body that is not a JSON object at all (missing, `null`, an array, a number). */
export function bodyNotAnObject(): ApiError {
  return new ApiError(400, 'INVALID_REQUEST', 'Request body must be a JSON object');
}

/** Validates a parsed JSON body against a zod schema; failures become a 400 with the field paths. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) throw bodyNotAnObject();
  const result = schema.safeParse(body);
  if (!result.success) throw invalidBody(result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })));
  return result.data;
}
