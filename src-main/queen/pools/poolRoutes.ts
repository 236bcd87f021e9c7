import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../../../src-shared/api/ApiError.js';
import { PoolNameSchema } from '../../../src-shared/control/poolSchemas.js';
import { ControlRoutes } from '../../../src-shared/control/controlRoutes.js';
import type { PoolRegistry } from './PoolRegistry.js';

function poolName(raw: string): string {
  const parsed = PoolNameSchema.safeParse(raw);
  if (!parsed.success) throw new ApiError(400, 'INVALID_REQUEST', `Bad pool name: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

/** Admin control routes for pools (docs/pools.md). Keys go in once and come back only as `token:<fp6>`. */
export const poolRoutes: FastifyPluginAsync<{ pools: PoolRegistry }> = async (app, { pools }) => {
  app.get(ControlRoutes.pools, async () => ({ pools: pools.list() }));
  app.post(ControlRoutes.pools, async (request, reply) => {
    const result = await pools.add(request.body, request.actor);
    return reply.code(result.status === 'added' ? 201 : 200).send(result);
  });
  app.delete<{ Params: { name: string } }>('/v1/control/pools/:name', async (request, reply) => {
    await pools.remove(poolName(request.params.name), request.actor);
    return reply.code(204).send();
  });
  app.post<{ Params: { name: string } }>('/v1/control/pools/:name/test', async (request) => pools.test(poolName(request.params.name)));
  app.post<{ Params: { name: string } }>('/v1/control/pools/:name/reset-breaker', async (request) => ({ pool: pools.resetBreaker(poolName(request.params.name), request.actor) }));
};
