import { backoffDelayMs } from '../../src-shared/policy/backoffDelay.js';

/**
 * Reconnect delays for the event stream: `min(base · 2^attempt, max)` with ±`jitter` (0..1), the one
 * backoff formula every tier uses (src-shared/policy/backoffDelay.ts; `attempt` here counts from 0).
 */
export interface ReconnectBackoffOptions {
  /** Defaults to 500 ms. */
  baseMs?: number;
  /** Defaults to 10 000 ms. */
  maxMs?: number;
  /** Defaults to 0.2 (±20 %). */
  jitter?: number;
}

export function reconnectDelayMs(attempt: number, random: () => number = Math.random, options: ReconnectBackoffOptions = {}): number {
  const policy = { backoff_base_ms: options.baseMs ?? 500, backoff_max_ms: options.maxMs ?? 10_000, jitter_ratio: options.jitter ?? 0.2 };
  return backoffDelayMs(Math.max(0, Math.floor(attempt)) + 1, policy, random);
}
