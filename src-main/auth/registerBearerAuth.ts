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
  /** Emit auth_success for every accepted request. Defaults to false: failures always are. */
  auditSuccess?: boolean;
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
    if (options.auditSuccess) {
      options.audit
        .emit({ event_type: 'auth_success', actor: outcome.fingerprint, client_ip: request.ip, request_id: request.id, path })
        .catch((error: unknown) => request.log.warn({ err: error }, 'audit emit failed'));
    }
  });
}
