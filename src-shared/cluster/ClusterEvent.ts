import { z } from 'zod';
import type { AuditRecord } from '../audit/AuditEvent.js';
import { WorkerSpecSchema } from '../control/controlSchemas.js';
import { HiveInfoSchema, ModelInfoSchema } from './HiveInfo.js';
import { WorkerInfoSchema } from './WorkerInfo.js';

/** The queen's audit writer cannot write (docs/audit.md "Audit health"); null/absent: healthy. */
export const AuditDegradedSchema = z.object({
  service_id: z.string(),
  reason: z.enum(['low_disk', 'io_error', 'failed']),
  /** ISO-8601 UTC. */
  since: z.string(),
  message: z.string(),
});
export type AuditDegraded = z.infer<typeof AuditDegradedSchema>;

export const ClusterSnapshotSchema = z.object({
  hives: z.array(HiveInfoSchema),
  workers: z.array(WorkerInfoSchema),
  models: z.array(ModelInfoSchema),
  audit_degraded: AuditDegradedSchema.nullable().optional(),
  /** The queen's declared worker specs (a hive's own snapshot has none). */
  specs: z.array(WorkerSpecSchema).optional(),
});
export type ClusterSnapshot = z.infer<typeof ClusterSnapshotSchema>;

export const DownloadProgressSchema = z.object({
  hive_id: z.string(),
  download_id: z.string(),
  source: z.string(),
  received_bytes: z.number(),
  total_bytes: z.number().nullable(),
  state: z.enum(['running', 'done', 'failed']),
  message: z.string().nullable(),
  /** A split GGUF downloads as one job: its shard files finished so far and in all (bytes above are summed). */
  files: z.object({ done: z.number().int(), total: z.number().int() }).optional(),
});
export type DownloadProgress = z.infer<typeof DownloadProgressSchema>;

export const ShutdownProgressSchema = z.object({
  hive_id: z.string(),
  phase: z.enum(['polite', 'sigterm', 'sigkill', 'done']),
  remaining_workers: z.number(),
});
export type ShutdownProgress = z.infer<typeof ShutdownProgressSchema>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * An audit record carried on the stream. Its fields are the audit log's business (and hashed there);
 * the stream only checks the envelope so a reducer can index it.
 */
const AuditRecordOnStreamSchema = z.custom<AuditRecord>(
  (v) => isObject(v) && typeof v.audit_id === 'string' && typeof v.timestamp === 'string' && typeof v.service_id === 'string' && isObject(v.event) && typeof v.event.event_type === 'string',
  'not an audit record',
);

const stamp = { seq: z.number(), at: z.number() };

/**
 * The one state stream: worker → hive (`/v1/events`) → queen (`/v1/control/events`) → renderer.
 * A stream always starts with a `snapshot`; every later event replaces whole objects, so a pure
 * reducer can apply it and a reconnecting client loses nothing. `seq` increases per stream; `at` is
 * epoch ms at the emitter. What arrives over the network is parsed with `ClusterEventSchema`.
 */
export const ClusterEventSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('snapshot'), snapshot: ClusterSnapshotSchema, ...stamp }),
  z.object({ type: z.literal('hive_updated'), hive: HiveInfoSchema, ...stamp }),
  z.object({ type: z.literal('hive_removed'), hive_id: z.string(), ...stamp }),
  z.object({ type: z.literal('worker_updated'), worker: WorkerInfoSchema, ...stamp }),
  z.object({ type: z.literal('worker_removed'), hive_id: z.string(), worker_id: z.string(), ...stamp }),
  z.object({ type: z.literal('spec_updated'), spec: WorkerSpecSchema, ...stamp }),
  z.object({ type: z.literal('spec_removed'), hive_id: z.string(), spec_id: z.string(), ...stamp }),
  z.object({ type: z.literal('models_updated'), hive_id: z.string(), models: z.array(ModelInfoSchema), ...stamp }),
  z.object({ type: z.literal('download_progress'), progress: DownloadProgressSchema, ...stamp }),
  z.object({ type: z.literal('shutdown_progress'), progress: ShutdownProgressSchema, ...stamp }),
  z.object({ type: z.literal('audit'), record: AuditRecordOnStreamSchema, ...stamp }),
  z.object({ type: z.literal('audit_health'), audit_degraded: AuditDegradedSchema.nullable(), ...stamp }),
]);
export type ClusterEvent = z.infer<typeof ClusterEventSchema>;

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** An event before the emitter stamps it. */
export type ClusterEventBody = DistributiveOmit<ClusterEvent, 'seq' | 'at'>;

/**
 * One SSE `data` payload, parsed at the trust boundary (a hive's stream at the queen, the queen's at
 * the dashboard): undefined when it is not JSON or not a ClusterEvent, never a cast.
 */
export function parseClusterEvent(data: string): ClusterEvent | undefined {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return undefined;
  }
  const parsed = ClusterEventSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
