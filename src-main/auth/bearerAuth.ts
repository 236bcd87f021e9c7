import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import type { AuthFailureTracker } from './AuthFailureTracker.js';
import { checkAuthorization } from './checkAuthorization.js';
import type { OriginPolicy } from './originPolicy.js';
import { originOf, refuseOrigin } from './requestGuard.js';

export interface BearerAuthOptions {
  /** The expected token. There is no auth-off mode: every tier has one (generated when not configured). */
  token: string;
  audit: AuditSink;
  /** Foreign origins are refused on every protected route, GETs (the event stream) included. */
  policy: OriginPolicy;
  /** Per-IP failure counting, 429 cool-down and coalesced `auth_failure` records. */
  failures: AuthFailureTracker;
  /**
   * auth_success events: 'every' request, or the 'first' per token fingerprint and client IP within
   * 10 minutes (a trail of who connected without one record per token streamed). Defaults to 'first'.
   */
  auditSuccess?: 'every' | 'first';
}

const SUCCESS_WINDOW_MS = 10 * 60_000;

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * Bearer auth for the scope that registers it (fastify-plugin lifts the hook into that scope and no
 * further): an `onRequest` hook, so a stranger cannot make us parse a body.
 */
const bearerAuthPlugin: FastifyPluginAsync<BearerAuthOptions> = async (scope, options) => {
  const lastSuccess = new Map<string, number>();
  scope.addHook('onRequest', async (request, reply) => {
    const origin = originOf(request);
    if (origin !== undefined && !options.policy.originAllowed(origin) && !options.policy.isConfiguredOrigin(origin)) return refuseOrigin(origin, reply);
    const path = pathOf(request.url);
    const outcome = checkAuthorization(request.headers.authorization, options.token);
    if (!outcome.ok) {
      const coolDownMs = options.failures.fail({ ip: request.ip, fingerprint: outcome.fingerprint, reason: outcome.code, path, requestId: request.id });
      request.log.info({ code: outcome.code, actor: outcome.fingerprint ?? 'anonymous', path }, 'auth failure');
      if (coolDownMs > 0) {
        return reply
          .code(429)
          .header('retry-after', String(Math.ceil(coolDownMs / 1000)))
          .send({ error: { code: 'RATE_LIMITED', message: 'Too many failed authentication attempts from this address; try again later' } });
      }
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
};

export const bearerAuth = fp(bearerAuthPlugin, { name: 'rbee-bearer-auth', fastify: '5.x' });

/**
 * Registers `routes` inside an encapsulated scope guarded by bearer auth. Routes registered on `app`
 * outside this scope are public; there is no list of public paths to keep in sync.
 */
export function registerProtected(app: FastifyInstance, options: BearerAuthOptions, routes: (scope: FastifyInstance) => void | Promise<void>): void {
  void app.register(async function protectedScope(scope) {
    await scope.register(bearerAuth, options);
    await routes(scope);
  });
}
