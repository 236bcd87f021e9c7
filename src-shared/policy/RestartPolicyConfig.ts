import { z } from 'zod';

/** Defaults (DESIGN §3): 1, 2, 4 … 60 s ± 20 %, 3 attempts, 5 failures in 300 s open the breaker. */
export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicyConfig> = Object.freeze({
  backoff_base_ms: 1_000,
  backoff_max_ms: 60_000,
  jitter_ratio: 0.2,
  max_restarts: 3,
  stability_window_ms: 300_000,
  breaker_failures: 5,
  breaker_window_ms: 300_000,
  breaker_cooldown_ms: 60_000,
  load_timeout_ms: 120_000,
  health_period_ms: 2_000,
  health_failures: 3,
});

const DAY_MS = 86_400_000;

const ms = (name: string, min: number) =>
  z
    .number({ error: `${name} must be a number of milliseconds` })
    .int({ error: `${name} must be a whole number of milliseconds` })
    .min(min, { error: `${name} must be at least ${min} ms` })
    .max(DAY_MS, { error: `${name} must be at most ${DAY_MS} ms (one day)` });

const count = (name: string, min: number, max: number) =>
  z
    .number({ error: `${name} must be a number` })
    .int({ error: `${name} must be a whole number` })
    .min(min, { error: `${name} must be at least ${min}` })
    .max(max, { error: `${name} must be at most ${max}` });

/**
 * The one restart-policy schema: the hive's policy, the queen's settings patch, the IPC handlers and
 * the desktop settings file all parse with it (or its `.partial()`).
 *
 * `jitter_ratio` stops at 0.9, not 1: the delay is `nominal × (1 ± jitter)`, and a jitter of 1 lets a
 * draw reach 0 ms, an immediate restart loop, which is what backoff exists to prevent.
 */
export const RestartPolicySchema = z
  .object({
    backoff_base_ms: ms('backoff_base_ms', 1),
    backoff_max_ms: ms('backoff_max_ms', 1),
    jitter_ratio: z
      .number({ error: 'jitter_ratio must be a number' })
      .min(0, { error: 'jitter_ratio must be between 0 and 0.9' })
      .max(0.9, { error: 'jitter_ratio must be between 0 and 0.9' }),
    max_restarts: count('max_restarts', 0, 1_000),
    stability_window_ms: ms('stability_window_ms', 1),
    breaker_failures: count('breaker_failures', 1, 1_000),
    breaker_window_ms: ms('breaker_window_ms', 1),
    breaker_cooldown_ms: ms('breaker_cooldown_ms', 1),
    load_timeout_ms: ms('load_timeout_ms', 100),
    health_period_ms: ms('health_period_ms', 50),
    health_failures: count('health_failures', 1, 100),
  })
  .strict();

/**
 * The restart policy of one supervised process (a worker under its hive, a hive under the queen).
 * The control API's `RestartPolicySettings` is this type, so a settings patch, a hive's defaults and a
 * per-worker override are the same object. See docs/restart-policy.md.
 */
export type RestartPolicyConfig = z.infer<typeof RestartPolicySchema>;

/** Every field optional: a partial override merged over a base policy. Unknown fields are rejected. */
export const RestartPolicyPatchSchema = RestartPolicySchema.partial();

export type RestartPolicyPatch = z.infer<typeof RestartPolicyPatchSchema>;

export class InvalidRestartPolicyError extends Error {
  override readonly name = 'InvalidRestartPolicyError';
  constructor(readonly problems: string[]) {
    super(`invalid restart policy: ${problems.join('; ')}`);
  }
}

/**
 * Merges `patch` over `base` and checks the result, field by field and across fields.
 * Throws `InvalidRestartPolicyError` naming every problem.
 */
export function resolveRestartPolicy(patch: unknown = {}, base: RestartPolicyConfig = DEFAULT_RESTART_POLICY): RestartPolicyConfig {
  const parsed = RestartPolicyPatchSchema.safeParse(patch ?? {});
  if (!parsed.success) {
    throw new InvalidRestartPolicyError(
      parsed.error.issues.map((issue) => issue.message),
    );
  }
  const merged: RestartPolicyConfig = { ...base };
  for (const [key, value] of Object.entries(parsed.data) as Array<[keyof RestartPolicyConfig, number | undefined]>) {
    if (value !== undefined) merged[key] = value;
  }
  const problems: string[] = [];
  if (merged.backoff_max_ms < merged.backoff_base_ms) {
    problems.push(`backoff_max_ms (${merged.backoff_max_ms}) must not be below backoff_base_ms (${merged.backoff_base_ms})`);
  }
  if (problems.length > 0) throw new InvalidRestartPolicyError(problems);
  return merged;
}
