import type { BreakerInfo } from '../../../src-shared/cluster/WorkerInfo.js';
import type { RandomSource } from '../../../src-shared/policy/backoffDelay.js';
import type { RestartPolicyConfig } from '../../../src-shared/policy/RestartPolicyConfig.js';
import { RestartTracker, type PolicyClock, type PolicyTransition, type RestartDecision } from '../../../src-shared/policy/RestartTracker.js';

/**
 * How to run one supervised child (a local hive daemon, a remote hive over SSH): the child spec of an
 * OTP supervisor or the `ExecStart=` of a systemd unit. `start` brings one instance up and resolves
 * once it is ready (listening, answering); a rejection is a failed start. When a running instance
 * dies later, its owner reports it with `ChildSupervisor.exited`.
 */
export interface ChildSpec {
  id: string;
  start(): Promise<void>;
}

/** starting → running; on failure backoff → starting …, or `failed` (start limit hit) / held by the breaker. */
export type ChildState = 'starting' | 'running' | 'backoff' | 'failed' | 'stopped';

export interface ChildStatus {
  state: ChildState;
  /** Starts after the first one (restarts and half-open trials). */
  restart_count: number;
  /** Consecutive attempts used (reset after the stability window). */
  attempts: number;
  breaker: BreakerInfo;
  /** Epoch ms of the next start while in backoff (the breaker's half-open instant when it holds it). */
  next_restart_at: number | null;
  /** Why it last failed. */
  last_failure: string | null;
}

export interface ChildSupervisorOptions {
  policy: RestartPolicyConfig;
  clock?: PolicyClock;
  random?: RandomSource;
  /** After every change of `status()`. */
  onChange?(status: ChildStatus): void;
  /** A failure and what the policy decided (logging, audit). */
  onFailure?(info: { reason: string; decision: RestartDecision }): void;
  /** Time-driven or operator policy transitions (breaker opened/half-open/closed, attempts reset). */
  onTransition?(transition: PolicyTransition): void;
}

/**
 * The one supervision core: the restart policy and circuit breaker (src-shared RestartTracker) applied
 * to any child, with the timers the tracker itself does not own. In OTP/systemd terms:
 *  - restart intensity / start limit: `max_restarts` consecutive restarts (systemd `StartLimitBurst`),
 *    then `failed` until an operator starts it again;
 *  - backoff: `min(base · 2^(n-1), max) ± jitter` between attempts (`RestartSec`, growing);
 *  - period: a child healthy for `stability_window_ms` gets its attempts back (`StartLimitIntervalSec`);
 *  - circuit breaker: `breaker_failures` within `breaker_window_ms` open it; after the cooldown it is
 *    half-open and allows one trial start, which closes it after the stability window.
 */
export class ChildSupervisor {
  private readonly tracker: RestartTracker;
  private readonly clock: PolicyClock;
  private state: ChildState = 'stopped';
  private restarts = 0;
  private launched = 0;
  private nextRestartAt: number | null = null;
  private lastFailure: string | null = null;
  private heldByBreaker = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private policyTimer: NodeJS.Timeout | undefined;
  /** Increases per start: the outcome of a superseded start is ignored. */
  private run = 0;

  constructor(
    private readonly spec: ChildSpec,
    private readonly options: ChildSupervisorOptions,
  ) {
    this.clock = options.clock ?? Date;
    this.tracker = new RestartTracker(options.policy, { clock: this.clock, random: options.random ?? Math.random });
  }

  get id(): string {
    return this.spec.id;
  }

  status(): ChildStatus {
    return {
      state: this.state,
      restart_count: this.restarts,
      attempts: this.tracker.attempts,
      breaker: this.tracker.breakerInfo(),
      next_restart_at: this.nextRestartAt,
      last_failure: this.lastFailure,
    };
  }

  /** First start (or an operator's start): a fresh run of attempts; refused while the breaker is open. */
  start(): { ok: true } | { ok: false; reason: string } {
    const allowed = this.tracker.canStart();
    if (!allowed.ok) return allowed;
    this.tracker.operatorStart();
    this.launch(false);
    return { ok: true };
  }

