import type { RestartPolicyConfig } from './RestartPolicyConfig.js';

/** A source of uniform numbers in [0, 1). Injected so tests can pin the jitter. */
export type RandomSource = () => number;

/** The un-jittered delay before restart attempt `attempt` (1-based): `min(base · 2^(attempt-1), max)`. */
export function nominalBackoffMs(attempt: number, policy: Pick<RestartPolicyConfig, 'backoff_base_ms' | 'backoff_max_ms'>): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be a positive integer, got ${attempt}`);
  // 2^(attempt-1) overflows to Infinity for large attempts; min() keeps the result finite.
  return Math.min(policy.backoff_base_ms * 2 ** (attempt - 1), policy.backoff_max_ms);
}

/**
 * The applied delay: the nominal delay scaled by a uniform factor in `[1 - jitter, 1 + jitter]`, so
 * workers that crashed together do not restart in lock-step. Whole milliseconds, never negative.
 */
export function backoffDelayMs(
  attempt: number,
  policy: Pick<RestartPolicyConfig, 'backoff_base_ms' | 'backoff_max_ms' | 'jitter_ratio'>,
  random: RandomSource,
): number {
  const nominal = nominalBackoffMs(attempt, policy);
  const r = Math.min(Math.max(random(), 0), 1);
  const factor = 1 + policy.jitter_ratio * (2 * r - 1);
  return Math.max(0, Math.round(nominal * factor));
}

/** Inclusive bounds of `backoffDelayMs` for `attempt` (what tests and operators can expect). */
export function backoffBoundsMs(
  attempt: number,
  policy: Pick<RestartPolicyConfig, 'backoff_base_ms' | 'backoff_max_ms' | 'jitter_ratio'>,
): { min: number; max: number } {
  const nominal = nominalBackoffMs(attempt, policy);
  return { min: Math.round(nominal * (1 - policy.jitter_ratio)), max: Math.round(nominal * (1 + policy.jitter_ratio)) };
}
