import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { HiveClient } from '../hives/HiveClient.js';

/**
 * `rbee audit export` through the queen (admin scope): a hive's chain files, relayed from the hive's
 * `GET /v1/audit/files[/{chain}/{name}?offset=N]` over its link (the SSH tunnel for a remote hive),
 * so verify can run on them next to the queen's own folder, which holds the witnesses.
 */
export const auditExportRoutes: FastifyPluginAsync<{ client: (hiveId: string) => HiveClient | undefined }> = async (app, { client }) => {
  const hive = (id: string): HiveClient => {
    const found = client(id);
    if (!found) throw new ApiError(404, 'HIVE_NOT_FOUND', `No connected hive '${id.slice(0, 128)}'`);
    return found;
  };
  app.get<{ Params: { hive: string } }>('/v1/control/hives/:hive/audit/files', async (request) => hive(request.params.hive).auditFiles());
  app.get<{ Params: { hive: string; chain: string; name: string }; Querystring: { offset?: string } }>('/v1/control/hives/:hive/audit/files/:chain/:name', async (request) => {
    const offset = Number(request.query.offset ?? '0');
    if (!Number.isSafeInteger(offset) || offset < 0) throw new ApiError(400, 'INVALID_REQUEST', 'offset must be a whole number ≥ 0');
    return hive(request.params.hive).auditFileChunk(request.params.chain, request.params.name, offset);
  });
};
