import { z } from 'zod';
import { GpuLaunchShape } from '../../../src-shared/worker/gpuOptions.js';
import { AUDIT_EVENT_TYPES } from '../../../src-shared/audit/AuditEvent.js';
import { InferenceRequestSchema } from '../../../src-shared/worker/inferenceWire.js';
import type { ControlRequestMethod } from './controlChannels.js';

/** Printable text without control characters (they have no business in ids, hosts or paths). */
const NO_CONTROL_CHARS = /^[^\p{Cc}]*$/u;

const Id = z.string().min(1).max(256).regex(NO_CONTROL_CHARS, 'control characters are not allowed');

/** Host name, IP or ~/.ssh/config alias. No whitespace and no leading '-' (it would read as an ssh option). */
const Host = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9._:[\]%-]+$/, 'not a host name, address or alias')
  .refine((h) => !h.startsWith('-'), 'a host must not start with "-"');

const SshUser = z.string().min(1).max(64).regex(/^[A-Za-z0-9._][A-Za-z0-9._-]*$/, 'not a user name');

const Port = z.number().int().min(1).max(65_535);

const SpawnWorkerRequestSchema = z
  .object({
    hive_id: Id,
    model: z.string().min(1).max(256).regex(NO_CONTROL_CHARS),
    ...GpuLaunchShape,
    slots: z.number().int().min(1).max(64).optional(),
    threads: z.number().int().min(1).max(512).optional(),
    ctx: z.number().int().min(64).max(1_048_576).optional(),
  })
  .strict();

const DownloadModelRequestSchema = z
  .object({
    hive_id: Id,
    source: z
      .string()
      .min(1)
      .max(2048)
      .regex(NO_CONTROL_CHARS)
      .refine((s) => /^hf:[^\s]+$/.test(s) || /^https?:\/\/[^\s]+$/.test(s), 'source must be hf:<user>/<repo>/<file> or an http(s) URL'),
    name: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a plain file name, no path')
      .optional(),
  })
  .strict();

const AddHiveRequestSchema = z
  .object({
    host: Host,
    port: Port.optional(),
    user: SshUser.optional(),
    key_file: z.string().min(1).max(4096).regex(NO_CONTROL_CHARS).optional(),
    name: z.string().min(1).max(64).regex(NO_CONTROL_CHARS).optional(),
    trust_fingerprint: z
      .string()
      .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'a SHA256:<base64> fingerprint')
      .optional(),
  })
  .strict();

const TimeBound = z.string().min(1).max(64).regex(NO_CONTROL_CHARS);

const AuditQuerySchema = z
  .object({
    from: TimeBound.optional(),
    to: TimeBound.optional(),
    event_types: z.array(z.enum(AUDIT_EVENT_TYPES)).max(AUDIT_EVENT_TYPES.length).optional(),
    service_id: Id.optional(),
    text: z.string().max(256).optional(),
    cursor: z.string().max(1024).optional(),
    limit: z.number().int().min(1).max(500).optional(),
  })
  .strict();

const Ms = z.number().int().min(0).max(24 * 3_600_000);

const SettingsPatchSchema = z
  .object({
    audit_mode: z.enum(['disabled', 'local']).optional(),
    restart_policy: z
      .object({
        backoff_base_ms: Ms.optional(),
        backoff_max_ms: Ms.optional(),
        jitter_ratio: z.number().min(0).max(1).optional(),
        max_restarts: z.number().int().min(0).max(1000).optional(),
        stability_window_ms: Ms.optional(),
        breaker_failures: z.number().int().min(1).max(1000).optional(),
        breaker_window_ms: Ms.optional(),
        breaker_cooldown_ms: Ms.optional(),
        load_timeout_ms: Ms.optional(),
        health_period_ms: Ms.optional(),
        health_failures: z.number().int().min(1).max(100).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/**
 * The argument tuple each request channel accepts. Tuples reject missing and extra arguments;
 * objects are `strict`, so an unknown field is an error rather than silently forwarded.
 */
export const ControlArgSchemas = {
  getSnapshot: z.tuple([]),
  spawnWorker: z.tuple([SpawnWorkerRequestSchema]),
  stopWorker: z.tuple([Id, Id]),
  startWorker: z.tuple([Id, Id]),
  restartWorker: z.tuple([Id, Id]),
  resetBreaker: z.tuple([Id, Id]),
  listModels: z.tuple([]),
  downloadModel: z.tuple([DownloadModelRequestSchema]),
  listHives: z.tuple([]),
  addHive: z.tuple([AddHiveRequestSchema]),
  removeHive: z.tuple([Id, z.object({ stop: z.boolean() }).strict()]),
  queryAudit: z.tuple([AuditQuerySchema]),
  verifyAudit: z.tuple([]),
  getSettings: z.tuple([]),
  updateSettings: z.tuple([SettingsPatchSchema]),
} as const satisfies Record<ControlRequestMethod, z.ZodType>;

/** Ids the renderer picks for its streams; unique per window. */
export const StreamIdSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/);

export const SubscribeArgsSchema = z.tuple([StreamIdSchema]);

/** `infer(request & { model }, …)`: the inference body from src-shared, with the model required. */
export const InferArgsSchema = z.tuple([
  StreamIdSchema,
  InferenceRequestSchema.safeExtend({ model: z.string().min(1).max(256) }),
]);
