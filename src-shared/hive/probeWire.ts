import { z } from 'zod';
import { DeviceInfoSchema } from '../cluster/HiveInfo.js';
import { KvCacheTypeSchema } from '../worker/gpuOptions.js';

/**
 * The line protocol between a hive and its probe child (`rbee probe`, docs/hive.md "Probe child").
 * The hive writes one JSON request per line on the child's stdin; the child answers each on stdout,
 * one JSON line per request, and exits when stdin closes. stdout carries nothing else: the child sends
 * node-llama-cpp's log to stderr, so any other stdout line is a broken child, not noise to skip.
 */

/** What a model needs at a context size and sequence count (the inputs of node-llama-cpp's estimate). */
export const EstimateRequestSchema = z.object({
  modelPath: z.string().min(1),
  ctx: z.number().int().positive(),
  slots: z.number().int().positive(),
  batchSize: z.number().int().positive().optional(),
  flashAttention: z.boolean().optional(),
  kvCacheType: KvCacheTypeSchema.optional(),
});
export type EstimateRequest = z.infer<typeof EstimateRequestSchema>;

/** What a worker needs at one offload: bytes of RAM and of VRAM (model + context). */
export const MemoryNeedSchema = z.object({ ram: z.number().nonnegative(), vram: z.number().nonnegative() });
export type MemoryNeed = z.infer<typeof MemoryNeedSchema>;

/**
 * The memory a model needs at every layer count, from 0 (CPU only) to `totalLayers` (all on the GPU):
 * `byLayers[n]` is the need with n layers offloaded. Admission searches it for the largest n that fits.
 */
export const OffloadTableSchema = z.object({
  totalLayers: z.number().int().nonnegative(),
  byLayers: z.array(MemoryNeedSchema).min(1),
});
export type OffloadTable = z.infer<typeof OffloadTableSchema>;

export const ProbeRequestSchema = z.discriminatedUnion('kind', [
  /** The GPU backend node-llama-cpp picks here and the GPUs it reports. */
  z.object({ id: z.number().int(), kind: z.literal('devices') }),
  /** The offload table of one model. */
  z.object({ id: z.number().int(), kind: z.literal('estimate'), request: EstimateRequestSchema }),
]);
export type ProbeRequest = z.infer<typeof ProbeRequestSchema>;

export const GpuBackendSchema = z.union([z.enum(['cuda', 'vulkan', 'metal']), z.literal(false)]);
export type GpuBackend = z.infer<typeof GpuBackendSchema>;

export const ProbeReplySchema = z.discriminatedUnion('kind', [
  /** `gpus`: node-llama-cpp's view (one entry summing every device it sees); no CPU entry (the hive measures RAM itself). */
  z.object({ id: z.number().int(), kind: z.literal('devices'), backend: GpuBackendSchema, gpus: z.array(DeviceInfoSchema) }),
  z.object({ id: z.number().int(), kind: z.literal('estimate'), table: OffloadTableSchema }),
  /** The request failed inside a healthy child (e.g. a model file that does not parse). */
  z.object({ id: z.number().int(), kind: z.literal('error'), message: z.string() }),
]);
export type ProbeReply = z.infer<typeof ProbeReplySchema>;
