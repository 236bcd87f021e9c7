import type { BreakerInfo } from '../../../src-shared/cluster/WorkerInfo.js';
import type { RandomSource } from '../../../src-shared/policy/backoffDelay.js';
import type { RestartPolicyConfig } from '../../../src-shared/policy/RestartPolicyConfig.js';
import { RestartTracker, type PolicyClock, type PolicyTransition, type RestartDecision } from '../../../src-shared/policy/RestartTracker.js';

/**
 * Why an instance is started: the first start, a restart after backoff, the breaker's half-open
 * trial, or an operator's start (which also grants a fresh run of attempts).
 */
export type StartKind = 'initial' | 'restart' | 'trial' | 'operator';

/** Why the supervisor itself ends an instance (it then waits for the owner to report the end). */
export type KillCause = 'start_timeout' | 'unhealthy';

/**
 * A liveness probe while the child runs (systemd's `WatchdogSec=`, a Kubernetes liveness probe).
 * Timing: a check may take 0.6 of a period; after a miss the next check follows 0.1 period later.
 * With `failures()` = 3 a hung child is declared within 1 + 3 × 0.6 + 2 × 0.1 = 3 periods of
 * hanging, whatever the phase.
 */
export interface ChildProbe {
  /** Interval between checks while healthy, in ms. */
  periodMs(): number;
  /** Consecutive failed checks that declare the child hung (it is then killed: a failure). */
  failures(): number;
  /** One check; true = healthy. It must settle within `timeoutMs`. */
  check(timeoutMs: number): Promise<boolean>;
}

/**
 * How to run one supervised child (a worker process, a local hive daemon, a remote hive over SSH):
 * the child spec of an OTP supervisor or the `ExecStart=` of a systemd unit.
 *
 * `start` brings one instance up and resolves once it is ready (listening, model loaded); a
 * rejection is a failed start (the last start's `start_failed` then stays set until an operator
 * starts it again or an instance becomes ready). It is called synchronously and should have created
 * the instance (spawned the process) by the time it returns, so the change reported right after
 * already shows it. When a ready instance dies later, its owner reports it with `exited`.
 */
export interface ChildSpec {
  id: string;
  start(kind: StartKind): Promise<void>;
  /** Readiness deadline in ms from each start (systemd `TimeoutStartSec=`); absent = none. */
  startTimeoutMs?(): number;
  /** Liveness probe while running; absent = none. */
  probe?: ChildProbe;
  /**
   * Ends the current instance for a failure the supervisor detected (start timeout, failed probes).
   * The owner still reports the end (the start rejects, or `exited`), which is then the failure.
   * Required with `startTimeoutMs` or `probe`.
   */
  kill?(cause: KillCause): void;
}

/**
 * starting → running; an instance that ends unexpectedly is `crashed` while the policy decides, then
 * `backoff` → starting …, or `failed` (start limit hit), or `backoff` held by the open breaker.
 */
export type ChildState = 'starting' | 'running' | 'crashed' | 'backoff' | 'failed' | 'stopped';

export interface ChildStatus {
  state: ChildState;
  /** Starts the policy made: restarts after backoff and half-open trials (not operator starts). */
  restart_count: number;
  /** Consecutive attempts used (reset after the stability window). */
  attempts: number;
  breaker: BreakerInfo;
  /** Epoch ms of the next start while in backoff (the breaker's half-open instant when it holds it). */
  next_restart_at: number | null;
  /** Why it last failed. */
  last_failure: string | null;
  /**
   * The last start ended before the child was ready (e.g. a worker's model failed to load). It still
   * counts toward the policy like any failure; callers use it to answer at once instead of waiting.
   */
  start_failed: boolean;
  /** Consecutive failed probe checks of the running instance (0 = healthy or no probe). */
  probe_failures: number;
}

