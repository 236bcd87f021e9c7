import type { ChildProcess } from 'node:child_process';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { AuditEvent, AuditSink } from '../../src-shared/audit/AuditEvent.js';
import type { Device, GpuLayers, KvCacheType, LastExit, StopCause, WorkerInfo, WorkerState } from '../../src-shared/cluster/WorkerInfo.js';
import type { RandomSource } from '../../src-shared/policy/backoffDelay.js';
import type { RestartPolicyConfig } from '../../src-shared/policy/RestartPolicyConfig.js';
import { RestartTracker, type PolicyClock, type PolicyTransition } from '../../src-shared/policy/RestartTracker.js';
import type { Logger } from '../common/log/createLogger.js';
import type { HiveMetrics } from './HiveMetrics.js';
import type { WorkerPlacement } from './admission/WorkerPlacement.js';
import type { LocalEndpoint } from '../common/http/localEndpoint.js';
import { WorkerProcess, type WorkerExit, type WorkerLauncher, type WorkerReady } from './WorkerProcess.js';

export type { WorkerLauncher } from './WorkerProcess.js';

/**
 * What the hive launches: one model on one device, and how to supervise it. (The queen's declared
 * `WorkerSpec`, desired state, is a different thing; this is the hive's internal launch description.)
 */
export interface WorkerLaunchSpec {
  id: string;
  /** Catalog name (the `model` callers use). */
  model: string;
  /** Absolute path of the GGUF file. */
  modelPath: string;
  device: Device;
  slots: number;
  threads: number;
  ctx: number;
  policy: RestartPolicyConfig;
  /** The per-worker part of `policy` (re-applied over a changed hive policy). */
  policyOverride: unknown;
  /** Stop the worker after this long without requests; null = never (the default). */
  idleTtlMs: number | null;
  /** Layers to offload as the worker is told (admission turns `auto` into a count where it estimates). */
  gpuLayers: GpuLayers;
  /** Tokens per evaluation batch; undefined = node-llama-cpp's default. */
  batchSize?: number;
  /** undefined = node-llama-cpp's auto. */
  flashAttention?: boolean;
  kvCacheType?: KvCacheType;
  /** Where admission placed the worker: its GPU, planned offload, VRAM estimate, pinning environment. */
  placement: WorkerPlacement;
}

/**
 * The worker's command-line arguments for a spec (the token travels in the environment). With
 * `socketPath` it listens on that Unix socket instead of an ephemeral loopback port.
 */
export function workerArgs(spec: WorkerLaunchSpec, socketPath: string | null = null): string[] {
  return [
    '--model', spec.modelPath,
    '--model-name', spec.model,
    ...(socketPath === null ? ['--port', '0', '--host', '127.0.0.1'] : ['--socket', socketPath]),
    '--id', spec.id,
    '--slots', String(spec.slots),
    '--threads', String(spec.threads),
    '--ctx', String(spec.ctx),
    '--device', spec.device,
    '--gpu-layers', String(spec.gpuLayers),
    ...(spec.batchSize !== undefined ? ['--batch-size', String(spec.batchSize)] : []),
    ...(spec.flashAttention !== undefined ? ['--flash-attention', spec.flashAttention ? 'on' : 'off'] : []),
    ...(spec.kvCacheType !== undefined ? ['--kv-cache-type', spec.kvCacheType] : []),
  ];
}

export interface ManagedWorkerDeps {
  hiveId: string;
  clock: PolicyClock;
  random: RandomSource;
  audit: AuditSink;
  metrics: HiveMetrics;
  launcher: WorkerLauncher;
  logger: Logger;
  /** Bearer token the worker requires (handed over in its environment, never argv). */
  token: string;
  /** Called after every change of `info()`. */
  onUpdate(info: WorkerInfo): void;
  /** A pre-started worker process waiting for its arguments (see WorkerStandbyPool), if any. */
  takeStandby?: () => ChildProcess | null;
  /** Sees every process this worker starts (log capture: see WorkerLogs). */
  onProcess?: (id: string, child: ChildProcess) => void;
  /** Listen on this Unix socket instead of a loopback port (remote hives); null/absent = TCP. */
  socketPath?: string | null;
}

