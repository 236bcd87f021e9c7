import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { EndEvent, ErrorEvent } from '../../../src-shared/worker/inferenceWire.js';

/**
 * How an inference really ended, so no route presents a cut answer as complete (table in
 * docs/api.md, "Honest endings"):
 *  - `complete`: end of sequence, a stop sequence, or max_tokens — the only endings a client may read
 *    as a finished answer (`finish_reason` stop / length);
 *  - `cut`: the deadline stopped it (504 `DEADLINE_EXCEEDED`), the worker was lost or reported an
 *    error after its first token, or the job was cancelled on the worker (502 `UPSTREAM_ERROR`).
 */
export type Ending =
  | { kind: 'complete'; end: EndEvent }
  | { kind: 'cut'; status: 502 | 504; code: 'DEADLINE_EXCEEDED' | 'UPSTREAM_ERROR'; message: string };

export function endingOf(end: EndEvent | null, error: ErrorEvent | null): Ending {
  if (end?.stop_reason === 'deadline') {
    return { kind: 'cut', status: 504, code: 'DEADLINE_EXCEEDED', message: `The deadline stopped generation after ${end.tokens_out} tokens` };
  }
  if (end?.stop_reason === 'cancelled') {
    return { kind: 'cut', status: 502, code: 'UPSTREAM_ERROR', message: `The job was cancelled on the worker after ${end.tokens_out} tokens` };
  }
  if (end && !error) return { kind: 'complete', end };
  const why = error ? `${error.code}: ${error.message}` : 'the worker stream ended without an end event';
  return { kind: 'cut', status: 502, code: 'UPSTREAM_ERROR', message: `The answer was cut after its first token (${why})` };
}

/** The error a non-streaming answer gets for a cut ending; `partial` travels as `error.partial`. */
export function cutError(ending: Extract<Ending, { kind: 'cut' }>, partial: unknown): ApiError {
  return new ApiError(ending.status, ending.code, ending.message, { partial });
}

/** `details.partial` of an error body, if it carries one (see `cutError`). */
export function partialOf(details: unknown): unknown {
  if (typeof details !== 'object' || details === null || !('partial' in details)) return undefined;
  return (details as { partial: unknown }).partial;
}
