import type { BreakerInfo, BreakerState } from '../cluster/WorkerInfo.js';
import { backoffDelayMs, type RandomSource } from './backoffDelay.js';
import type { RestartPolicyConfig } from './RestartPolicyConfig.js';

/** Where time comes from. Injected: the supervisor passes `Date`, tests a fake clock. */
export interface PolicyClock {
  now(): number;
}

/** What the supervisor must do after a failure. */
export type RestartDecision =
  /** Start again after `delay_ms` (attempt `attempt` of `max_restarts`). */
  | { kind: 'restart'; attempt: number; delay_ms: number; restart_at: number }
  /** `max_restarts` consecutive attempts are used up: the process stays down (`failed`) until an operator starts it. */
  | { kind: 'give_up'; attempts: number }
  /** The breaker is open: no start at all until `until`, then exactly one trial (half-open). */
  | { kind: 'breaker_open'; until: number };

/** State changes the policy made on its own; each becomes a ClusterEvent and an audit event. */
export type PolicyTransition =
  | { type: 'breaker_opened'; until: number; failures: number }
  | { type: 'breaker_half_open' }
  | { type: 'breaker_closed'; cause: 'stable' | 'operator' }
  | { type: 'attempts_reset' };

export interface RestartTrackerOptions {
  clock: PolicyClock;
  /** Uniform [0, 1) for jitter. */
  random: RandomSource;
}

/**
 * The restart policy and circuit breaker of one supervised process, as a pure state machine.
 * It owns no timers: the supervisor reports what happened (`recordStarted`, `recordHealthy`,
 * `recordFailure`, operator actions), arms one timer for `nextDeadline()`, and calls `advance()` when
 * it fires. Every method answers for the injected clock's `now()`.
 *
 *  - Consecutive attempts: each failure while the breaker is closed schedules attempt n+1 after
 *    `min(base · 2^(n-1), max) ± jitter`, until `max_restarts` attempts are used: then `give_up`.
 *    After `stability_window_ms` of continuous health the count returns to 0.
 *  - Breaker: `breaker_failures` failures inside a sliding `breaker_window_ms` open it (no starts);
 *    after `breaker_cooldown_ms` it is half-open and allows one trial start. The trial healthy for
 *    the stability window closes it; a failed trial opens it again. An operator reset closes it.
 */
export class RestartTracker {
  private readonly clock: PolicyClock;
  private readonly random: RandomSource;
  private config: RestartPolicyConfig;
  private attemptsUsed = 0;
  private gaveUp = false;
  private failures: number[] = [];
  private breaker: BreakerState = 'closed';
  private openUntil: number | null = null;
  private healthySince: number | null = null;
  private trialStarted = false;

  constructor(config: RestartPolicyConfig, options: RestartTrackerOptions) {
    this.config = { ...config };
    this.clock = options.clock;
    this.random = options.random;
  }

  get policy(): Readonly<RestartPolicyConfig> {
    return this.config;
  }

  /** Consecutive restart attempts used since the last stable period or operator start. */
  get attempts(): number {
    return this.attemptsUsed;
  }

  /** True after `give_up` until an operator starts the process again. */
  get failed(): boolean {
    return this.gaveUp;
  }

  get breakerState(): BreakerState {
    return this.breaker;
  }

  /** Replaces the numbers (a settings change); counters and breaker state are kept. */
  updatePolicy(config: RestartPolicyConfig): void {
    this.config = { ...config };
  }

  breakerInfo(): BreakerInfo {
    return { state: this.breaker, failures_in_window: this.failuresInWindow(), opens_until: this.breaker === 'open' ? this.openUntil : null };
  }

  /** Whether a start is allowed now, and if not, why (the supervisor answers 409 with this). */
  canStart(): { ok: true } | { ok: false; reason: string } {
    if (this.breaker === 'open') {
      return { ok: false, reason: `circuit breaker is open until ${new Date(this.openUntil ?? 0).toISOString()}; reset the breaker to start now` };
    }
    if (this.breaker === 'half_open' && this.trialStarted) {
      return { ok: false, reason: 'circuit breaker is half-open and its one trial start is running' };
    }
    return { ok: true };
  }

  /** A process was started. In half-open state this is the one trial. */
  recordStarted(): void {
    this.healthySince = null;
    if (this.breaker === 'half_open') this.trialStarted = true;
  }

  /** The process is ready / passed a health check. Starts the stability window if not running. */
  recordHealthy(): void {
    if (this.healthySince === null) this.healthySince = this.clock.now();
  }

