import { z } from 'zod';
import type { AuditRecord } from '../audit/AuditEvent.js';
import { HiveInfoSchema, ModelInfoSchema } from '../cluster/HiveInfo.js';
import { WorkerInfoSchema } from '../cluster/WorkerInfo.js';
import { IdleTtlSchema, WorkerSizingSchema } from '../control/controlSchemas.js';
import { RestartPolicyPatchSchema } from '../policy/RestartPolicyConfig.js';

/**
 * The hive's HTTP API (docs/hive.md): its paths and the shapes that cross it. The hive's routes
 * register these paths and parse with these schemas; the queen's HiveClient calls the same paths and
 * parses the answers, so neither side spells a URL or a shape of its own.
 */
export const HiveRoutes = {
  health: '/v1/health',
  /** Public: the hive proves it holds its token by answering a nonce (docs/hive.md "Handshake"). */
  hello: '/v1/hive/hello',
  hive: '/v1/hive',
  workers: '/v1/workers',
  worker: (id: string) => `/v1/workers/${encodeURIComponent(id)}`,
  workerAction: (id: string, action: HiveWorkerAction) => `/v1/workers/${encodeURIComponent(id)}/${action}`,
  workerCredentials: (id: string) => `/v1/workers/${encodeURIComponent(id)}/credentials`,
  models: '/v1/models',
  /** `DELETE`: removes the model file (409 while a worker of this hive uses it). */
  model: (name: string) => `/v1/models/${encodeURIComponent(name)}`,
  modelDownload: '/v1/models/download',
  devices: '/v1/devices',
  /** `POST`: forget the cached device probe and memory estimates, run a new probe child, answer the devices. */
  devicesProbe: '/v1/devices/probe',
  events: '/v1/events',
  policy: '/v1/policy',
  metrics: '/metrics',
  shutdown: '/v1/shutdown',
  /** This hive's audit head and its workers' (the queen records them as `witness` records). */
  auditHeads: '/v1/audit/heads',
  /** The queen pushes its own head; the hive records it as a `witness` record. */
  auditWitness: '/v1/audit/witness',
  /** One newest-first page of this hive's and its workers' records (body: an AuditQuery). */
  auditQuery: '/v1/audit/query',
  /** The hive's chain files and its workers' (for `rbee audit export`). */
  auditFiles: '/v1/audit/files',
  auditFile: (chain: string, name: string, offset: number) => `/v1/audit/files/${encodeURIComponent(chain)}/${encodeURIComponent(name)}?offset=${offset}`,
} as const;

/** Route patterns (fastify syntax) for the paths with parameters. */
export const HiveRoutePatterns = {
  worker: '/v1/workers/:id',
  workerAction: (action: HiveWorkerAction) => `/v1/workers/:id/${action}`,
  workerCredentials: '/v1/workers/:id/credentials',
  model: '/v1/models/:name',
} as const;

export type HiveWorkerAction = 'start' | 'stop' | 'restart' | 'reset-breaker';

/** `POST /v1/workers`. */
export const SpawnWorkerBodySchema = z
  .object({
    /** Accepted so the queen can forward a ControlApi `SpawnWorkerRequest` unchanged. */
    hive_id: z.string().max(128).optional(),
    model: z.string().min(1).max(256),
    id: z.string().min(1).max(64).optional(),
    ...WorkerSizingSchema.shape,
    /** Per-worker override merged over the hive's policy (checked by the hive with the policy schema). */
    policy: z.record(z.string(), z.unknown()).optional(),
    idle_ttl_ms: IdleTtlSchema.optional(),
    /** Keep a second process with the model loaded that takes over after a crash (WorkerSpec.hot_spare). */
    hot_spare: z.boolean().optional(),
  })
  .strict();
export type SpawnWorkerBody = z.infer<typeof SpawnWorkerBodySchema>;

/** `POST /v1/models/download`. */
export const DownloadBodySchema = z
  .object({
    hive_id: z.string().max(128).optional(),
    source: z.string().min(1).max(2048),
    name: z.string().min(1).max(256).optional(),
  })
  .strict();