/** What happened, in the same words at every tier (worker, local hive, remote hive). */
export type ChildEvent =
  | { type: 'started'; kind: StartKind }
  | { type: 'ready' }
  | { type: 'start_timeout'; timeout_ms: number }
  | { type: 'probe_failed'; failures: number }
  /** `failures` consecutive probe checks failed: the instance is being killed. */
  | { type: 'hung'; failures: number }
  /** An instance ended unexpectedly (or a start failed); the policy decides next. */
  | { type: 'crashed'; reason: string; during_start: boolean }
  | { type: 'restart_scheduled'; attempt: number; max_restarts: number; delay_ms: number; restart_at: number }
  /** The start limit is hit: `failed` until an operator starts it. */
  | { type: 'gave_up'; attempts: number }
  /** No start until the breaker's cooldown is over. */
  | { type: 'held_by_breaker'; until: number };

export interface ChildSupervisorOptions {
  policy: RestartPolicyConfig;
  clock?: PolicyClock;
  random?: RandomSource;
  /** After every change of `status()`. */
  onChange?(status: ChildStatus): void;
  /** Every lifecycle event (audit, metrics, logging). */
  onEvent?(event: ChildEvent): void;
  /** A failure and what the policy decided (logging, audit). */
  onFailure?(info: { reason: string; decision: RestartDecision }): void;
  /** Policy transitions (breaker opened/half-open/closed, attempts reset), time-driven or operator. */
  onTransition?(transition: PolicyTransition): void;
}

/** Share of a probe period one check may take, and the delay of the confirming check after a miss. */
const PROBE_TIMEOUT_RATIO = 0.6;
const PROBE_RETRY_RATIO = 0.1;

/** One start of an instance; a superseded launch's outcomes are ignored (compared by identity). */
interface Launch {
  readonly kind: StartKind;
  killing: boolean;
}

/**
 * The one supervision core: the restart policy and circuit breaker (src-shared RestartTracker) applied
 * to any child, with the timers the tracker itself does not own. In OTP/systemd terms:
 *  - restart intensity / start limit: `max_restarts` consecutive restarts (systemd `StartLimitBurst`),
 *    then `failed` until an operator starts it again;
 *  - backoff: `min(base · 2^(n-1), max) ± jitter` between attempts (`RestartSec`, growing);
 *  - period: a child healthy for `stability_window_ms` gets its attempts back (`StartLimitIntervalSec`);
 *  - circuit breaker: `breaker_failures` within `breaker_window_ms` open it; after the cooldown it is
 *    half-open and allows one trial start, which closes it after the stability window;
 *  - start timeout (`TimeoutStartSec`) and a liveness probe (`WatchdogSec`): both end the instance
 *    through the spec's `kill` and count as failures.
 */
export class ChildSupervisor {
  private readonly tracker: RestartTracker;
  private readonly clock: PolicyClock;
  private state: ChildState = 'stopped';
  private restarts = 0;
  private launched = 0;
  private nextRestartAt: number | null = null;
  private lastFailure: string | null = null;
  private startFailed = false;
  private probeFailures = 0;
  private heldByBreaker = false;
  private disposed = false;
  /** The instance being started or running; null while none is. */
  private current: Launch | null = null;
  private restartTimer: NodeJS.Timeout | undefined;
  private policyTimer: NodeJS.Timeout | undefined;
  private startTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;

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

  get policy(): Readonly<RestartPolicyConfig> {
    return this.tracker.policy;
  }

  status(): ChildStatus {
    return {
      state: this.state,
      restart_count: this.restarts,
      attempts: this.tracker.attempts,
      breaker: this.tracker.breakerInfo(),
      next_restart_at: this.nextRestartAt,
      last_failure: this.lastFailure,
      start_failed: this.startFailed,
      probe_failures: this.probeFailures,
    };
  }

  /** Whether the breaker allows a start now (closed, or half-open with its trial unused), and if not, why. */
  canStart(): { ok: true } | { ok: false; reason: string } {
    return this.tracker.canStart();
  }

  /**
   * First start, or an operator's start: a fresh run of attempts; refused while an instance is
   * starting or running, and while the breaker is open (or its half-open trial runs).
   */
  start(): { ok: true } | { ok: false; reason: string } {
    if (this.state === 'starting' || this.state === 'running') return { ok: false, reason: `already ${this.state}` };
    const allowed = this.canStart();
    if (!allowed.ok) return allowed;
    this.tracker.operatorStart();
    this.launch(this.launched === 0 ? 'initial' : 'operator');
    return { ok: true };
  }