  /** A health check failed (not yet a failure): the stability window restarts at the next healthy check. */
  recordUnhealthy(): void {
    this.healthySince = null;
  }

  /** The process stopped on request (not a failure): the stability window stops. */
  recordStopped(): void {
    this.healthySince = null;
    if (this.breaker === 'half_open') this.trialStarted = false;
  }

  /** An unexpected exit, a load timeout, or too many failed health checks. */
  recordFailure(): { decision: RestartDecision; transitions: PolicyTransition[] } {
    const now = this.clock.now();
    this.healthySince = null;
    this.failures.push(now);
    this.pruneFailures(now);

    if (this.breaker === 'half_open') {
      return { decision: this.open(now), transitions: [{ type: 'breaker_opened', until: this.openUntil ?? now, failures: this.failures.length }] };
    }
    if (this.breaker === 'open') {
      // A failure reported while open (e.g. an operator reset raced a crash): stay open.
      return { decision: { kind: 'breaker_open', until: this.openUntil ?? now }, transitions: [] };
    }
    if (this.failures.length >= this.config.breaker_failures) {
      const decision = this.open(now);
      return { decision, transitions: [{ type: 'breaker_opened', until: decision.until, failures: this.failures.length }] };
    }
    if (this.attemptsUsed >= this.config.max_restarts) {
      this.gaveUp = true;
      return { decision: { kind: 'give_up', attempts: this.attemptsUsed }, transitions: [] };
    }
    this.attemptsUsed += 1;
    const delay = backoffDelayMs(this.attemptsUsed, this.config, this.random);
    return { decision: { kind: 'restart', attempt: this.attemptsUsed, delay_ms: delay, restart_at: now + delay }, transitions: [] };
  }

  /**
   * Applies the transitions that time alone causes: cooldown over → half-open; healthy for the
   * stability window → attempts reset and a half-open breaker closed. Idempotent.
   */
  advance(): PolicyTransition[] {
    const now = this.clock.now();
    const transitions: PolicyTransition[] = [];
    if (this.breaker === 'open' && this.openUntil !== null && now >= this.openUntil) {
      this.breaker = 'half_open';
      this.openUntil = null;
      this.trialStarted = false;
      transitions.push({ type: 'breaker_half_open' });
    }
    if (this.healthySince !== null && now - this.healthySince >= this.config.stability_window_ms) {
      if (this.attemptsUsed > 0) {
        this.attemptsUsed = 0;
        transitions.push({ type: 'attempts_reset' });
      }
      if (this.breaker === 'half_open' && this.trialStarted) {
        this.close();
        transitions.push({ type: 'breaker_closed', cause: 'stable' });
      }
    }
    this.pruneFailures(now);
    return transitions;
  }

  /** The next instant at which `advance()` would change something; null when nothing is pending. */
  nextDeadline(): number | null {
    const candidates: number[] = [];
    if (this.breaker === 'open' && this.openUntil !== null) candidates.push(this.openUntil);
    if (this.healthySince !== null && (this.attemptsUsed > 0 || (this.breaker === 'half_open' && this.trialStarted))) {
      candidates.push(this.healthySince + this.config.stability_window_ms);
    }
    return candidates.length > 0 ? Math.min(...candidates) : null;
  }

  /** An operator started or restarted the process: a fresh run of attempts (the breaker is untouched). */
  operatorStart(): void {
    this.attemptsUsed = 0;
    this.gaveUp = false;
  }

  /** An operator reset the breaker: closed, failure window emptied. */
  operatorResetBreaker(): PolicyTransition[] {
    const wasClosed = this.breaker === 'closed';
    this.close();
    return wasClosed ? [] : [{ type: 'breaker_closed', cause: 'operator' }];
  }

  private open(now: number): { kind: 'breaker_open'; until: number } {
    this.breaker = 'open';
    this.openUntil = now + this.config.breaker_cooldown_ms;
    this.trialStarted = false;
    return { kind: 'breaker_open', until: this.openUntil };
  }

  private close(): void {
    this.breaker = 'closed';
    this.openUntil = null;
    this.trialStarted = false;
    this.failures = [];
  }

  private failuresInWindow(): number {
    const since = this.clock.now() - this.config.breaker_window_ms;
    return this.failures.filter((t) => t > since).length;
  }

  private pruneFailures(now: number): void {
    const since = now - this.config.breaker_window_ms;
    if (this.failures.length > 0 && this.failures[0]! <= since) this.failures = this.failures.filter((t) => t > since);
  }
}