  /**
   * An instance is already running (started elsewhere, e.g. a remote hive found alive after a queen
   * restart): supervise it from here without starting one.
   */
  adopt(): void {
    this.run++;
    this.clearTimers();
    this.heldByBreaker = false;
    this.nextRestartAt = null;
    this.launched = Math.max(this.launched, 1);
    this.tracker.recordStarted();
    this.tracker.recordHealthy();
    this.state = 'running';
    this.armPolicyTimer();
    this.changed();
  }

  /** The running (or starting) instance died: a failure for the policy. */
  exited(reason: string): void {
    if (this.state !== 'running' && this.state !== 'starting') return;
    this.run++; // a start still in flight is void
    this.fail(reason);
  }

  /** Stopped on purpose: no restart follows. */
  stop(): void {
    this.run++;
    this.clearTimers();
    this.heldByBreaker = false;
    this.nextRestartAt = null;
    if (this.state !== 'stopped') this.tracker.recordStopped();
    this.state = 'stopped';
    this.changed();
  }

  /** Operator reset of the breaker; a child held only by it starts now. */
  resetBreaker(): void {
    for (const t of this.tracker.operatorResetBreaker()) this.options.onTransition?.(t);
    if (this.heldByBreaker) {
      this.heldByBreaker = false;
      this.tracker.operatorStart();
      this.launch(true);
      return;
    }
    this.armPolicyTimer();
    this.changed();
  }

  private launch(isRestart: boolean): void {
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.nextRestartAt = null;
    this.heldByBreaker = false;
    this.state = 'starting';
    if (isRestart || this.launched > 0) this.restarts += 1;
    this.launched += 1;
    this.tracker.recordStarted();
    const run = ++this.run;
    this.changed();
    this.spec.start().then(
      () => {
        if (run !== this.run) return;
        this.state = 'running';
        this.tracker.recordHealthy();
        this.armPolicyTimer();
        this.changed();
      },
      (error: unknown) => {
        if (run !== this.run) return;
        this.run++;
        this.fail(`start failed: ${error instanceof Error ? error.message : String(error)}`);
      },
    );
  }

  private fail(reason: string): void {
    this.lastFailure = reason;
    const { decision, transitions } = this.tracker.recordFailure();
    for (const t of transitions) this.options.onTransition?.(t);
    switch (decision.kind) {
      case 'restart':
        this.state = 'backoff';
        this.nextRestartAt = decision.restart_at;
        this.restartTimer = setTimeout(() => this.launch(true), decision.delay_ms);
        this.restartTimer.unref?.();
        break;
      case 'breaker_open':
        this.state = 'backoff';
        this.heldByBreaker = true;
        this.nextRestartAt = decision.until;
        break;
      case 'give_up':
        this.state = 'failed';
        this.nextRestartAt = null;
        break;
    }
    this.options.onFailure?.({ reason, decision });
    this.armPolicyTimer();
    this.changed();
  }

  /** One timer for the tracker's next time-driven transition: half-open (then the trial), or stability. */
  private armPolicyTimer(): void {
    clearTimeout(this.policyTimer);
    this.policyTimer = undefined;
    const deadline = this.tracker.nextDeadline();
    if (deadline === null || this.state === 'stopped') return;
    this.policyTimer = setTimeout(() => {
      this.policyTimer = undefined;
      const transitions = this.tracker.advance();
      for (const t of transitions) this.options.onTransition?.(t);
      if (transitions.some((t) => t.type === 'breaker_half_open') && this.heldByBreaker) {
        this.launch(true);
        return;
      }
      this.armPolicyTimer();
      if (transitions.length > 0) this.changed();
    }, Math.max(0, deadline - this.clock.now()));
    this.policyTimer.unref?.();
  }

  private clearTimers(): void {
    clearTimeout(this.restartTimer);
    clearTimeout(this.policyTimer);
    this.restartTimer = undefined;
    this.policyTimer = undefined;
  }

  private changed(): void {
    this.options.onChange?.(this.status());
  }
}