  /**
   * An instance is already running (started elsewhere, e.g. a remote hive found alive after a queen
   * restart): supervise it from here without starting one.
   */
  adopt(): void {
    this.clearLaunchTimers();
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.heldByBreaker = false;
    this.nextRestartAt = null;
    this.launched = Math.max(this.launched, 1);
    this.current = { kind: 'initial', killing: false };
    this.tracker.recordStarted();
    this.becameReady(this.current);
  }

  /** The running (or starting) instance died: a failure for the policy. */
  exited(reason: string): void {
    if (this.state !== 'running' && this.state !== 'starting') return;
    this.fail(reason);
  }

  /**
   * Stopped on purpose: no restart follows. Policy time keeps running (a stopped child's breaker
   * still turns half-open after its cooldown, so an operator can start it then).
   */
  stop(): void {
    this.current = null;
    this.clearLaunchTimers();
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.heldByBreaker = false;
    this.nextRestartAt = null;
    this.probeFailures = 0;
    if (this.state !== 'stopped') this.tracker.recordStopped();
    this.state = 'stopped';
    this.armPolicyTimer();
    this.changed();
  }

  /** Operator reset of the breaker; a child held only by it starts now (an operator start). */
  resetBreaker(): void {
    for (const t of this.tracker.operatorResetBreaker()) this.options.onTransition?.(t);
    if (this.heldByBreaker) {
      this.heldByBreaker = false;
      this.tracker.operatorStart();
      this.launch('operator');
      return;
    }
    this.armPolicyTimer();
    this.changed();
  }

  /** Replaces the policy numbers (a settings change); counters and breaker state are kept. */
  updatePolicy(policy: RestartPolicyConfig): void {
    this.tracker.updatePolicy(policy);
    this.armPolicyTimer();
    this.changed();
  }

  /** Cancels every timer; nothing starts or reports afterwards. Idempotent. */
  dispose(): void {
    this.disposed = true;
    this.current = null;
    this.clearLaunchTimers();
    clearTimeout(this.restartTimer);
    clearTimeout(this.policyTimer);
    this.restartTimer = undefined;
    this.policyTimer = undefined;
  }

