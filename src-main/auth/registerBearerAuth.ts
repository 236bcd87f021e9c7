import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import { checkAuthorization } from './checkAuthorization.js';

export interface BearerAuthOptions {
  /** The expected token; undefined disables auth (only allowed on loopback by the bind policy). */
  token: string | undefined;
  /** Paths answered without a token (exact match on the URL path). */
  publicPaths: readonly string[];
  /** Path prefixes answered without a token (static UI assets). Defaults to none. */
  publicPrefixes?: readonly string[];
  audit: AuditSink;
  /**
   * auth_success events: 'every' request, or the 'first' per token fingerprint and client IP within
   * 10 minutes (a trail of who connected without one record per token streamed). Defaults to 'first'.
   * Failures are always recorded.
   */
  auditSuccess?: 'every' | 'first';
}

declare module 'fastify' {
  interface FastifyRequest {
    /** `token:<fp6>` of the caller, or 'anonymous' where auth is off or the path is public. */
    actor: string;
  }
}

function pathOf(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q === -1 ? request.url : request.url.slice(0, q);
}

/** Bearer auth as an `onRequest` hook: runs before body parsing, so a stranger cannot make us parse. */
export function registerBearerAuth(app: FastifyInstance, options: BearerAuthOptions): void {
  const publicPaths = new Set(options.publicPaths);
  const prefixes = options.publicPrefixes ?? [];
  app.decorateRequest('actor', 'anonymous');
  const SUCCESS_WINDOW_MS = 10 * 60_000;
  const lastSuccess = new Map<string, number>();
  app.addHook('onRequest', async (request, reply) => {
    const path = pathOf(request);
    if (options.token === undefined || publicPaths.has(path) || prefixes.some((p) => path.startsWith(p))) return;
    const outcome = checkAuthorization(request.headers.authorization, options.token);
    if (!outcome.ok) {
      options.audit
        .emit({
          event_type: 'auth_failure',
          actor: outcome.fingerprint ?? 'anonymous',
          client_ip: request.ip,
          request_id: request.id,
          path,
          reason: outcome.code,
        })
        .catch((error: unknown) => request.log.warn({ err: error }, 'audit emit failed'));
      request.log.info({ code: outcome.code, actor: outcome.fingerprint ?? 'anonymous', path }, 'auth failure');
      return reply.code(401).send({ error: { code: outcome.code, message: outcome.message } });
    }
    request.actor = outcome.fingerprint;
    const key = `${outcome.fingerprint}|${request.ip}`;
    const now = Date.now();
    const seen = lastSuccess.get(key);
    if (options.auditSuccess === 'every' || seen === undefined || now - seen > SUCCESS_WINDOW_MS) {
      lastSuccess.set(key, now);
      if (lastSuccess.size > 10_000) lastSuccess.delete(lastSuccess.keys().next().value as string);
      options.audit
        .emit({ event_type: 'auth_success', actor: outcome.fingerprint, client_ip: request.ip, request_id: request.id, path })
        .catch((error: unknown) => request.log.warn({ err: error }, 'audit emit failed'));
    }
  });
}
