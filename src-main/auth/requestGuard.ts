import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { OriginPolicy } from './originPolicy.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** `token:<fp6>` of the caller, or 'anonymous' on public routes. */
    actor: string;
  }
}

export interface RequestGuardOptions {
  policy: OriginPolicy;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);
const CORS_ALLOWED_HEADERS = 'authorization, content-type, x-api-key, x-deadline, x-request-id';
const CORS_ALLOWED_METHODS = 'GET, POST, PUT, PATCH, DELETE';

/** 421: the request named a host this server does not answer to (a DNS-rebinding page does). */
export function refuseHost(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const host = (request.headers.host ?? '').slice(0, 100);
  return reply.code(421).send({
    error: {
      code: 'MISDIRECTED_HOST',
      message: `Host '${host}' is not a name this server answers to (DNS-rebinding protection). Use a loopback address or the bound address, or add the name with --allowed-host or the allowed_hosts setting.`,
    },
  });
}

/** 403: a browser page from another origin. */
export function refuseOrigin(origin: string, reply: FastifyReply): FastifyReply {
  return reply.code(403).send({
    error: {
      code: 'ORIGIN_NOT_ALLOWED',
      message: `Origin '${origin.slice(0, 200)}' may not call this API. Add it with --allowed-origin or the allowed_origins setting.`,
    },
  });
}

/** The request's single Origin header, if any. */
export function originOf(request: FastifyRequest): string | undefined {
  const origin = request.headers.origin;
  return Array.isArray(origin) ? origin.join(',') : origin;
}

/**
 * Root-level guard of every tier (registered with fastify-plugin so it covers every route, 404s
 * included): Host allowlist (421), Origin allowlist for unsafe methods (403; the protected scope
 * also refuses foreign origins on GETs), and CORS only for configured origins.
 */
const requestGuardPlugin: FastifyPluginAsync<RequestGuardOptions> = async (app, options) => {
  const { policy } = options;
  app.decorateRequest('actor', 'anonymous');
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request, reply) => {
    if (!policy.hostAllowed(request.headers.host)) return refuseHost(request, reply);
    const origin = originOf(request);
    if (origin === undefined) return;
    const configured = policy.isConfiguredOrigin(origin);
    if (configured) {
      reply.header('access-control-allow-origin', origin);
      reply.header('vary', 'Origin');
      if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
        return reply
          .code(204)
          .header('access-control-allow-methods', CORS_ALLOWED_METHODS)
          .header('access-control-allow-headers', CORS_ALLOWED_HEADERS)
          .header('access-control-max-age', '600')
          .send();
      }
      return;
    }
    if (!SAFE_METHODS.has(request.method) && !policy.originAllowed(origin)) return refuseOrigin(origin, reply);
  });
};

export const requestGuard = fp(requestGuardPlugin, { name: 'rbee-request-guard', fastify: '5.x' });
