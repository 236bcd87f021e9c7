import { ApiError } from '../../src-shared/api/ApiError.js';

/** A message fit to show an operator: the queen's code and message when there is one. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.status ? `${error.message} (${error.code}, HTTP ${error.status})` : error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}
