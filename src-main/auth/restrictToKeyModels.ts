import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../src-shared/api/ApiError.js';

/**
 * A key limited to some models may not name another one: checked once the body is parsed, for every
 * route of the scope (chat, completions, embeddings, messages, inference). `/v1/models` filters its
 * own list.
 */
export function restrictToKeyModels(scope: FastifyInstance): void {
  scope.addHook('preHandler', async (request) => {
    const allowed = request.principal?.models;
    if (!allowed) return;
    const body = request.body;
    if (typeof body !== 'object' || body === null || !('model' in body)) return;
    const model = (body as { model: unknown }).model;
    if (typeof model === 'string' && !allowed.includes(model)) {
      throw new ApiError(403, 'MODEL_NOT_ALLOWED', `Key ${request.actor} may not use model '${model.slice(0, 256)}'`);
    }
  });
}
