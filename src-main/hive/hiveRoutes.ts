import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ApiError } from '../../src-shared/api/ApiError.js';
import { DownloadBodySchema, HiveRoutePatterns, HiveRoutes, SpawnWorkerBodySchema } from '../../src-shared/hive/hiveApi.js';
import { InvalidRestartPolicyError } from '../../src-shared/policy/RestartPolicyConfig.js';
import { openEventStream } from '../common/http/eventStream.js';
import { isValidHiveNonce } from '../auth/hiveHandshake.js';
import type { Hive } from './Hive.js';

/**
 * The hive's public routes: liveness, health, and the handshake, answered without a token. The
 * handshake must be public: the queen sends its bearer token only to a hive that proved it holds it.
 */
export const hivePublicRoutes: FastifyPluginAsync<{ hive: Hive; answerNonce: (nonce: string) => string }> = async (app, { hive, answerNonce }) => {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get(HiveRoutes.health, async () => ({ status: hive.closing ? 'stopping' : 'ok', hive_id: hive.id, workers: hive.supervisor.list().length }));
  app.get<{ Querystring: { nonce?: string } }>(HiveRoutes.hello, async (request) => {
    const nonce = request.query.nonce;
    if (!isValidHiveNonce(nonce)) throw new ApiError(400, 'INVALID_REQUEST', 'nonce: 32 to 128 lowercase hex characters required');
    return { hive_id: hive.id, hmac: answerNonce(nonce) };
  });
};

/** Registers every protected route of the hive API on `app` (a scope behind bearer auth). */
export const hiveRoutes: FastifyPluginAsync<{ hive: Hive }> = async (scope, { hive }) => {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const { supervisor } = hive;

  app.get(HiveRoutes.hive, async () => hive.info());

  app.get(HiveRoutes.workers, async () => ({ workers: supervisor.list() }));
  app.post(HiveRoutes.workers, { schema: { body: SpawnWorkerBodySchema } }, async (request, reply) => {
    const body = request.body;
    if (body.hive_id !== undefined && body.hive_id !== hive.id) {
      throw new ApiError(400, 'INVALID_REQUEST', `This is hive '${hive.id}', not '${body.hive_id}'`);
    }
    const info = await supervisor.spawn(body);
    return reply.code(201).send(info);
  });
  app.get<{ Params: { id: string } }>(HiveRoutePatterns.worker, async (request) => supervisor.get(request.params.id).info());
  app.delete<{ Params: { id: string } }>(HiveRoutePatterns.worker, async (request, reply) => {
    await supervisor.remove(request.params.id, request.actor);
    return reply.code(204).send();
  });
  app.post<{ Params: { id: string } }>(HiveRoutePatterns.workerAction('start'), async (request, reply) => reply.code(202).send(supervisor.start(request.params.id, request.actor)));
  app.post<{ Params: { id: string } }>(HiveRoutePatterns.workerAction('stop'), async (request) => supervisor.stop(request.params.id, request.actor));
  app.post<{ Params: { id: string } }>(HiveRoutePatterns.workerAction('restart'), async (request, reply) => reply.code(202).send(await supervisor.restart(request.params.id, request.actor)));
  app.post<{ Params: { id: string } }>(HiveRoutePatterns.workerAction('reset-breaker'), async (request) => supervisor.resetBreaker(request.params.id, request.actor));
  /** Where and how to reach a worker directly (the queen streams tokens from it). */
  app.get<{ Params: { id: string } }>(HiveRoutePatterns.workerCredentials, async (request) => {
    const worker = supervisor.get(request.params.id);
    const endpoint = worker.endpoint();
    if (endpoint === null) return { worker_id: worker.id, url: null, token: worker.token };
    // A socket worker's origin is a loopback name (its Host check accepts it); the socket is the way in.
    if ('socketPath' in endpoint) return { worker_id: worker.id, url: 'http://localhost', token: worker.token, socket_path: endpoint.socketPath };
    return { worker_id: worker.id, url: `http://127.0.0.1:${endpoint.port}`, token: worker.token };
  });

  app.get(HiveRoutes.models, async () => ({ models: await hive.refreshModels() }));
  app.delete<{ Params: { name: string } }>(HiveRoutePatterns.model, async (request, reply) => {
    await hive.deleteModel(request.params.name, request.actor);
    return reply.code(204).send();
  });
  app.post(HiveRoutes.modelDownload, { schema: { body: DownloadBodySchema } }, async (request, reply) =>
    reply.code(202).send(await hive.downloader.start(request.body.source, request.body.name)),
  );
  app.get(HiveRoutes.devices, async () => ({ devices: await hive.devices() }));
  app.post(HiveRoutes.devicesProbe, async () => ({ devices: await hive.reprobeDevices() }));

  app.get(HiveRoutes.policy, async () => supervisor.policy);
  app.patch(HiveRoutes.policy, async (request) => {
    if (typeof request.body !== 'object' || request.body === null || Array.isArray(request.body)) {
      throw new ApiError(400, 'INVALID_REQUEST', 'Request body must be a JSON object');
    }
    try {
      return supervisor.updatePolicy(request.body);
    } catch (error) {
      if (error instanceof InvalidRestartPolicyError) throw new ApiError(400, 'INVALID_REQUEST', error.message, { problems: error.problems });
      throw error;
    }
  });

  app.get(HiveRoutes.metrics, async (_request, reply) => {
    reply.header('content-type', hive.metrics.contentType);
    return hive.metrics.render();
  });

  app.post(HiveRoutes.shutdown, async (_request, reply) => {
    reply.code(202).send({ status: 'stopping' });
    setImmediate(() => hive.requestShutdown());
  });

  /**
   * `GET /v1/workers/:id/logs?tail=N&follow=1`: the worker's captured output (redacted). Without
   * `follow`: `{lines}`, the last N (default 200, at most 5 000). With it: SSE, the tail first, then
   * every new line, one `event: log` per line (`id` = its seq).
   */
  app.get<{ Params: { id: string }; Querystring: { tail?: string; follow?: string } }>('/v1/workers/:id/logs', (request, reply) => {
    supervisor.get(request.params.id);
    const tail = parseTail(request.query.tail);
    const lines = hive.logs.tail(request.params.id, tail);
    if (request.query.follow !== '1' && request.query.follow !== 'true') return reply.send({ worker_id: request.params.id, lines });
    const stream = openEventStream(request, reply);
    for (const line of lines) stream.send('log', line.seq, line);
    stream.onClose(hive.logs.follow(request.params.id, (line) => stream.send('log', line.seq, line)));
    return reply;
  });

  /**
   * `GET /v1/events`: Server-Sent Events, one `ClusterEvent` per message:
   * `event: cluster\nid: <seq>\ndata: <json>\n\n`, a snapshot first, `: ping` comments every 15 s.
   */
  app.get(HiveRoutes.events, (request, reply) => {
    const stream = openEventStream(request, reply);
    stream.onClose(hive.events.subscribe((event) => stream.send('cluster', event.seq, event)));
  });
};

function parseTail(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 200;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 5_000) throw new ApiError(400, 'INVALID_REQUEST', 'tail must be an integer from 0 to 5000');
  return n;
}
