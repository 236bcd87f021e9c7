import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import type { ApiKeyScope } from '../../src-shared/control/apiKeys.js';
import type { ApiKeyStore, StoredKey } from './ApiKeyStore.js';
import type { AuthFailureTracker } from './AuthFailureTracker.js';
import { parseBearer, tokenDigest } from './checkAuthorization.js';
import type { OriginPolicy } from './originPolicy.js';
import { originOf, refuseOrigin } from './requestGuard.js';

/** Who is calling, once the bearer check passed. */
export interface Principal {
  /** `token:<fp6>`. */
  fingerprint: string;
  scope: ApiKeyScope;
  /** The scoped key's id (fp6); null for the bootstrap (admin) token. */
  keyId: string | null;
  /** Models the key may use; null = all. */
  models: readonly string[] | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the bearer plugin on protected routes; null on public ones. */
    principal: Principal | null;
  }
}

export interface BearerAuthOptions {
  /** The bootstrap token (admin). There is no auth-off mode: every tier has one. */
  token: string;
  /** Scoped keys (the queen's); tiers without them accept only the bootstrap token. */
  keys?: ApiKeyStore;
  /** The scope this route group needs; `admin` satisfies any. Defaults to admin. */
  requires?: ApiKeyScope;
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
/** At most one `rate_limited` audit record per key per this window. */
const RATE_LIMITED_AUDIT_MS = 10_000;

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * Anthropic's clients send the key as `x-api-key` (Messages API and the models list): the same keys,
 * read as if they came as a Bearer token, only on those paths.
 */
function anthropicApiKey(request: FastifyRequest): string | undefined {
  const key = request.headers['x-api-key'];
  const path = pathOf(request.url);
  if (typeof key !== 'string' || !(path.startsWith('/v1/messages') || path.startsWith('/v1/models'))) return undefined;
  return `Bearer ${key}`;
}

type Authenticated = { ok: true; principal: Principal; key?: StoredKey } | { ok: false; code: 'MISSING_API_KEY' | 'INVALID_API_KEY'; message: string; fingerprint: string | null };

/** `adminDigest`: the bootstrap token's SHA-256, computed once per scope (the caller's is hashed once per request). */
function authenticate(header: string | string[] | undefined, options: BearerAuthOptions, adminDigest: Buffer): Authenticated {
  const parsed = parseBearer(header);
  if (!parsed.ok) return parsed;
  if (timingSafeEqual(parsed.digest, adminDigest)) return { ok: true, principal: { fingerprint: parsed.fingerprint, scope: 'admin', keyId: null, models: null } };
  const found = options.keys?.lookupByHash(parsed.digest.toString('hex'));
  if (found?.ok) {
    const { key } = found;
    return { ok: true, principal: { fingerprint: parsed.fingerprint, scope: key.scope, keyId: key.id, models: key.models }, key };
  }
  const message = found?.reason === 'revoked' ? 'API key revoked' : found?.reason === 'expired' ? 'API key expired' : 'Invalid API key';
  return { ok: false, code: 'INVALID_API_KEY', message, fingerprint: parsed.fingerprint };
}

function send(reply: FastifyReply, status: number, code: string, message: string, headers: Record<string, string> = {}): FastifyReply {
  return reply.code(status).headers(headers).send({ error: { code, message } });
}

/**
 * Bearer auth for the scope that registers it (fastify-plugin lifts the hook into that scope and no
 * further): an `onRequest` hook, so a stranger cannot make us parse a body. Order: Origin (403),
 * credentials (401, or 429 while the client IP is cooled down), scope (403), the key's own rate and
 * concurrency limits (429).
 */
const bearerAuthPlugin: FastifyPluginAsync<BearerAuthOptions> = async (scope, options) => {
  const lastSuccess = new Map<string, number>();
  const lastRateLimitedAudit = new Map<string, number>();
  const requires = options.requires ?? 'admin';
  const adminDigest = tokenDigest(options.token);
  scope.addHook('onRequest', async (request, reply) => {
    const origin = originOf(request);
    if (origin !== undefined && !options.policy.originAllowed(origin) && !options.policy.isConfiguredOrigin(origin)) return refuseOrigin(origin, reply);
    const path = pathOf(request.url);
    const outcome = authenticate(request.headers.authorization ?? anthropicApiKey(request), options, adminDigest);
    if (!outcome.ok) {
      const coolDownMs = options.failures.fail({ ip: request.ip, fingerprint: outcome.fingerprint, reason: outcome.code, path, requestId: request.id });
      request.log.info({ code: outcome.code, actor: outcome.fingerprint ?? 'anonymous', path }, 'auth failure');
      if (coolDownMs > 0) {
        return send(reply, 429, 'RATE_LIMITED', 'Too many failed authentication attempts from this address; try again later', {
          'retry-after': String(Math.ceil(coolDownMs / 1000)),
        });
      }
      return send(reply, 401, outcome.code, outcome.message);
    }
    const { principal } = outcome;
    request.principal = principal;
    request.actor = principal.fingerprint;
    if (principal.scope !== 'admin' && principal.scope !== requires) {
      return send(reply, 403, 'INSUFFICIENT_SCOPE', `This key has scope '${principal.scope}'; ${path} needs '${requires}'`);
    }
    if (outcome.key && options.keys) {
      const admission = options.keys.admit(outcome.key);
      if (!admission.ok) {
        auditRateLimited(request, principal, admission.limit, path);
        return send(reply, 429, 'RATE_LIMITED', `Key ${principal.fingerprint} is over its ${admission.limit === 'rpm' ? 'requests-per-minute' : 'concurrency'} limit`, {
          'retry-after': String(Math.max(1, Math.ceil(admission.retryAfterMs / 1000))),
        });
      }
      reply.raw.once('close', admission.release);
    }
    recordSuccess(request, principal, path);
  });

  function auditRateLimited(request: FastifyRequest, principal: Principal, limit: string, path: string): void {
    const now = Date.now();
    const last = lastRateLimitedAudit.get(principal.fingerprint);
    if (last !== undefined && now - last < RATE_LIMITED_AUDIT_MS) return;
    lastRateLimitedAudit.set(principal.fingerprint, now);
    options.audit
      .emit({ event_type: 'rate_limited', actor: principal.fingerprint, client_ip: request.ip, request_id: request.id, path, reason: limit })
      .catch((error: unknown) => request.log.warn({ err: error }, 'audit emit failed'));
  }

  function recordSuccess(request: FastifyRequest, principal: Principal, path: string): void {
    const key = `${principal.fingerprint}|${request.ip}`;
    const now = Date.now();
    const seen = lastSuccess.get(key);
    if (options.auditSuccess !== 'every' && seen !== undefined && now - seen <= SUCCESS_WINDOW_MS) return;
    lastSuccess.set(key, now);
    if (lastSuccess.size > 10_000) lastSuccess.delete(lastSuccess.keys().next().value as string);
    options.audit
      .emit({ event_type: 'auth_success', actor: principal.fingerprint, client_ip: request.ip, request_id: request.id, path })
      .catch((error: unknown) => request.log.warn({ err: error }, 'audit emit failed'));
  }
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
