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
}
