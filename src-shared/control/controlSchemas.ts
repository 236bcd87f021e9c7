import { z } from 'zod';
import { AUDIT_EVENT_TYPES } from '../audit/AuditEvent.js';
import { RestartPolicyPatchSchema } from '../policy/RestartPolicyConfig.js';
import { GpuLaunchShape } from '../worker/gpuOptions.js';
import { InferenceRequestSchema } from '../worker/inferenceWire.js';
import { PoolNameSchema } from './poolSchemas.js';
import { MAX_LOG_TAIL } from './workerLogs.js';
import { DesktopPreferencesPatchSchema } from '../desktop/desktopPreferences.js';
import { ApiKeyIdSchema, CreateApiKeySchema } from './apiKeys.js';

/**
 * The one definition of the control API's request shapes. The queen's HTTP routes
 * (`/v1/control/*`) and the Electron IPC handlers both parse with these, so the dashboard gets the
 * same answer for the same input whichever bridge carries it. Objects are `strict`: an unknown field
 * is an error rather than silently forwarded.
 */

/** Printable text without control characters (they have no business in names, hosts or paths). */
const NO_CONTROL_CHARS = /^[^\p{Cc}]*$/u;

/** A hive or worker id. Ids are generated (slugs), so the alphabet is small: no '/', no '..' paths. */
export const IdSchema = z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only');

/** Host name, IP or ~/.ssh/config alias. No whitespace and no leading '-' (it would read as an ssh option). */
const HostSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9._:[\]%-]+$/, 'not a host name, address or alias')
  .refine((h) => !h.startsWith('-'), 'a host must not start with "-"');

const SshUserSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9._][A-Za-z0-9._-]*$/, 'not a user name');

/**
 * Worker sizing shared by the control API and the hive API (GPU fields: src-shared/worker/gpuOptions). `threads` stops at 256: the hive refuses
 * more, and an outer layer that accepted 512 only moved the error one hop further from the caller.
 */
export const WorkerSizingSchema = z.object({
  ...GpuLaunchShape,
  slots: z.number().int().min(1).max(64).optional(),
  threads: z.number().int().min(1).max(256).optional(),
  ctx: z.number().int().min(64).max(1_048_576).optional(),
});

/** A model as a catalog names it (a file name, or `pool/model`). */
const ModelNameSchema = z.string().min(1).max(256).regex(NO_CONTROL_CHARS, 'control characters are not allowed');

export const SpawnWorkerRequestSchema = z
  .object({
    hive_id: IdSchema,
    model: ModelNameSchema,
    ...WorkerSizingSchema.shape,
  })
  .strict();

/** A spec's id: the id its worker gets on the hive (the hive accepts at most 64 characters). */
export const WorkerSpecIdSchema = IdSchema.max(64);

const DAY_MS = 86_400_000;
/** Idle TTL of a worker: stopped after this long without requests; null = never. */
export const IdleTtlSchema = z.number().int().min(1_000).max(7 * DAY_MS).nullable();

/**
 * A declared worker (DESIGN §6 "Specs vs workers"): desired state the queen persists and reconciles.
 * Sizing fields left out take the hive's defaults (device auto, gpu_layers auto, its threads).
 * `ephemeral` specs are the queen's own (one per model and hive, created on demand, never persisted);
 * `hot_spare` asks the hive for a second process with the model loaded, which takes over (same worker
 * id) when the worker's process dies: recovery costs the backoff and a hand-over, not a load.
 */
export const WorkerSpecSchema = z
  .object({
    id: WorkerSpecIdSchema,
    hive: IdSchema,
    model: ModelNameSchema,
    ...WorkerSizingSchema.shape,
    /** Absent: the hive's default. */
    idle_ttl_ms: IdleTtlSchema.optional(),
    enabled: z.boolean(),
    ephemeral: z.boolean(),
    hot_spare: z.boolean(),
  })
  .strict();
export type WorkerSpec = z.infer<typeof WorkerSpecSchema>;

/** What an operator may set on a spec (`ephemeral` is the queen's; a PUT declares the spec). */
const SpecFieldsShape = {
  model: ModelNameSchema,
  ...WorkerSizingSchema.shape,
  idle_ttl_ms: IdleTtlSchema.optional(),
  enabled: z.boolean().optional(),
  hot_spare: z.boolean().optional(),
};

