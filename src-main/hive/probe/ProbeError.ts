/**
 * Why a probe child gave no answer:
 * - `spawn_failed`: the process did not start (missing binary, bundle not built);
 * - `crashed`: it exited (or was killed) with requests unanswered;
 * - `timeout`: a request got no answer in time (the child is killed);
 * - `garbage`: it wrote something on stdout that is not an answer (the child is killed);
 * - `failed`: a healthy child answered with an error (e.g. a model file that does not parse);
 * - `closed`: the hive is shutting down.
 * Only `failed` says something about the request; the others are the probe's own trouble.
 */
export type ProbeErrorCode = 'spawn_failed' | 'crashed' | 'timeout' | 'garbage' | 'failed' | 'closed';

export class ProbeError extends Error {
  override readonly name = 'ProbeError';

  constructor(
    readonly code: ProbeErrorCode,
    message: string,
  ) {
    super(message);
  }
}