export type DownloadBody = z.infer<typeof DownloadBodySchema>;

/** `PATCH /v1/policy` takes a policy patch (the one policy schema). */
export const PolicyPatchBodySchema = RestartPolicyPatchSchema;

// Answers, parsed by the queen where they cross from a hive (possibly remote) into its state.
export const HiveHealthSchema = z.object({ status: z.enum(['ok', 'stopping']), hive_id: z.string(), workers: z.number() });
export const WorkerListSchema = z.object({ workers: z.array(WorkerInfoSchema) });
export const ModelListSchema = z.object({ models: z.array(ModelInfoSchema) });
/** `name`: the model the download lands as (a split model's first shard). */
export const DownloadStartedSchema = z.object({ download_id: z.string(), name: z.string().optional() });
/**
 * `url` names the worker's HTTP origin; `socket_path`, when present, is the Unix socket to connect
 * to instead of url's host and port (remote hives: reached through an SSH streamlocal channel).
 */
export const WorkerCredentialsSchema = z.object({
  worker_id: z.string(),
  url: z.string().nullable(),
  token: z.string().optional(),
  socket_path: z.string().optional(),
});
export type WorkerCredentials = z.infer<typeof WorkerCredentialsSchema>;
export const HiveInfoAnswerSchema = HiveInfoSchema;
/** `GET /v1/hive/hello?nonce=<hex>`: `hmac` = hex HMAC-SHA256(key = the hive's token, nonce). */
export const HiveHelloSchema = z.object({ hive_id: z.string(), hmac: z.string() });
export type HiveHello = z.infer<typeof HiveHelloSchema>;
/** Nonces are 32–128 hex characters (the queen sends 64: 32 random bytes). */
export const HIVE_NONCE_RE = /^[0-9a-f]{32,128}$/;

/** One chain's head `{chain, seq, hash}` (`rbee audit head`'s line) as it crosses between tiers. */
export const AuditHeadSchema = z
  .object({
    chain: z.string().min(1).max(256),
    seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    hash: z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase SHA-256 hex digest'),
  })
  .strict();
/** `GET /v1/audit/heads`: empty when the hive's audit is off. */
export const AuditHeadsAnswerSchema = z.object({ heads: z.array(AuditHeadSchema).max(10_000) });
/** `POST /v1/audit/witness`: heads another tier saw (the queen's own), and who pushed them. */
export const AuditWitnessBodySchema = z
  .object({
    source: z.string().min(1).max(128),
    heads: z.array(AuditHeadSchema).min(1).max(1_000),
  })
  .strict();
export type AuditWitnessBody = z.infer<typeof AuditWitnessBodySchema>;
export const AuditWitnessAnswerSchema = z.object({ recorded: z.number().int().min(0) });
/** `GET /v1/audit/files`: `chain` is the chain's folder name (`hive_gpu1`, `worker_w1`). */
export const AuditFilesAnswerSchema = z.object({
  files: z.array(z.object({ chain: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/), name: z.string().regex(/^\d{4}-\d{2}-\d{2}(\.[1-9]\d{0,5})?\.audit$/), size: z.number().int().min(0) })).max(100_000),
});
export type AuditFilesAnswer = z.infer<typeof AuditFilesAnswerSchema>;
/** `GET /v1/audit/files/{chain}/{name}?offset=N`: up to 4 MiB of the file's bytes from `offset`, base64. */
export const AuditFileChunkSchema = z.object({ data_base64: z.string(), next_offset: z.number().int().min(0).nullable() });
export type AuditFileChunk = z.infer<typeof AuditFileChunkSchema>;

/** `POST /v1/audit/query`'s answer: records keep their own shape (the queen merges them, verify reads files). */
export const AuditPageAnswerSchema = z.object({
  records: z.array(
    z.custom<AuditRecord>(
      (v) => typeof v === 'object' && v !== null && typeof (v as AuditRecord).audit_id === 'string' && typeof (v as AuditRecord).service_id === 'string' && typeof (v as AuditRecord).timestamp === 'string',
      'not an audit record',
    ),
  ),
  next_cursor: z.string().nullable(),
});

