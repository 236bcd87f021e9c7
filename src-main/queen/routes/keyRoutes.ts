import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { AuditSink } from '../../../src-shared/audit/AuditEvent.js';
import { ControlRoutes } from '../../../src-shared/control/controlRoutes.js';
import type { ApiKeyStore } from '../../auth/ApiKeyStore.js';
import { createApiKey, revokeApiKey, type KeyActor } from '../control/keyOperations.js';

export const KEYS_ROUTE = ControlRoutes.keys;

function who(request: FastifyRequest): KeyActor {
  return { actor: request.actor, client_ip: request.ip, request_id: request.id };
}

/** `GET|POST /v1/control/keys`, `DELETE /v1/control/keys/{id}` (admin scope; docs/api.md). */
export const keyRoutes: FastifyPluginAsync<{ keys: ApiKeyStore; audit: AuditSink }> = async (app, { keys, audit }) => {
  app.get(KEYS_ROUTE, async () => ({ keys: keys.list() }));

  app.post(KEYS_ROUTE, async (request, reply) => {
    const created = await createApiKey(keys, audit, request.body, who(request), (error) => request.log.warn({ err: error }, 'audit emit failed'));
    return reply.code(201).send(created);
  });

  app.delete<{ Params: { id: string } }>(`${KEYS_ROUTE}/:id`, async (request, reply) => {
    const revoked = await revokeApiKey(keys, audit, request.params.id, who(request), (error) => request.log.warn({ err: error }, 'audit emit failed'));
    return reply.code(200).send(revoked);
  });
};
