import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../../src-shared/api/ApiError.js';
import { Deadline } from '../../../src-shared/deadline/Deadline.js';
import { EmbeddingRequestSchema, type EmbeddingRequest } from '../../../src-shared/openai/openaiRequests.js';
import type { EmbeddingsRequest } from '../../../src-shared/worker/embeddingsWire.js';
import { parseBody } from '../../common/http/parseBody.js';
import type { InferenceServices } from '../inference/serveInference.js';
import type { Routed } from './poolRouting.js';

/** OpenAI's four input forms → one list of texts or token arrays. */
function inputsOf(input: EmbeddingRequest['input']): EmbeddingsRequest['input'] {
  if (typeof input === 'string') return [input];
  if (input.every((item) => typeof item === 'number')) return [input as number[]];
  return input as EmbeddingsRequest['input'];
}

/** A vector as OpenAI's base64: little-endian float32 bytes. */
function toBase64(vector: readonly number[]): string {
  return Buffer.from(new Float32Array(vector).buffer).toString('base64');
}

/**
 * `POST /v1/embeddings`: scheduled like a completion (a slot on a worker of the model, the deadline,
 * retries before any answer, deadline audit), served from the worker's embedding context — or
 * forwarded to a pool along the model's route plan (`routed`).
 */
export function registerEmbeddingsRoute(app: FastifyInstance, services: InferenceServices, routed: Routed): void {
  app.post('/v1/embeddings', (request, reply) => routed('/embeddings', request, reply, () => embedViaHives(request, reply)));
  const embedViaHives = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const arrived = performance.now();
    const body = parseBody(EmbeddingRequestSchema, request.body);
    const deadline = Deadline.fromHeaders(request.headers, { maxMs: services.maxDeadlineMs });
    if (deadline.expired()) {
      void services.audit
        .emit({ event_type: 'deadline_exceeded', request_id: request.id, actor: request.actor, client_ip: request.ip, reason: 'expired on arrival', path: '/v1/embeddings' })
        .catch(() => undefined);
      throw new ApiError(504, 'DEADLINE_EXCEEDED', 'The request deadline had passed when it arrived');
    }
    const abort = new AbortController();
    const onClose = (): void => {
      if (!reply.raw.writableFinished) abort.abort();
    };
    reply.raw.on('close', onClose);
    let answer;
    try {
      answer = await services.dispatcher.embed({ model: body.model, input: inputsOf(body.input) }, { deadline, requestId: request.id, signal: abort.signal });
    } catch (error) {
      if (error instanceof ApiError && error.status === 504) {
        void services.audit.emit({ event_type: 'deadline_exceeded', request_id: request.id, actor: request.actor, reason: 'reached while embedding', path: '/v1/embeddings' }).catch(() => undefined);
      }
      throw error;
    } finally {
      reply.raw.off('close', onClose);
    }
    const { response, worker } = answer;
    // The model has one size; a client asking for another would get vectors it did not ask for.
    if (body.dimensions !== undefined && body.dimensions !== response.dimensions) {
      throw new ApiError(400, 'INVALID_REQUEST', `dimensions: model ${body.model} makes vectors of ${response.dimensions} dimensions only`);
    }
    services.metrics.duration.observe({ route: '/v1/embeddings' }, (performance.now() - arrived) / 1000);
    reply.header('x-rbee-worker', worker);
    const base64 = body.encoding_format === 'base64';
    await reply.send({
      object: 'list',
      data: response.embeddings.map((vector, index) => ({ object: 'embedding', index, embedding: base64 ? toBase64(vector) : vector })),
      model: body.model,
      usage: { prompt_tokens: response.tokens_in, total_tokens: response.tokens_in },
    });
  };
}