/**
 * Health check timing: each check may take 0.6 of a period; after a miss the next check follows
 * 0.1 period later. With 3 allowed misses a hung worker is declared within 1 + 3 × 0.6 + 2 × 0.1 = 3
 * periods of hanging, whatever the phase.
 */
const HEALTH_TIMEOUT_RATIO = 0.6;
const HEALTH_RETRY_RATIO = 0.1;

/**
 * One supervised worker: its current launch (a WorkerProcess, one at a time), its restart policy and
 * breaker, its timers. All failure paths (exit, load timeout, failed health checks) end in
 * `onFailure`, which asks the pure `RestartTracker` what to do. Operator actions and the shutdown
 * cascade are methods here; the supervisor runs the cascade over many workers at once.
 */
export class ManagedWorker {
  readonly tracker: RestartTracker;
  private state: WorkerState = 'stopped';
  /** The current launch; callbacks of an older one are ignored (compared by identity). */
  private proc: WorkerProcess | null = null;
  /** The latest launch, kept after it exits (started_at, load progress and offload stay visible). */
  private last: WorkerProcess | null = null;
  private slotsTotal: number;
  private slotsFree = 0;
  private restartCount = 0;
  private lastExit: LastExit | null = null;
  private nextRestartAt: number | null = null;
  private lastHeartbeat: number | null = null;
  /** Set before the hive kills the process for a failure, so `exit` knows the cause. */
  private pendingFailure: LastExit['reason'] | null = null;
  /** The current process is being stopped on purpose (operator, idle TTL, shutdown). */
  private stopping = false;
  private stopReason: StopCause = 'operator';
  /** The last start ended before its model was loaded (see WorkerInfo.load_failed). */
  private loadFailed = false;
  /** Why the worker is stopped; null while it is not. */
  private stoppedBy: StopCause | null = null;
  /** Who asked for the current operator action (`token:<fp6>` from the API, else 'operator'). */
  private actor = 'operator';
  private healthFailures = 0;
  private lastActivityAt = 0;
  /** Waiting for the breaker (not for a backoff timer) to allow the next start. */
  private heldByBreaker = false;
  private readonly timers = new Map<'load' | 'health' | 'restart' | 'policy', NodeJS.Timeout>();
  private disposed = false;

  constructor(
    private spec: WorkerLaunchSpec,
    private readonly deps: ManagedWorkerDeps,
  ) {
    this.slotsTotal = spec.slots;
    this.tracker = new RestartTracker(spec.policy, { clock: deps.clock, random: deps.random });
  }

  get id(): string {
    return this.spec.id;
  }

  get launchSpec(): Readonly<WorkerLaunchSpec> {
    return this.spec;
  }

  get token(): string {
    return this.deps.token;
  }

  /** The Unix socket this worker listens on; null for a loopback-TCP worker. */
  get socketPath(): string | null {
    return this.deps.socketPath ?? null;
  }

  /** Where the current process answers; null before it listens. */
  endpoint(): LocalEndpoint | null {
    return this.proc?.endpoint() ?? null;
  }

  get hasProcess(): boolean {
    return this.proc !== null;
  }

  get currentState(): WorkerState {
    return this.state;
  }

