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

export type Device = 'auto' | 'cpu' | 'gpu';

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
}
