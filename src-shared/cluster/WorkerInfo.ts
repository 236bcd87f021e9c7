import { z } from 'zod';
import { DeviceSchema } from '../worker/gpuOptions.js';

/** Worker lifecycle (DESIGN §3): loading → ready(idle|busy) → stopping → stopped, plus failure states. */
export const WorkerStateSchema = z.enum(['loading', 'idle', 'busy', 'stopping', 'stopped', 'crashed', 'backoff', 'failed', 'unhealthy']);
export type WorkerState = z.infer<typeof WorkerStateSchema>;

export const READY_STATES: readonly WorkerState[] = ['idle', 'busy'];

/** `auto` | `cpu` | `gpu` (any GPU) | `gpu0`, `gpu1` … (one GPU, HardwareProbe's device id). Parsed by gpuOptions' DeviceSchema. */
export type Device = 'auto' | 'cpu' | 'gpu' | `gpu${number}`;

/** Layers offloaded to the GPU: `auto` (what fits), `max` (all) or a count (0 = CPU only). */
export type GpuLayers = 'auto' | 'max' | number;

export type KvCacheType = 'f32' | 'f16' | 'q8_0' | 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1';

export const OffloadInfoSchema = z.object({
  /** Layers on the GPU. */
  layers: z.number(),
  /** Layers the model has (node-llama-cpp counts the output layer as one). */
  total: z.number(),
});
export type OffloadInfo = z.infer<typeof OffloadInfoSchema>;

export const BreakerStateSchema = z.enum(['closed', 'open', 'half_open']);
export type BreakerState = z.infer<typeof BreakerStateSchema>;

export const BreakerInfoSchema = z.object({
  state: BreakerStateSchema,
  /** Failures counted inside the current window. */
  failures_in_window: z.number(),
  /** Epoch ms when an open breaker turns half-open; null unless open. */
  opens_until: z.number().nullable(),
});
export type BreakerInfo = z.infer<typeof BreakerInfoSchema>;

export const LastExitSchema = z.object({
  code: z.number().nullable(),
  signal: z.string().nullable(),
  /** Last lines the worker wrote to stderr (capped). */
  stderr_tail: z.string(),
  /** Epoch ms. */
  at: z.number(),
  /** Why the hive counted it as a failure: exit, load_timeout, health_check, or operator stop. */
  reason: z.enum(['exit', 'load_timeout', 'health_check', 'operator']),
});
export type LastExit = z.infer<typeof LastExitSchema>;

/** Why a worker is `stopped`: an operator (or API) stop, its idle TTL, or the hive shutting down. */
export const StopCauseSchema = z.enum(['operator', 'idle_ttl', 'shutdown']);
export type StopCause = z.infer<typeof StopCauseSchema>;

export const HotSpareInfoSchema = z.object({
  pid: z.number().nullable(),
  state: z.enum(['loading', 'ready']),
  /** Resident set size in bytes as last sampled (Linux /proc); null where unknown. */
  rss_bytes: z.number().nullable(),
});
export type HotSpareInfo = z.infer<typeof HotSpareInfoSchema>;

export const WorkerInfoSchema = z.object({
  id: z.string(),
  hive: z.string(),
  model: z.string(),
  device: DeviceSchema,
  state: WorkerStateSchema,
  pid: z.number().nullable(),
  port: z.number().nullable(),
  slots: z.object({ total: z.number(), free: z.number() }),
  restart_count: z.number(),
  /**
   * Consecutive restart attempts used (of the policy's `max_restarts`): back to 0 once the worker has
   * run for the stability window, so only a crash loop, not a crash now and then, exhausts them.
   */
  restart_attempts: z.number(),
  last_exit: LastExitSchema.nullable(),
  breaker: BreakerInfoSchema,
  /** Epoch ms of the scheduled restart while in backoff; else null. */
  next_restart_at: z.number().nullable(),
  started_at: z.number().nullable(),
  last_heartbeat: z.number().nullable(),
  /** 0..1 while loading. */
  load_progress: z.number(),
  /**
   * The last start ended before the model was loaded (exit, load timeout); cleared by a successful
   * load. The queen answers 503 MODEL_UNAVAILABLE for such a worker instead of waiting on it.
   */
  load_failed: z.boolean(),
  /** Why it is stopped (null unless `stopped`): an idle-TTL stop is started again on demand. */
  stopped_by: StopCauseSchema.nullable(),
  /** The GPU this worker runs on (`gpu0` …); null on the CPU or before the hive chose one. */
  gpu: z.string().nullable(),
  /** Offload of the current process: planned by admission, then what the worker reported at ready. */
  offload: OffloadInfoSchema.nullable(),
  /** VRAM this worker needs by the admission estimate (model + context); null when unknown or CPU. */
  vram_bytes: z.number().nullable(),
  /** VRAM the worker measured (backend's used VRAM after load minus before); null where not reported. */
  vram_measured_bytes: z.number().nullable(),
  /**
   * The hot spare of a spec with `hot_spare` (a second process with the model loaded, which takes
   * over after a crash): its pid, whether it has loaded, and its resident memory (the cost of it);
   * null/absent when the worker has none.
   */
  hot_spare: HotSpareInfoSchema.nullable().optional(),
});
export type WorkerInfo = z.infer<typeof WorkerInfoSchema>;