  info(): WorkerInfo {
    const proc = this.proc;
    return {
      id: this.spec.id,
      hive: this.deps.hiveId,
      model: this.spec.model,
      device: this.spec.device,
      state: this.state,
      pid: proc?.pid ?? null,
      port: proc?.port ?? null,
      slots: { total: this.slotsTotal, free: this.slotsFree },
      restart_count: this.restartCount,
      last_exit: this.lastExit,
      breaker: this.tracker.breakerInfo(),
      next_restart_at: this.nextRestartAt,
      started_at: this.last?.startedAt ?? null,
      last_heartbeat: this.lastHeartbeat,
      load_progress: this.last?.loadProgress ?? 0,
      load_failed: this.loadFailed,
      stopped_by: this.state === 'stopped' ? this.stoppedBy : null,
      gpu: this.spec.placement.gpu,
      offload: this.last?.readyInfo?.offload ?? this.spec.placement.offload,
      vram_bytes: this.spec.placement.vramBytes,
      vram_measured_bytes: this.last?.readyInfo?.vramMeasuredBytes ?? null,
    };
  }

  /** First start after `POST /v1/workers`. */
  startInitial(): void {
    this.launch('initial');
  }

  /** Operator `start`: allowed from stopped, failed, crashed or backoff; refused while the breaker is open. */
  operatorStart(actor = 'operator'): void {
    this.actor = actor;
    if (this.proc) throw new ApiError(409, 'CONFLICT', `Worker ${this.id} is already running (${this.state})`);
    this.ensureStartAllowed();
    this.tracker.operatorStart();
    this.launch('operator');
  }

  /** Operator `restart`: stop (cascade) then start with a fresh attempt count. */
  async operatorRestart(stopTimeoutMs: number, actor = 'operator'): Promise<void> {
    this.ensureStartAllowed();
    if (this.proc) await this.stop('operator', stopTimeoutMs, actor);
    this.actor = actor;
    if (this.disposed) return;
    this.ensureStartAllowed();
    this.tracker.operatorStart();
    this.launch('operator');
  }

  /** Operator `reset-breaker`: closes the breaker; a worker held only by the breaker starts now. */
  resetBreaker(actor = 'operator'): void {
    this.actor = actor;
    const transitions = this.tracker.operatorResetBreaker();
    this.emitAudit({ event_type: 'breaker_reset', actor, details: { had_state: transitions.length > 0 ? 'open_or_half_open' : 'closed' } });
    this.applyTransitions(transitions);
    if (this.heldByBreaker && !this.proc) {
      this.heldByBreaker = false;
      this.tracker.operatorStart();
      this.launch('operator');
      return;
    }
    this.armPolicyTimer();
    this.update();
  }

  /** Replaces the restart policy (a settings change); counters and breaker state are kept. */
  updatePolicy(policy: RestartPolicyConfig): void {
    this.spec = { ...this.spec, policy };
    this.tracker.updatePolicy(policy);
    this.armPolicyTimer();
    this.update();
  }

  private ensureStartAllowed(): void {
    const allowed = this.tracker.canStart();
    if (!allowed.ok) throw new ApiError(409, 'CONFLICT', `Worker ${this.id}: ${allowed.reason}`);
  }

  // ── process ────────────────────────────────────────────────────────────────────────────────

  private launch(kind: 'initial' | 'restart' | 'trial' | 'operator'): void {
    if (this.disposed) return;
    this.clearTimer('restart');
    this.nextRestartAt = null;
    this.heldByBreaker = false;
    this.stopping = false;
    this.pendingFailure = null;
    this.healthFailures = 0;
    this.tracker.recordStarted();
    // An operator's start is a fresh judgement: requests wait for it instead of being turned away.
    if (kind === 'operator') this.loadFailed = false;
    // A warm standby has initialised its backend already: a pinning environment would come too late.
    const pinned = Object.keys(this.spec.placement.env).length > 0;
    const proc: WorkerProcess = WorkerProcess.launch({
      args: workerArgs(this.spec, this.socketPath),
      launcher: this.deps.launcher,
      token: this.deps.token,
      env: this.spec.placement.env,
      standby: pinned ? null : (this.deps.takeStandby?.() ?? null),
      socketPath: this.socketPath,
      clock: this.deps.clock,
      onSpawn: (child) => this.deps.onProcess?.(this.id, child),
      onChange: () => {
        if (this.proc === proc) this.update();
      },
      onReady: (ready) => {
        if (this.proc === proc) this.onReady(ready);
      },
      onExit: (exit) => {
        if (this.proc === proc) this.onExit(exit);
      },
    });
    this.proc = proc;
    this.last = proc;
    this.slotsFree = 0;
    this.slotsTotal = this.spec.slots;
    this.lastHeartbeat = null;
    this.state = 'loading';

    this.deps.metrics.spawned(this.id);
    const details = { pid: proc.pid, model: this.spec.model, device: this.spec.device, kind, warm: proc.warm };
    this.emitAudit({ event_type: 'worker_spawned', ...(kind === 'operator' ? { actor: this.actor } : {}), details });
    if (kind === 'restart' || kind === 'trial') {
      this.restartCount += 1;
      this.deps.metrics.restarted(this.id, this.spec.model);
      this.emitAudit({ event_type: 'worker_restarted', details: { ...details, restart_count: this.restartCount } });
    }
    this.deps.logger.info({ worker_id: this.id, pid: proc.pid, kind, warm: proc.warm }, 'worker spawned');
    this.setTimer('load', this.spec.policy.load_timeout_ms, () => this.onLoadTimeout(proc));
    this.update();
  }

