import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { GpuLaunchShape } from '../../../src-shared/worker/gpuOptions.js';
import { ApiError } from '../../../src-shared/api/ApiError.js';
import { AUDIT_EVENT_TYPES, type AuditQuery } from '../../../src-shared/audit/AuditEvent.js';
import { AuditQueryError } from '../../../src-shared/audit/AuditErrors.js';
import type { ClusterEvent } from '../../../src-shared/cluster/ClusterEvent.js';
import { ControlRoutes } from '../../../src-shared/control/controlRoutes.js';
import { parseBody } from '../../common/http/parseBody.js';
import { startSse } from '../../common/http/sse.js';
import type { QueenControl } from '../control/QueenControl.js';

const idSchema = z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only');

const SpawnSchema = z
  .object({
    hive_id: idSchema,
    model: z.string().min(1).max(256),
    ...GpuLaunchShape,
    slots: z.number().int().min(1).max(64).optional(),
    threads: z.number().int().min(1).max(256).optional(),
    ctx: z.number().int().min(64).max(1_048_576).optional(),
  })
  .strict();

const DownloadSchema = z
  .object({ hive_id: idSchema, source: z.string().min(1).max(2048), name: z.string().min(1).max(255).optional() })
  .strict();

const AddHiveSchema = z
  .object({
    host: z.string().min(1).max(255),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1).max(64).optional(),
    key_file: z.string().min(1).max(4096).optional(),
    name: z.string().min(1).max(64).optional(),
    trust_fingerprint: z.string().min(1).max(128).optional(),
  })
  .strict();

const SettingsPatchSchema = z
  .object({
    audit_mode: z.enum(['disabled', 'local']).optional(),
    restart_policy: z.record(z.string(), z.number()).optional(),
    allowed_hosts: z.array(z.string().min(1).max(253).regex(/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/, 'a host name or IP literal')).max(64).optional(),
    allowed_origins: z
      .array(z.string().min(1).max(512).regex(/^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/, 'an origin: scheme://host[:port], no path'))
      .max(64)
      .optional(),
    downloads_allow_loopback: z.boolean().optional(),
    downloads_allow_private: z.boolean().optional(),
  })
  .strict();

const AuditQuerySchema = z
  .object({
    from: z.string().max(64).optional(),
    to: z.string().max(64).optional(),
    event_types: z.string().max(2048).optional(),
    service_id: z.string().max(128).optional(),
    text: z.string().max(256).optional(),
    cursor: z.string().max(8192).optional(),
    limit: z.coerce.number().int().min(1).max(500).optional(),
  })
  .strict();

const WORKER_ACTIONS = ['stop', 'start', 'restart', 'reset-breaker'] as const;

/** The control API behind the dashboard and the CLI: the HTTP face of `QueenControl`. */
export function registerControlRoutes(app: FastifyInstance, control: QueenControl): void {
  const as = (actor: string): QueenControl => control.as(actor);

  app.get(ControlRoutes.snapshot, async () => control.getSnapshot());

  app.get(ControlRoutes.events, (request, reply) => {
    reply.hijack();
    const res = reply.raw;
    startSse(res);
    const write = (event: ClusterEvent): void => {
      if (res.destroyed) return;
      // A subscriber that cannot keep up is cut loose; it reconnects and gets a fresh snapshot.
      if (res.writableLength > 8 * 1024 * 1024) {
        res.destroy();
        return;
      }
      res.write(`event: cluster\nid: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`);
    };
    const unsubscribe = control.subscribe(write);
    const heartbeat = setInterval(() => !res.destroyed && res.write(': ping\n\n'), 15_000);
    heartbeat.unref();
    res.once('close', () => {
      clearInterval(heartbeat);
      unsubscribe();
    });
  });

  app.post(ControlRoutes.workers, async (request, reply) => {
    const body = parseBody(SpawnSchema, request.body);
    return reply.code(201).send(await as(request.actor).spawnWorker(body));
  });

  app.post<{ Params: { hive: string; worker: string; action: string } }>('/v1/control/hives/:hive/workers/:worker/:action', async (request, reply) => {
    const { hive, worker, action } = request.params;
    if (!(WORKER_ACTIONS as readonly string[]).includes(action)) throw new ApiError(404, 'NOT_FOUND', `Unknown worker action '${action}'`);
    idSchema.parse(hive);
    idSchema.parse(worker);
    const c = as(request.actor);
    if (action === 'stop') await c.stopWorker(hive, worker);
    else if (action === 'start') await c.startWorker(hive, worker);
    else if (action === 'restart') await c.restartWorker(hive, worker);
    else await c.resetBreaker(hive, worker);
    return reply.code(202).send({ status: 'accepted' });
  });

  app.get(ControlRoutes.models, async () => ({ models: await control.listModels() }));
  app.post(ControlRoutes.modelDownload, async (request, reply) => {
    const body = parseBody(DownloadSchema, request.body);
    return reply.code(202).send(await as(request.actor).downloadModel(body));
  });

  app.get(ControlRoutes.hives, async () => ({ hives: await control.listHives() }));
  app.post(ControlRoutes.hives, async (request, reply) => {
    const body = parseBody(AddHiveSchema, request.body);
    const result = await as(request.actor).addHive(body);
    return reply.code(result.status === 'added' ? 201 : 200).send(result);
  });
  app.delete<{ Params: { hive: string }; Querystring: { stop?: string } }>('/v1/control/hives/:hive', async (request, reply) => {
    idSchema.parse(request.params.hive);
    await as(request.actor).removeHive(request.params.hive, { stop: request.query.stop === 'true' });
    return reply.code(204).send();
  });

  app.get(ControlRoutes.audit, async (request) => {
    const parsed = AuditQuerySchema.safeParse(request.query ?? {});
    if (!parsed.success) throw new ApiError(400, 'INVALID_REQUEST', parsed.error.issues[0]?.message ?? 'bad audit query');
    const { event_types, ...rest } = parsed.data;
    const types = event_types ? event_types.split(',').filter((t) => t.length > 0) : undefined;
    for (const t of types ?? []) {
      if (!(AUDIT_EVENT_TYPES as readonly string[]).includes(t)) throw new ApiError(400, 'INVALID_REQUEST', `Unknown audit event type '${t}'`);
    }
    const query: AuditQuery = { ...rest, ...(types ? { event_types: types as AuditQuery['event_types'] } : {}) };
    try {
      return await control.queryAudit(query);
    } catch (error) {
      if (error instanceof AuditQueryError) throw new ApiError(400, 'INVALID_REQUEST', error.message);
      throw error;
    }
  });
  app.get(ControlRoutes.auditVerify, async () => control.verifyAudit());

  app.get(ControlRoutes.settings, async () => control.getSettings());
  app.patch(ControlRoutes.settings, async (request) => as(request.actor).updateSettings(parseBody(SettingsPatchSchema, request.body)));
}
