import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { ApiError } from '../../../src-shared/api/ApiError.js';
import { AuditQueryError } from '../../../src-shared/audit/AuditErrors.js';
import { ControlRoutes } from '../../../src-shared/control/controlRoutes.js';
import {
  AddHiveRequestSchema,
  AuditQueryStringSchema,
  CreateWorkerSpecRequestSchema,
  DownloadModelRequestSchema,
  IdSchema,
  ReplaceWorkerSpecRequestSchema,
  SettingsPatchSchema,
  UploadModelRequestSchema,
  WORKER_ACTIONS,
} from '../../../src-shared/control/controlSchemas.js';
import { openEventStream } from '../../common/http/eventStream.js';
import { startSse } from '../../common/http/sse.js';
import type { QueenControl } from '../control/QueenControl.js';


/** Event-stream subscribers one queen serves at once; more get 503 (each holds a socket and a buffer). */
export const MAX_EVENT_SUBSCRIBERS = 64;

/** A path parameter checked like a body field: a malformed one is a 400, never a 500. */
function pathId(value: string, what: string): string {
  const parsed = IdSchema.safeParse(value);
  if (!parsed.success) throw new ApiError(400, 'INVALID_REQUEST', `${what}: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
  return parsed.data;
}

export interface ControlRoutesOptions {
  control: QueenControl;
}

/**
 * The control API behind the dashboard and the CLI: the HTTP face of `QueenControl`, as one route
 * plugin. Bodies are checked by route schemas from src-shared/control/controlSchemas.ts (the same
 * schemas the Electron IPC handlers parse with); path ids by `pathId`.
 */
export const controlRoutes: FastifyPluginAsync<ControlRoutesOptions> = async (scope, { control }) => {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const as = (actor: string): QueenControl => control.as(actor);

  app.get(ControlRoutes.snapshot, async () => control.getSnapshot());

  let subscribers = 0;
  app.get(ControlRoutes.events, (request, reply) => {
    if (subscribers >= MAX_EVENT_SUBSCRIBERS) {
      throw new ApiError(503, 'TOO_MANY_SUBSCRIBERS', `At most ${MAX_EVENT_SUBSCRIBERS} event-stream subscribers at once`, undefined, { 'retry-after': '5' });
    }
    subscribers += 1;
    const stream = openEventStream(request, reply);
    stream.onClose(() => {
      subscribers -= 1;
    });
    stream.onClose(control.subscribe((event) => stream.send('cluster', event.seq, event)));
  });

  // Declared workers (specs joined with their workers): list, create, read, replace, delete.
  app.get(ControlRoutes.workers, async () => ({ workers: await control.listWorkerSpecs() }));
  app.post(ControlRoutes.workers, { schema: { body: CreateWorkerSpecRequestSchema } }, async (request, reply) =>
    reply.code(201).send(await as(request.actor).createWorkerSpec(request.body)),
  );
  app.get<{ Params: { hive: string; worker: string } }>('/v1/control/hives/:hive/workers/:worker', async (request) =>
    control.getWorkerSpec(pathId(request.params.hive, 'hive id'), pathId(request.params.worker, 'worker id')),
  );
  app.put<{ Params: { hive: string; worker: string }; Body: z.output<typeof ReplaceWorkerSpecRequestSchema> }>('/v1/control/hives/:hive/workers/:worker', { schema: { body: ReplaceWorkerSpecRequestSchema } }, async (request) => {
    const hive = pathId(request.params.hive, 'hive id');
    const worker = pathId(request.params.worker, 'worker id');
    return as(request.actor).replaceWorkerSpec(hive, worker, request.body);
  });
  app.delete<{ Params: { hive: string; worker: string } }>('/v1/control/hives/:hive/workers/:worker', async (request, reply) => {
    await as(request.actor).deleteWorkerSpec(pathId(request.params.hive, 'hive id'), pathId(request.params.worker, 'worker id'));
    return reply.code(204).send();
  });

  /** A worker's output through its hive (remote hives: through the tunnel): JSON, or SSE with `follow=1`. */
  app.get<{ Params: { hive: string; worker: string }; Querystring: { tail?: string; follow?: string } }>(
    '/v1/control/hives/:hive/workers/:worker/logs',
    async (request, reply) => {
      const hive = IdSchema.parse(request.params.hive);
      const worker = IdSchema.parse(request.params.worker);
      const tail = request.query.tail === undefined ? 200 : Number(request.query.tail);
      if (!Number.isInteger(tail) || tail < 0 || tail > 5_000) throw new ApiError(400, 'INVALID_REQUEST', 'tail must be an integer from 0 to 5000');
      if (request.query.follow !== '1' && request.query.follow !== 'true') return control.getWorkerLogs(hive, worker, tail);
      const abort = new AbortController();
      const upstream = await control.followWorkerLogs(hive, worker, tail, abort.signal);
      reply.hijack();
      startSse(reply.raw);
      upstream.pipe(reply.raw);
      const end = (): void => {
        abort.abort();
        upstream.destroy();
        if (!reply.raw.destroyed) reply.raw.end();
      };
      upstream.once('end', end);
      upstream.once('error', end);
      reply.raw.once('close', end);
      return reply;
    },
  );

  app.post<{ Params: { hive: string; worker: string; action: string } }>('/v1/control/hives/:hive/workers/:worker/:action', async (request, reply) => {
    const { hive, worker, action } = request.params;
    if (!(WORKER_ACTIONS as readonly string[]).includes(action)) throw new ApiError(404, 'NOT_FOUND', `Unknown worker action '${action}'`);
    pathId(hive, 'hive id');
    pathId(worker, 'worker id');
    const c = as(request.actor);
    if (action === 'stop') await c.stopWorker(hive, worker);
    else if (action === 'start') await c.startWorker(hive, worker);
    else if (action === 'restart') await c.restartWorker(hive, worker);
    else await c.resetBreaker(hive, worker);
    return reply.code(202).send({ status: 'accepted' });
  });

  app.get(ControlRoutes.models, async () => ({ models: await control.listModels() }));
  app.post(ControlRoutes.modelDownload, { schema: { body: DownloadModelRequestSchema } }, async (request, reply) =>
    reply.code(202).send(await as(request.actor).downloadModel(request.body)),
  );

  app.post(ControlRoutes.modelUpload, { schema: { body: UploadModelRequestSchema } }, async (request, reply) =>
    reply.code(202).send(await as(request.actor).uploadModel(request.body)),
  );

  app.delete<{ Params: { hive: string; name: string } }>('/v1/control/hives/:hive/models/:name', async (request, reply) => {
    await as(request.actor).deleteModel(pathId(request.params.hive, 'hive'), request.params.name);
    return reply.code(204).send();
  });

  app.get(ControlRoutes.hives, async () => ({ hives: await control.listHives() }));
  app.post(ControlRoutes.hives, { schema: { body: AddHiveRequestSchema } }, async (request, reply) => {
    const result = await as(request.actor).addHive(request.body);
    return reply.code(result.status === 'added' ? 201 : 200).send(result);
  });
  app.delete<{ Params: { hive: string }; Querystring: { stop?: string } }>('/v1/control/hives/:hive', async (request, reply) => {
    pathId(request.params.hive, 'hive id');
    await as(request.actor).removeHive(request.params.hive, { stop: request.query.stop === 'true' });
    return reply.code(204).send();
  });

  app.get(ControlRoutes.audit, async (request) => {
    const parsed = AuditQueryStringSchema.safeParse(request.query ?? {});
    if (!parsed.success) throw new ApiError(400, 'INVALID_REQUEST', parsed.error.issues[0]?.message ?? 'bad audit query');
    const query = parsed.data;
    try {
      return await control.queryAudit(query);
    } catch (error) {
      if (error instanceof AuditQueryError) throw new ApiError(400, 'INVALID_REQUEST', error.message);
      throw error;
    }
  });
  app.get(ControlRoutes.auditVerify, async () => control.verifyAudit());

  app.get(ControlRoutes.settings, async () => control.getSettings());
  app.patch(ControlRoutes.settings, { schema: { body: SettingsPatchSchema } }, async (request) => as(request.actor).updateSettings(request.body));
};