  private onReady(ready: WorkerReady): void {
    const proc = this.proc;
    if (this.state !== 'loading' || !proc) return;
    this.clearTimer('load');
    const now = this.deps.clock.now();
    this.slotsTotal = ready.slots;
    this.slotsFree = ready.slots;
    this.lastHeartbeat = now;
    this.lastActivityAt = now;
    this.state = 'idle';
    this.loadFailed = false;
    this.tracker.recordHealthy();
    this.armPolicyTimer();
    this.emitAudit({ event_type: 'worker_ready', details: { pid: proc.pid, port: proc.port, load_ms: now - proc.startedAt } });
    this.scheduleHealthCheck(proc, this.spec.policy.health_period_ms);
    this.update();
  }

  private onLoadTimeout(proc: WorkerProcess): void {
    if (proc !== this.proc || this.state !== 'loading') return;
    this.deps.logger.warn({ worker_id: this.id, timeout_ms: this.spec.policy.load_timeout_ms }, 'worker load timed out: killing it');
    this.pendingFailure = 'load_timeout';
    proc.kill('SIGKILL');
  }

  private onExit(exit: WorkerExit): void {
    this.proc = null;
    this.slotsFree = 0;
    for (const key of ['load', 'health'] as const) this.clearTimer(key);
    const now = this.deps.clock.now();
    const { code, signal } = exit;
    const reason: LastExit['reason'] = this.stopping ? 'operator' : (this.pendingFailure ?? 'exit');
    const diedLoading = this.state === 'loading';
    this.lastExit = { code, signal, stderr_tail: exit.stderrTail, at: now, reason };
    if (this.disposed) return;
    if (this.stopping) {
      this.stopping = false;
      this.state = 'stopped';
      this.stoppedBy = this.stopReason;
      this.tracker.recordStopped();
      this.emitAudit({
        event_type: 'worker_stopped',
        reason: this.stopReason,
        ...(this.stopReason === 'operator' ? { actor: this.actor } : {}),
        details: { code, signal },
      });
      this.armPolicyTimer();
      this.update();
      return;
    }
    if (diedLoading) this.loadFailed = true;
    this.onFailure(reason, code, signal);
  }

