import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { AuditSink } from '../../../src-shared/audit/AuditEvent.js';
import { ApiKeyIdSchema, CreateApiKeySchema } from '../../../src-shared/control/apiKeys.js';
import type { ApiKeyStore } from '../../auth/ApiKeyStore.js';
import { parseBody } from '../../common/http/parseBody.js';

export const KEYS_ROUTE = '/v1/control/keys';

/** `GET|POST /v1/control/keys`, `DELETE /v1/control/keys/{id}` (admin scope; docs/api.md). */
export function registerKeyRoutes(app: FastifyInstance, keys: ApiKeyStore, audit: AuditSink): void {
  app.get(KEYS_ROUTE, async () => ({ keys: keys.list() }));

  app.post(KEYS_ROUTE, async (request, reply) => {
    const body = parseBody(CreateApiKeySchema, request.body);
    const created = await keys.create(body);
    await audit
      .emit({
        event_type: 'key_created',
        actor: request.actor,
        client_ip: request.ip,
        request_id: request.id,
        details: { key: created.fingerprint, name: created.name, scope: created.scope, models: created.models?.join(',') ?? null, expires_at: created.expires_at },
      })
      .catch((error: unknown) => request.log.warn({ err: error }, 'audit emit failed'));
    return reply.code(201).send(created);
  });

  app.delete<{ Params: { id: string } }>(`${KEYS_ROUTE}/:id`, async (request, reply) => {
    const id = ApiKeyIdSchema.safeParse(request.params.id);
    if (!id.success) throw new ApiError(400, 'INVALID_REQUEST', `Key id: ${id.error.issues[0]?.message ?? 'malformed'}`);
    const revoked = await keys.revoke(id.data);
    if (!revoked) throw new ApiError(404, 'NOT_FOUND', `No API key ${id.data}`);
    await audit
      .emit({ event_type: 'key_revoked', actor: request.actor, client_ip: request.ip, request_id: request.id, details: { key: revoked.fingerprint, name: revoked.name } })
      .catch((error: unknown) => request.log.warn({ err: error }, 'audit emit failed'));
    return reply.code(200).send(revoked);
  });
}