/** `POST /v1/control/workers`: a spec; `id` is generated when absent. Starts the worker when enabled (the default). */
export const CreateWorkerSpecRequestSchema = z
  .object({ hive_id: IdSchema, id: WorkerSpecIdSchema.optional(), ...SpecFieldsShape })
  .strict();

/**
 * `PUT /v1/control/hives/{hive}/workers/{id}`: the whole spec again (fields left out take their
 * defaults). `id`, `hive` and `ephemeral: false` are accepted so a spec read with GET can be sent back.
 */
export const ReplaceWorkerSpecRequestSchema = z
  .object({ id: WorkerSpecIdSchema.optional(), hive: IdSchema.optional(), ephemeral: z.literal(false).optional(), ...SpecFieldsShape })
  .strict();

/** `hf:<user>/<repo>:<TAG>`, `hf:<user>/<repo>/<file>` or an http(s) URL (the hive checks the details: docs/hive.md "Download"). */
export const ModelSourceSchema = z
  .string()
  .min(1)
  .max(2048)
  .regex(NO_CONTROL_CHARS, 'control characters are not allowed')
  .refine((s) => /^hf:[^\s]+$/.test(s) || /^https?:\/\/[^\s]+$/.test(s), 'source must be hf:<user>/<repo>:<TAG>, hf:<user>/<repo>/<file> or an http(s) URL');

/** A plain file name, no path. */
export const ModelFileNameSchema = z.string().min(1).max(255).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a plain file name, no path');

export const DownloadModelRequestSchema = z
  .object({ hive_id: IdSchema, source: ModelSourceSchema, name: ModelFileNameSchema.optional() })
  .strict();

/**
 * Copy a model of this machine's models folder (the local hive's catalog) to a remote hive by SFTP.
 * `model` names a file in the local models folder, never a path: the queen reads nothing else.
 */
export const UploadModelRequestSchema = z
  .object({ hive_id: IdSchema, model: ModelFileNameSchema, name: ModelFileNameSchema.optional() })
  .strict();

export const AddHiveRequestSchema = z
  .object({
    host: HostSchema,
    port: z.number().int().min(1).max(65_535).optional(),
    user: SshUserSchema.optional(),
    key_file: z.string().min(1).max(4096).regex(NO_CONTROL_CHARS, 'control characters are not allowed').optional(),
    name: z.string().min(1).max(64).regex(NO_CONTROL_CHARS, 'control characters are not allowed').optional(),
    trust_fingerprint: z
      .string()
      .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'a SHA256:<base64> fingerprint')
      .optional(),
  })
  .strict();

export const RemoveHiveOptionsSchema = z.object({ stop: z.boolean() }).strict();

const TimeBoundSchema = z.string().min(1).max(64).regex(NO_CONTROL_CHARS, 'control characters are not allowed');
const AuditTextSchema = z.string().max(256);
/** Merged pages carry one position per hive, so a cursor grows with the cluster. */
const AuditCursorSchema = z.string().max(8192);
const AuditLimitSchema = z.number().int().min(1).max(500);

/** `queryAudit(query)` as an object (IPC, and the HTTP route after decoding its query string). */
export const AuditQuerySchema = z
  .object({
    from: TimeBoundSchema.optional(),
    to: TimeBoundSchema.optional(),
    event_types: z.array(z.enum(AUDIT_EVENT_TYPES)).max(AUDIT_EVENT_TYPES.length).optional(),
    service_id: IdSchema.optional(),
    text: AuditTextSchema.optional(),
    cursor: AuditCursorSchema.optional(),
    limit: AuditLimitSchema.optional(),
  })
  .strict();

/**
 * `GET /v1/control/audit?…`: the same query in query-string form (`event_types` comma separated,
 * numbers as text), decoded into an `AuditQuery`.
 */