  private onFailure(reason: LastExit['reason'], code: number | null, signal: NodeJS.Signals | null): void {
    this.state = 'crashed';
    this.deps.metrics.failed(this.id, reason);
    this.deps.logger.warn({ worker_id: this.id, reason, code, signal }, 'worker failed');
    this.emitAudit({ event_type: 'worker_crashed', reason, details: { code, signal } });
    this.update();

    const { decision, transitions } = this.tracker.recordFailure();
    this.applyTransitions(transitions);
    switch (decision.kind) {
      case 'restart':
        this.state = 'backoff';
        this.nextRestartAt = decision.restart_at;
        this.emitAudit({
          event_type: 'worker_restart_scheduled',
          details: { attempt: decision.attempt, max_restarts: this.spec.policy.max_restarts, delay_ms: decision.delay_ms },
        });
        this.setTimer('restart', decision.delay_ms, () => this.launch('restart'));
        break;
      case 'breaker_open':
        this.state = 'backoff';
        this.heldByBreaker = true;
        this.nextRestartAt = decision.until;
        break;
      case 'give_up':
        this.state = 'failed';
        this.nextRestartAt = null;
        this.emitAudit({ event_type: 'worker_failed', reason: 'max_restarts', details: { attempts: decision.attempts } });
        break;
    }
    this.armPolicyTimer();
    this.update();
  }

  private applyTransitions(transitions: PolicyTransition[]): void {
    for (const t of transitions) {
      switch (t.type) {
        case 'breaker_opened':
          this.deps.metrics.breakerOpened(this.id);
          this.emitAudit({ event_type: 'breaker_opened', details: { failures: t.failures, opens_until: t.until } });
          break;
        case 'breaker_half_open':
          this.emitAudit({ event_type: 'breaker_half_open' });
          break;
        case 'breaker_closed':
          this.emitAudit({ event_type: 'breaker_closed', reason: t.cause });
          break;
        case 'attempts_reset':
          break;
      }
    }
  }

  /** One timer for the policy's next time-driven transition (cooldown over, stability reached). */
  private armPolicyTimer(): void {
    this.clearTimer('policy');
    const deadline = this.tracker.nextDeadline();
    if (deadline === null || this.disposed) return;
    this.setTimer('policy', Math.max(0, deadline - this.deps.clock.now()), () => {
      const transitions = this.tracker.advance();
      this.applyTransitions(transitions);
      if (transitions.some((t) => t.type === 'breaker_half_open') && this.heldByBreaker && !this.proc) {
        this.launch('trial');
      } else {
        this.armPolicyTimer();
        if (transitions.length > 0) this.update();
      }
    });
  }

  // ── health ─────────────────────────────────────────────────────────────────────────────────

  private scheduleHealthCheck(proc: WorkerProcess, delayMs: number): void {
    this.setTimer('health', delayMs, () => void this.healthCheck(proc));
  }

  private async healthCheck(proc: WorkerProcess): Promise<void> {
    const period = this.spec.policy.health_period_ms;
    const started = this.deps.clock.now();
    const body = await proc.health(Math.max(25, Math.floor(period * HEALTH_TIMEOUT_RATIO)));
    if (proc !== this.proc || this.stopping || this.pendingFailure) return;
    const now = this.deps.clock.now();
    if (body) {
      this.healthFailures = 0;
      this.lastHeartbeat = now;
      if (body.slots && typeof body.slots.free === 'number' && typeof body.slots.total === 'number') {
        this.slotsTotal = body.slots.total;
        this.slotsFree = body.slots.free;
      }
      if (typeof body.last_request_at === 'number') this.lastActivityAt = Math.max(this.lastActivityAt, body.last_request_at);
      const busy = this.slotsFree < this.slotsTotal;
      if (busy) this.lastActivityAt = now;
      const next: WorkerState = busy ? 'busy' : 'idle';
      const changed = next !== this.state;
      this.state = next;
      this.tracker.recordHealthy();
      if (changed) {
        this.armPolicyTimer();
        this.update();
      }
      if (this.spec.idleTtlMs !== null && !busy && now - this.lastActivityAt >= this.spec.idleTtlMs) {
        this.deps.logger.info({ worker_id: this.id, idle_ms: now - this.lastActivityAt }, 'idle TTL reached: stopping worker');
        void this.stop('idle_ttl', this.spec.policy.load_timeout_ms);
        return;
      }
    } else {
      this.healthFailures += 1;
      this.tracker.recordUnhealthy();
      this.deps.metrics.healthCheckFailed(this.id);
      this.deps.logger.warn({ worker_id: this.id, failures: this.healthFailures }, 'worker health check failed');
      if (this.healthFailures >= this.spec.policy.health_failures) {
        this.emitAudit({ event_type: 'worker_unhealthy', details: { failed_checks: this.healthFailures } });
        this.pendingFailure = 'health_check';
        proc.kill('SIGKILL');
        return;
      }
      if (this.state !== 'unhealthy') {
        this.state = 'unhealthy';
        this.update();
      }
      // Confirm quickly: a hang is declared within `health_failures` periods of the first miss.
      this.scheduleHealthCheck(proc, Math.floor(period * HEALTH_RETRY_RATIO));
      return;
    }
    this.scheduleHealthCheck(proc, Math.max(0, started + period - this.deps.clock.now()));
  }

