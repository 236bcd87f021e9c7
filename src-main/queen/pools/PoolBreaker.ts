import type { BreakerInfo } from '../../../src-shared/cluster/WorkerInfo.js';
import { DEFAULT_RESTART_POLICY } from '../../../src-shared/policy/RestartPolicyConfig.js';
import { RestartTracker, type PolicyClock, type PolicyTransition } from '../../../src-shared/policy/RestartTracker.js';
import type { PoolTuning } from '../../../src-shared/control/poolSchemas.js';

/** What `admit()` answers: go (maybe as the half-open trial), or a refusal with when to come back. */
export type BreakerAdmission = { ok: true; trial: boolean } | { ok: false; retryAfterMs: number; reason: string };

/**
 * The circuit breaker of one pool, on the shared restart-policy state machine (`RestartTracker`):
 * `breaker_failures` failures within `breaker_window_ms` open it; after `breaker_cooldown_ms` it is
 * half-open and lets exactly one trial through (a request or a health check, whichever comes
 * first); the trial's success closes it, its failure opens it again. An operator can reset it.
 *
 * A pool is not a process, so the tracker's restart counting is unused (`max_restarts` is set out
 * of reach) and its stability window is zero: one successful trial closes the breaker.
 */
export class PoolBreaker {
  private readonly tracker: RestartTracker;
  private trialRunning = false;

  constructor(
    tuning: Pick<PoolTuning, 'breaker_failures' | 'breaker_window_ms' | 'breaker_cooldown_ms'>,
    private readonly onTransition: (transition: PolicyTransition) => void,
    private readonly clock: PolicyClock = Date,
  ) {
    this.tracker = new RestartTracker(
      {
        ...DEFAULT_RESTART_POLICY,
        max_restarts: Number.MAX_SAFE_INTEGER,
        stability_window_ms: 0,
        breaker_failures: tuning.breaker_failures,
        breaker_window_ms: tuning.breaker_window_ms,
        breaker_cooldown_ms: tuning.breaker_cooldown_ms,
      },
      { clock, random: () => 0.5 },
    );
  }

  info(): BreakerInfo {
    this.advance();
    return this.tracker.breakerInfo();
  }

  /** May a call go to the pool now? In half-open state only the first caller gets through (the trial). */
  admit(): BreakerAdmission {
    this.advance();
    const state = this.tracker.breakerState;
    if (state === 'closed') return { ok: true, trial: false };
    if (state === 'half_open' && !this.trialRunning) {
      this.trialRunning = true;
      this.tracker.recordStarted();
      return { ok: true, trial: true };
    }
    const info = this.tracker.breakerInfo();
    const retryAfterMs = state === 'open' && info.opens_until !== null ? Math.max(0, info.opens_until - this.clock.now()) : 1_000;
    return { ok: false, retryAfterMs, reason: state === 'open' ? 'its circuit breaker is open' : 'its circuit breaker is half-open and a trial call is running' };
  }

  /** The engine answered properly. A half-open trial that succeeds closes the breaker. */
  recordSuccess(): void {
    this.trialRunning = false;
    this.tracker.recordHealthy();
    this.advance();
  }

  /** Refused, timed out, a 5xx, or an answer that is not what the API promises. */
  recordFailure(): void {
    this.trialRunning = false;
    const { transitions } = this.tracker.recordFailure();
    this.tracker.operatorStart(); // restart attempts mean nothing for a pool
    for (const t of transitions) this.onTransition(t);
  }

  /** A trial that ended without a verdict (the client left, its own deadline passed): let the next one try. */
  releaseTrial(): void {
    if (!this.trialRunning) return;
    this.trialRunning = false;
    this.tracker.recordStopped();
  }

  reset(): void {
    this.trialRunning = false;
    for (const t of this.tracker.operatorResetBreaker()) this.onTransition(t);
  }

  private advance(): void {
    for (const t of this.tracker.advance()) if (t.type !== 'attempts_reset') this.onTransition(t);
  }
}
