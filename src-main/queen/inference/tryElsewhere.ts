import type { FastifyReply } from 'fastify';
import { ApiError, type ErrorCode } from '../../../src-shared/api/ApiError.js';
import { partialOf } from './honestEnding.js';

/** "This target cannot serve the model now": another target (hive or pool) may. */
const TARGET_CANNOT_SERVE = new Set<ErrorCode>(['MODEL_NOT_READY', 'MODEL_UNAVAILABLE', 'MODEL_STOPPED', 'HIVE_UNREACHABLE', 'ALL_SLOTS_BUSY', 'QUEUE_FULL', 'INSUFFICIENT_MEMORY']);

/**
 * Whether a failed attempt may go on to the next target of a route plan. Only before any byte of an
 * answer left (a started stream or a sent body is the client's already), and only for errors that
 * say this target cannot serve now: never the client's own error, never its deadline, and never a cut
 * answer (an UPSTREAM_ERROR carrying `partial` has tokens the client was shown as partial).
 */
export function mayTryElsewhere(error: unknown, reply: FastifyReply): boolean {
  if (!(error instanceof ApiError) || reply.sent || reply.raw.headersSent) return false;
  if (error.code === 'UPSTREAM_ERROR') return partialOf(error.details) === undefined;
  return TARGET_CANNOT_SERVE.has(error.code);
}
