import { z } from 'zod';

export const HiveKindSchema = z.enum(['local', 'remote']);
export type HiveKind = z.infer<typeof HiveKindSchema>;
export const HiveStateSchema = z.enum(['starting', 'online', 'unreachable', 'stopped', 'failed']);
export type HiveState = z.infer<typeof HiveStateSchema>;

export const DeviceInfoSchema = z.object({
  id: z.string(),
  type: z.enum(['cpu', 'cuda', 'vulkan', 'metal']),
  name: z.string(),
  /** Bytes; for CPU this is system RAM. */
  memory_total: z.number(),
  memory_free: z.number(),
});
export type DeviceInfo = z.infer<typeof DeviceInfoSchema>;

export const HiveInfoSchema = z.object({
  id: z.string(),
  kind: HiveKindSchema,
  state: HiveStateSchema,
  /** `127.0.0.1:7835` or `user@host:port` for remote hives. */
  address: z.string(),
  version: z.string().nullable(),
  os: z.string().nullable(),
  arch: z.string().nullable(),
  node_version: z.string().nullable(),
  devices: z.array(DeviceInfoSchema),
  /** Epoch ms of the last event or health answer. */
  last_seen: z.number().nullable(),
  /** Restarts of the hive daemon itself by its supervisor (the queen). */
  restart_count: z.number(),
  /** Human-readable reason while unreachable/failed. */
  message: z.string().nullable(),
});
export type HiveInfo = z.infer<typeof HiveInfoSchema>;

export const ModelInfoSchema = z.object({
  /** File name, the id used in requests (`model` field). */
  name: z.string(),
  hive: z.string(),
  size_bytes: z.number(),
  /** The file's modification time, epoch ms (OpenAI's `created` for the model). */
  modified_ms: z.number().optional(),
  architecture: z.string().nullable(),
  quantization: z.string().nullable(),
  context_length: z.number().nullable(),
  /** The generated first-run model (random weights): labelled as a demo in the UI. */
  is_demo: z.boolean(),
  /** A split GGUF: how many shard files make the model (`name` is the first; `size_bytes` sums them). Absent for one file. */
  parts: z.number().int().min(2).optional(),
});
export type ModelInfo = z.infer<typeof ModelInfoSchema>;