export const AuditQueryStringSchema = z
  .object({
    from: TimeBoundSchema.optional(),
    to: TimeBoundSchema.optional(),
    event_types: z
      .string()
      .max(2048)
      .transform((s) => s.split(',').filter((t) => t.length > 0))
      .pipe(z.array(z.enum(AUDIT_EVENT_TYPES, { error: (issue) => `Unknown audit event type '${String(issue.input)}'` })))
      .optional(),
    service_id: IdSchema.optional(),
    text: AuditTextSchema.optional(),
    cursor: AuditCursorSchema.optional(),
    limit: z.coerce.number().pipe(AuditLimitSchema).optional(),
  })
  .strict();

/** `updateSettings(patch)`: the restart policy part is the one policy schema (src-shared/policy). */
export const SettingsPatchSchema = z
  .object({
    audit_mode: z.enum(['disabled', 'local']).optional(),
    audit_retention_days: z.number().int().min(1).max(36_500).nullable().optional(),
    audit_max_bytes: z.number().int().min(1024 * 1024).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
    audit_fail_closed: z.boolean().optional(),
    restart_policy: RestartPolicyPatchSchema.optional(),
    allowed_hosts: z.array(z.string().min(1).max(253).regex(/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/, 'a host name or IP literal')).max(64).optional(),
    allowed_origins: z
      .array(z.string().min(1).max(512).regex(/^[a-z][a-z0-9+.-]*:\/\/[^/\s]+$/, 'an origin: scheme://host[:port], no path'))
      .max(64)
      .optional(),
    downloads_allow_loopback: z.boolean().optional(),
    downloads_allow_private: z.boolean().optional(),
  })
  .strict();

export const WORKER_ACTIONS = ['stop', 'start', 'restart', 'reset-breaker'] as const;
export const WorkerActionSchema = z.enum(WORKER_ACTIONS);

/**
 * The argument tuple each request method of `ControlApi` accepts over IPC. Tuples reject missing and
 * extra arguments.
 */
export const ControlArgSchemas = {
  getSnapshot: z.tuple([]),
  spawnWorker: z.tuple([SpawnWorkerRequestSchema]),
  listWorkerSpecs: z.tuple([]),
  createWorkerSpec: z.tuple([CreateWorkerSpecRequestSchema]),
  getWorkerSpec: z.tuple([IdSchema, IdSchema]),
  replaceWorkerSpec: z.tuple([IdSchema, IdSchema, ReplaceWorkerSpecRequestSchema]),
  deleteWorkerSpec: z.tuple([IdSchema, IdSchema]),
  stopWorker: z.tuple([IdSchema, IdSchema]),
  startWorker: z.tuple([IdSchema, IdSchema]),
  restartWorker: z.tuple([IdSchema, IdSchema]),
  resetBreaker: z.tuple([IdSchema, IdSchema]),
  getWorkerLogs: z.tuple([IdSchema, IdSchema, z.number().int().min(0).max(MAX_LOG_TAIL)]),
  listModels: z.tuple([]),
  downloadModel: z.tuple([DownloadModelRequestSchema]),
  uploadModel: z.tuple([UploadModelRequestSchema]),
  deleteModel: z.tuple([IdSchema, z.string().min(1).max(256)]),
  listHives: z.tuple([]),
  addHive: z.tuple([AddHiveRequestSchema]),
  removeHive: z.tuple([IdSchema, RemoveHiveOptionsSchema]),
  listPools: z.tuple([]),
  testPool: z.tuple([PoolNameSchema]),
  resetPoolBreaker: z.tuple([PoolNameSchema]),
  queryAudit: z.tuple([AuditQuerySchema]),
  verifyAudit: z.tuple([]),
  getSettings: z.tuple([]),
  updateSettings: z.tuple([SettingsPatchSchema]),
  getDesktopPreferences: z.tuple([]),
  updateDesktopPreferences: z.tuple([DesktopPreferencesPatchSchema]),
  listKeys: z.tuple([]),
  createKey: z.tuple([CreateApiKeySchema]),
  revokeKey: z.tuple([ApiKeyIdSchema]),
  revealAdminToken: z.tuple([]),
} as const;

/** Ids the renderer picks for its streams; unique per window. */
export const StreamIdSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/);

export const SubscribeArgsSchema = z.tuple([StreamIdSchema]);

/** `infer(request & { model }, …)`: the inference body, with the model required. */
export const InferArgsSchema = z.tuple([StreamIdSchema, InferenceRequestSchema.safeExtend({ model: z.string().min(1).max(256) })]);