  // ── stopping ───────────────────────────────────────────────────────────────────────────────

  /**
   * Marks the worker as stopping on purpose: timers cancelled, no restart will follow. A worker in
   * backoff or failed (no process) goes straight to `stopped`.
   */
  beginStop(reason: StopCause = 'operator'): boolean {
    this.stopReason = reason;
    this.clearTimer('restart');
    this.clearTimer('health');
    this.clearTimer('load');
    this.nextRestartAt = null;
    this.heldByBreaker = false;
    if (!this.proc) {
      if (this.state !== 'stopped') {
        this.state = 'stopped';
        this.stoppedBy = reason;
        this.tracker.recordStopped();
        this.update();
      }
      return false;
    }
    this.stopping = true;
    this.state = 'stopping';
    this.update();
    return true;
  }

  /** `POST /v1/shutdown` with the worker's token; errors are ignored (the next phase follows). */
  async askPolitely(timeoutMs: number): Promise<void> {
    await this.proc?.askPolitely(timeoutMs);
  }

  /** Sends a signal to the current process; a no-op when there is none. */
  kill(signal: NodeJS.Signals): void {
    this.proc?.kill(signal);
  }

  /** Resolves when the current process has exited (at once when there is none), or after `timeoutMs`. */
  waitForExit(timeoutMs: number): Promise<boolean> {
    return this.proc?.waitForExit(timeoutMs) ?? Promise.resolve(true);
  }

  /** Stops this one worker with the cascade: polite (⅓), SIGTERM (until ⅚), SIGKILL. */
  async stop(reason: StopCause, timeoutMs: number, actor = 'operator'): Promise<void> {
    this.actor = actor;
    const proc = this.proc;
    if (!this.beginStop(reason) || !proc) return;
    this.deps.logger.info({ worker_id: this.id, reason }, 'stopping worker');
    await proc.stop(timeoutMs);
  }

  /** Kills any process left (SIGKILL) and cancels every timer. Idempotent. */
  dispose(): void {
    this.disposed = true;
    for (const key of [...this.timers.keys()]) this.clearTimer(key);
    this.kill('SIGKILL');
  }

  // ── plumbing ───────────────────────────────────────────────────────────────────────────────

  private setTimer(key: 'load' | 'health' | 'restart' | 'policy', ms: number, fn: () => void): void {
    this.clearTimer(key);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      fn();
    }, ms);
    timer.unref();
    this.timers.set(key, timer);
  }

  private clearTimer(key: 'load' | 'health' | 'restart' | 'policy'): void {
    const timer = this.timers.get(key);
    if (timer) clearTimeout(timer);
    this.timers.delete(key);
  }

  private update(): void {
    if (!this.disposed) this.deps.onUpdate(this.info());
  }

  private emitAudit(event: Omit<AuditEvent, 'hive_id' | 'worker_id' | 'actor'> & { actor?: string }): void {
    const full: AuditEvent = { actor: `hive:${this.deps.hiveId}`, ...event, hive_id: this.deps.hiveId, worker_id: this.id };
    this.deps.audit.emit(full).catch((error: unknown) => this.deps.logger.warn({ err: error, event_type: event.event_type }, 'audit emit failed'));
  }
}
