/** Reconnect delays for the event stream: `min(base · 2^attempt, max)` with ±`jitter` (0..1). */
export interface ReconnectBackoffOptions {
  /** Defaults to 500 ms. */
  baseMs?: number;
  /** Defaults to 10 000 ms. */
  maxMs?: number;
  /** Defaults to 0.2 (±20 %). */
  jitter?: number;
}

export function reconnectDelayMs(attempt: number, random: () => number = Math.random, options: ReconnectBackoffOptions = {}): number {
  const base = options.baseMs ?? 500;
  const max = options.maxMs ?? 10_000;
  const jitter = options.jitter ?? 0.2;
  const raw = Math.min(base * 2 ** Math.max(0, attempt), max);
  const factor = 1 + jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(raw * factor));
}