  private launch(kind: StartKind): void {
    if (this.disposed) return;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.clearLaunchTimers();
    this.nextRestartAt = null;
    this.heldByBreaker = false;
    this.probeFailures = 0;
    // An operator's start is a fresh judgement: callers wait for it instead of being turned away.
    if (kind === 'operator') this.startFailed = false;
    if (kind === 'restart' || kind === 'trial') this.restarts += 1;
    this.launched += 1;
    this.state = 'starting';
    this.tracker.recordStarted();
    const launch: Launch = { kind, killing: false };
    this.current = launch;
    let started: Promise<void>;
    try {
      started = this.spec.start(kind);
    } catch (error) {
      started = Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    this.options.onEvent?.({ type: 'started', kind });
    const timeoutMs = this.spec.startTimeoutMs?.();
    if (timeoutMs !== undefined && this.current === launch) {
      this.startTimer = setTimeout(() => {
        this.startTimer = undefined;
        if (this.current !== launch || this.state !== 'starting') return;
        launch.killing = true;
        this.options.onEvent?.({ type: 'start_timeout', timeout_ms: timeoutMs });
        this.spec.kill?.('start_timeout');
      }, timeoutMs);
      this.startTimer.unref?.();
    }
    if (this.current === launch) this.changed();
    started.then(
      () => {
        if (this.current === launch && this.state === 'starting') this.becameReady(launch);
      },
      (error: unknown) => {
        if (this.current !== launch || this.state !== 'starting') return;
        this.fail(error instanceof Error ? error.message : String(error));
      },
    );
  }

  private becameReady(launch: Launch): void {
    clearTimeout(this.startTimer);
    this.startTimer = undefined;
    this.state = 'running';
    this.startFailed = false;
    this.probeFailures = 0;
    this.tracker.recordHealthy();
    this.armPolicyTimer();
    this.options.onEvent?.({ type: 'ready' });
    if (this.spec.probe) this.scheduleProbe(launch, this.spec.probe.periodMs());
    this.changed();
  }

  private fail(reason: string): void {
    const duringStart = this.state === 'starting';
    this.current = null;
    this.clearLaunchTimers();
    this.lastFailure = reason;
    if (duringStart) this.startFailed = true;
    this.probeFailures = 0;
    this.state = 'crashed';
    this.options.onEvent?.({ type: 'crashed', reason, during_start: duringStart });
    this.changed();
    if (this.disposed) return;

    const { decision, transitions } = this.tracker.recordFailure();
    for (const t of transitions) this.options.onTransition?.(t);
    switch (decision.kind) {
      case 'restart':
        this.state = 'backoff';
        this.nextRestartAt = decision.restart_at;
        this.options.onEvent?.({
          type: 'restart_scheduled',
          attempt: decision.attempt,
          max_restarts: this.tracker.policy.max_restarts,
          delay_ms: decision.delay_ms,
          restart_at: decision.restart_at,
        });
        this.restartTimer = setTimeout(() => this.launch('restart'), decision.delay_ms);
        this.restartTimer.unref?.();
        break;
      case 'breaker_open':
        this.state = 'backoff';
        this.heldByBreaker = true;
        this.nextRestartAt = decision.until;
        this.options.onEvent?.({ type: 'held_by_breaker', until: decision.until });
        break;
      case 'give_up':
        this.state = 'failed';
        this.nextRestartAt = null;
        this.options.onEvent?.({ type: 'gave_up', attempts: decision.attempts });
        break;
    }
    this.options.onFailure?.({ reason, decision });
    this.armPolicyTimer();
    this.changed();
  }

  private scheduleProbe(launch: Launch, delayMs: number): void {
    clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      void this.runProbe(launch);
    }, Math.max(0, delayMs));
    this.probeTimer.unref?.();
  }

  private async runProbe(launch: Launch): Promise<void> {
    const probe = this.spec.probe;
    if (!probe) return;
    const live = (): boolean => this.current === launch && this.state === 'running' && !launch.killing;
    if (!live()) return;
    const period = probe.periodMs();
    const startedAt = this.clock.now();
    let ok: boolean;
    try {
      ok = await probe.check(Math.max(25, Math.floor(period * PROBE_TIMEOUT_RATIO)));
    } catch {
      ok = false;
    }
    if (!live()) return;
    if (ok) {
      const recovered = this.probeFailures > 0;
      this.probeFailures = 0;
      this.tracker.recordHealthy();
      if (recovered) {
        this.armPolicyTimer();
        this.changed();
      }
      this.scheduleProbe(launch, startedAt + period - this.clock.now());
      return;
    }
    this.probeFailures += 1;
    this.tracker.recordUnhealthy();
    this.options.onEvent?.({ type: 'probe_failed', failures: this.probeFailures });
    if (this.probeFailures >= probe.failures()) {
      launch.killing = true;
      this.options.onEvent?.({ type: 'hung', failures: this.probeFailures });
      this.spec.kill?.('unhealthy');
      return;
    }
    if (this.probeFailures === 1) this.changed();
    // Confirm quickly: a hang is declared within `failures()` periods of the first miss.
    this.scheduleProbe(launch, Math.floor(period * PROBE_RETRY_RATIO));
  }

  /** One timer for the tracker's next time-driven transition: half-open (then the trial), or stability. */
  private armPolicyTimer(): void {
    clearTimeout(this.policyTimer);
    this.policyTimer = undefined;
    const deadline = this.tracker.nextDeadline();
    if (deadline === null || this.disposed) return;
    this.policyTimer = setTimeout(() => {
      this.policyTimer = undefined;
      const transitions = this.tracker.advance();
      for (const t of transitions) this.options.onTransition?.(t);
      if (transitions.some((t) => t.type === 'breaker_half_open') && this.heldByBreaker) {
        this.launch('trial');
        return;
      }
      this.armPolicyTimer();
      if (transitions.length > 0) this.changed();
    }, Math.max(0, deadline - this.clock.now()));
    this.policyTimer.unref?.();
  }

  private clearLaunchTimers(): void {
    clearTimeout(this.startTimer);
    clearTimeout(this.probeTimer);
    this.startTimer = undefined;
    this.probeTimer = undefined;
  }

  private changed(): void {
    if (!this.disposed) this.options.onChange?.(this.status());
  }
}
