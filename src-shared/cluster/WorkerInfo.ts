/** Worker lifecycle (DESIGN §3): loading → ready(idle|busy) → stopping → stopped, plus failure states. */
export type WorkerState =
  | 'loading'
  | 'idle'
  | 'busy'
  | 'stopping'
  | 'stopped'
  | 'crashed'
  | 'backoff'
  | 'failed'
  | 'unhealthy';

export const READY_STATES: readonly WorkerState[] = ['idle', 'busy'];

/** `auto` | `cpu` | `gpu` (any GPU) | `gpu0`, `gpu1` … (one GPU, HardwareProbe's device id). */
export type Device = 'auto' | 'cpu' | 'gpu' | `gpu${number}`;

/** Layers offloaded to the GPU: `auto` (what fits), `max` (all) or a count (0 = CPU only). */
export type GpuLayers = 'auto' | 'max' | number;

export type KvCacheType = 'f32' | 'f16' | 'q8_0' | 'q4_0' | 'q4_1' | 'q5_0' | 'q5_1';

export interface OffloadInfo {
  /** Layers on the GPU. */
  layers: number;
  /** Layers the model has (node-llama-cpp counts the output layer as one). */
  total: number;
}

export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerInfo {
  state: BreakerState;
  /** Failures counted inside the current window. */
  failures_in_window: number;
  /** Epoch ms when an open breaker turns half-open; null unless open. */
  opens_until: number | null;
}

export interface LastExit {
  code: number | null;
  signal: string | null;
  /** Last lines the worker wrote to stderr (capped). */
  stderr_tail: string;
  /** Epoch ms. */
  at: number;
  /** Why the hive counted it as a failure: exit, load_timeout, health_check, or operator stop. */
  reason: 'exit' | 'load_timeout' | 'health_check' | 'operator';
}

/** Why a worker is `stopped`: an operator (or API) stop, its idle TTL, or the hive shutting down. */
export type StopCause = 'operator' | 'idle_ttl' | 'shutdown';

export interface WorkerInfo {
  id: string;
  hive: string;
  model: string;
  device: Device;
  state: WorkerState;
  pid: number | null;
  port: number | null;
  slots: { total: number; free: number };
  restart_count: number;
  last_exit: LastExit | null;
  breaker: BreakerInfo;
  /** Epoch ms of the scheduled restart while in backoff; else null. */
  next_restart_at: number | null;
  started_at: number | null;
  last_heartbeat: number | null;
  /** 0..1 while loading. */
  load_progress: number;
  /**
   * The last start ended before the model was loaded (exit, load timeout); cleared by a successful
   * load. The queen answers 503 MODEL_UNAVAILABLE for such a worker instead of waiting on it.
   */
  load_failed: boolean;
  /** Why it is stopped (null unless `stopped`): an idle-TTL stop is started again on demand. */
  stopped_by: StopCause | null;
  /** The GPU this worker runs on (`gpu0` …); null on the CPU or before the hive chose one. */
  gpu: string | null;
  /** Offload of the current process: planned by admission, then what the worker reported at ready. */
  offload: OffloadInfo | null;
  /** VRAM this worker needs by the admission estimate (model + context); null when unknown or CPU. */
  vram_bytes: number | null;
  /** VRAM the worker measured (backend's used VRAM after load minus before); null where not reported. */
  vram_measured_bytes: number | null;
}
