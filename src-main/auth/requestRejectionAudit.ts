import type { FastifyInstance } from 'fastify';
import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import { AuditCoalescer } from '../audit/AuditCoalescer.js';

/**
 * The policy rejections recorded as `request_rejected` (docs/audit.md "request_rejected"): a request
 * refused by who-may-call policy or a limit, not by bad credentials (those are `auth_failure`) and
 * not by plain bad input (400) or capacity (503).
 */
export const POLICY_REJECTION_CODES: ReadonlySet<string> = new Set([
  'MISDIRECTED_HOST', // 421: a Host this server does not answer to (DNS rebinding)
  'ORIGIN_NOT_ALLOWED', // 403: a browser page from a foreign origin
  'INSUFFICIENT_SCOPE', // 403: a key without the route's scope
  'MODEL_NOT_ALLOWED', // 403: a key restricted to other models
  'DOWNLOAD_REFUSED', // 403: a model download to a forbidden address (SSRF policy)
  'RATE_LIMITED', // 429: a key's rpm/concurrency limit, an address cooled down after failed logins, the download cap
  'BODY_TOO_LARGE', // 413
  'UNSUPPORTED_MEDIA_TYPE', // 415
]);

const STATUSES = new Set([403, 413, 415, 421, 429]);
const CODE_RE = /"code":"([A-Za-z_]{1,64})"/;

/**
 * Records every policy rejection of a tier as `request_rejected` (`reason` = the error code, details
 * `{status, count}`), coalesced per code and client address like auth failures: the first at once,
 * repeats within 10 s as one record with their count. It reads the code from the error body already
 * being sent (our envelope, or OpenAI's with the code in lower case), so every route and hook that
 * refuses is covered without each one knowing about audit.
 */
export function auditRequestRejections(app: FastifyInstance, audit: AuditSink, options: { windowMs?: number } = {}): AuditCoalescer {
  const coalescer = new AuditCoalescer({ audit, windowMs: options.windowMs, onError: (error) => app.log.warn({ err: error }, 'audit emit failed') });
  app.addHook('onSend', async (request, reply, payload) => {
    if (!STATUSES.has(reply.statusCode) || typeof payload !== 'string') return payload;
    const code = CODE_RE.exec(payload)?.[1]?.toUpperCase();
    if (!code || !POLICY_REJECTION_CODES.has(code)) return payload;
    const q = request.url.indexOf('?');
    coalescer.offer(`${code}|${request.ip}`, {
      event_type: 'request_rejected',
      actor: request.actor,
      client_ip: request.ip,
      request_id: request.id,
      path: q === -1 ? request.url : request.url.slice(0, q),
      reason: code,
      details: { status: reply.statusCode },
    });
    return payload;
  });
  app.addHook('onClose', async () => coalescer.close());
  return coalescer;
}
