import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ApiError } from '../../../src-shared/api/ApiError.js';
import { encodeSseEvent, InferenceRequestSchema, SSE_DONE } from '../../../src-shared/worker/inferenceWire.js';
import { serveInference, type InferenceServices } from '../inference/serveInference.js';

/** `POST /v1/inference`: the worker's SSE contract, served by the queen across all hives. */
export const inferenceRoutes: FastifyPluginAsync<{ services: InferenceServices }> = async (scope, { services }) => {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  app.delete<{ Params: { job_id: string } }>('/v1/inference/:job_id', async (request, reply) => {
    // A scoped key cancels only the jobs it started; the same 404 as for an unknown job.
    const ownJob = request.principal?.scope === 'admin' || services.jobOwners?.get(request.params.job_id) === request.actor;
    if (!ownJob || !(await services.dispatcher.cancel(request.params.job_id))) throw new ApiError(404, 'NOT_FOUND', `No running job ${request.params.job_id}`);
    return reply.code(204).send();
  });

  app.post('/v1/inference', { schema: { body: InferenceRequestSchema } }, async (request, reply) => {
    const body = request.body;
    if (!body.model) throw new ApiError(400, 'INVALID_REQUEST', 'model: required (the queen routes by model)');
    await serveInference(services, '/v1/inference', request, reply, { ...body, model: body.model }, {
      stream: true,
      passthrough: true,
      onStart: (started) => encodeSseEvent(started),
      onEvent: (event) => encodeSseEvent(event),
      onClose: () => SSE_DONE,
    });
  });
};
