import type { ChildProcess } from 'node:child_process';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { AuditEvent, AuditSink } from '../../src-shared/audit/AuditEvent.js';
import type { Device, GpuLayers, KvCacheType, LastExit, StopCause, WorkerInfo, WorkerState } from '../../src-shared/cluster/WorkerInfo.js';
import type { RandomSource } from '../../src-shared/policy/backoffDelay.js';
import type { RestartPolicyConfig } from '../../src-shared/policy/RestartPolicyConfig.js';
import type { PolicyClock, PolicyTransition } from '../../src-shared/policy/RestartTracker.js';
import type { Logger } from '../common/log/createLogger.js';
import { ChildSupervisor, type ChildEvent, type KillCause, type StartKind } from '../common/supervision/ChildSupervisor.js';
import type { HiveMetrics } from './HiveMetrics.js';
import type { WorkerPlacement } from './admission/WorkerPlacement.js';
import type { LocalEndpoint } from '../common/http/localEndpoint.js';
import { HotSpare } from './HotSpare.js';
import { WorkerProcess, type WorkerExit, type WorkerLauncher, type WorkerProcessHandlers, type WorkerReady } from './WorkerProcess.js';

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
  /** Keep a hot spare (a second process with the model loaded) for fast recovery; defaults to false. */
  hotSpare?: boolean;
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
  /** The second socket path a socket worker alternates with its hot spare. */
  spareSocketPath?: string | null;
}

/** A hot spare is started this long after the worker became ready (not competing with its load). */
const HOT_SPARE_DELAY_MS = 1_000;

/**
 * One supervised worker: the worker tier's child spec for the shared supervision core. How to start
 * it (a WorkerProcess per launch: spawn or standby hand-over, ready once the model is loaded), its
 * load timeout, its liveness probe (`/health`, which also reports slots and activity for the idle
 * TTL) and how to kill it; the restart policy, breaker, start limit and their timers are the
 * ChildSupervisor's, exactly as for local and remote hives. This class maps the core's events to
 * WorkerInfo, audit events and metrics, and runs the operator actions and the stop cascade.
 */
export class ManagedWorker {
  private readonly supervisor: ChildSupervisor;
  /** The live process (starting, running or being stopped); null when there is none. */
  private proc: WorkerProcess | null = null;
  /** The latest launch, kept after it exits (started_at, load progress and offload stay visible). */
  private last: WorkerProcess | null = null;
  private slotsTotal: number;
  private slotsFree = 0;
  private busy = false;
  private lastExit: LastExit | null = null;
  private lastHeartbeat: number | null = null;
  private lastActivityAt = 0;
  /** Set before the hive kills the process for a failure, so its exit carries the cause. */
  private pendingFailure: LastExit['reason'] | null = null;
  /** The current process is being stopped on purpose (operator, idle TTL, shutdown). */
  private stopping = false;
  private stopReason: StopCause = 'operator';
  /** Why the worker is stopped; null while it is not. */
  private stoppedBy: StopCause | null = null;
  /** Who asked for the current operator action (`token:<fp6>` from the API, else 'operator'). */
  private actor = 'operator';
  private disposed = false;
  /** When the current instance started serving this worker (its spawn, or a hot spare's hand-over). */
  private startedAt: number | null = null;
  /** The current start is a hot spare's hand-over (for the audit details). */
  private handedOver = false;
  private readonly hotSpare: HotSpare;

  constructor(
    private spec: WorkerLaunchSpec,
    private readonly deps: ManagedWorkerDeps,
  ) {
    this.slotsTotal = spec.slots;
    this.hotSpare = new HotSpare({
      workerId: spec.id,
      launch: (handlers) => this.launchProcess(null, handlers),
      onChange: () => this.update(),
      logger: deps.logger,
    });
    this.supervisor = new ChildSupervisor(
      {
        id: spec.id,
        start: (kind) => this.startProcess(kind),
        startTimeoutMs: () => this.spec.policy.load_timeout_ms,
        probe: {
          periodMs: () => this.spec.policy.health_period_ms,
          failures: () => this.spec.policy.health_failures,
          check: (timeoutMs) => this.checkHealth(timeoutMs),
        },
        kill: (cause) => this.killFor(cause),
      },
      {
        policy: spec.policy,
        clock: deps.clock,
        random: deps.random,
        onChange: () => this.update(),
        onEvent: (event) => this.onEvent(event),
        onTransition: (transition) => this.applyTransition(transition),
      },
    );
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
    return this.proc?.socketPath ?? this.deps.socketPath ?? null;
  }

  /** Where the current process answers; null before it listens. */
  endpoint(): LocalEndpoint | null {
    return this.proc?.endpoint() ?? null;
  }

  get hasProcess(): boolean {
    return this.proc !== null;
  }

  get currentState(): WorkerState {
    return this.state();
  }

  info(): WorkerInfo {
    const status = this.supervisor.status();
    const proc = this.proc;
    const state = this.state();
    return {
      id: this.spec.id,
      hive: this.deps.hiveId,
      model: this.spec.model,
      device: this.spec.device,
      state,
      pid: proc?.pid ?? null,
      port: proc?.port ?? null,
      slots: { total: this.slotsTotal, free: this.slotsFree },
      restart_count: status.restart_count,
      restart_attempts: status.attempts,
      last_exit: this.lastExit,
      breaker: status.breaker,
      next_restart_at: status.next_restart_at,
      started_at: this.startedAt,
      last_heartbeat: this.lastHeartbeat,
      load_progress: this.last?.loadProgress ?? 0,
      load_failed: status.start_failed,
      stopped_by: state === 'stopped' ? this.stoppedBy : null,
      gpu: this.spec.placement.gpu,
      offload: this.last?.readyInfo?.offload ?? this.spec.placement.offload,
      vram_bytes: this.spec.placement.vramBytes,
      vram_measured_bytes: this.last?.readyInfo?.vramMeasuredBytes ?? null,
      ...(this.spec.hotSpare ? { hot_spare: this.hotSpare.info() } : {}),
    };
  }

  /** The worker state shown: the supervision state, refined by what only the worker tier knows. */
  private state(): WorkerState {
    if (this.proc && this.stopping) return 'stopping';
    const status = this.supervisor.status();
    switch (status.state) {
      case 'starting':
        return 'loading';
      case 'running':
        if (status.probe_failures > 0) return 'unhealthy';
        return this.busy ? 'busy' : 'idle';
      default:
        return status.state;
    }
  }

  /** First start after `POST /v1/workers`. */
  startInitial(): void {
    this.supervisor.start();
  }

  /** Operator `start`: allowed from stopped, failed, crashed or backoff; refused while the breaker is open. */
  operatorStart(actor = 'operator'): void {
    this.actor = actor;
    if (this.proc) throw new ApiError(409, 'CONFLICT', `Worker ${this.id} is already running (${this.state()})`);
    this.startOrRefuse();
  }

  /** Operator `restart`: stop (cascade) then start with a fresh attempt count. */
  async operatorRestart(stopTimeoutMs: number, actor = 'operator'): Promise<void> {
    this.ensureStartAllowed();
    if (this.proc) await this.stop('operator', stopTimeoutMs, actor);
    this.actor = actor;
    if (this.disposed) return;
    this.startOrRefuse();
  }

  /** Operator `reset-breaker`: closes the breaker; a worker held only by the breaker starts now. */
  resetBreaker(actor = 'operator'): void {
    this.actor = actor;
    const hadState = this.supervisor.status().breaker.state === 'closed' ? 'closed' : 'open_or_half_open';
    this.emitAudit({ event_type: 'breaker_reset', actor, details: { had_state: hadState } });
    this.supervisor.resetBreaker();
  }

  /** Replaces the restart policy (a settings change); counters and breaker state are kept. */
  updatePolicy(policy: RestartPolicyConfig): void {
    this.spec = { ...this.spec, policy };
    this.supervisor.updatePolicy(policy);
  }

  private ensureStartAllowed(): void {
    const allowed = this.supervisor.canStart();
    if (!allowed.ok) throw new ApiError(409, 'CONFLICT', `Worker ${this.id}: ${allowed.reason}`);
  }

  private startOrRefuse(): void {
    const started = this.supervisor.start();
    if (!started.ok) throw new ApiError(409, 'CONFLICT', `Worker ${this.id}: ${started.reason}`);
  }

  // ── the child spec ─────────────────────────────────────────────────────────────────────────

  /**
   * One launch: resolves when the model is loaded, rejects when the process ends before. A restart
   * (not the first start) takes the hot spare when one has loaded: ready at once.
   */
  private startProcess(kind: StartKind): Promise<void> {
    this.stopping = false;
    this.pendingFailure = null;
    this.startedAt = this.deps.clock.now();
    const spare = kind === 'initial' ? null : this.hotSpare.take();
    this.handedOver = spare !== null;
    return new Promise<void>((resolve, reject) => {
      const handlers = (proc: WorkerProcess): WorkerProcessHandlers => ({
        onChange: () => {
          if (this.proc === proc) this.update();
        },
        onReady: (ready) => {
          if (this.proc !== proc || this.stopping) return;
          this.onReady(ready);
          resolve();
        },
        onExit: (exit) => {
          if (this.proc === proc) this.onExit(exit);
          reject(new Error(`worker ${kind === 'initial' ? 'start' : kind} ended before it was ready`));
        },
      });
      const proc = spare ?? this.launchProcess(this.deps.takeStandby, { onChange: () => undefined, onReady: () => undefined, onExit: () => undefined });
      proc.rebind(handlers(proc));
      this.proc = proc;
      this.last = proc;
      this.slotsFree = 0;
      this.slotsTotal = this.spec.slots;
      this.busy = false;
      this.lastHeartbeat = null;
      if (spare?.readyInfo) {
        this.onReady(spare.readyInfo);
        resolve();
      }
    });
  }

  /**
   * A worker process with this worker's arguments and token, on a socket path no live process of
   * this worker holds. `takeStandby`: hand the arguments to a warm standby when one is at hand.
   */
  private launchProcess(takeStandby: (() => ChildProcess | null) | undefined | null, handlers: WorkerProcessHandlers): WorkerProcess {
    const socketPath = this.freeSocketPath();
    // A warm standby has initialised its backend already: a pinning environment would come too late.
    const pinned = Object.keys(this.spec.placement.env).length > 0;
    return WorkerProcess.launch({
      args: workerArgs(this.spec, socketPath),
      launcher: this.deps.launcher,
      token: this.deps.token,
      env: this.spec.placement.env,
      standby: pinned ? null : (takeStandby?.() ?? null),
      socketPath,
      clock: this.deps.clock,
      onSpawn: (child) => this.deps.onProcess?.(this.id, child),
      ...handlers,
    });
  }

  /** Socket workers alternate two paths with their hot spare; null for loopback TCP. */
  private freeSocketPath(): string | null {
    const base = this.deps.socketPath ?? null;
    const alternate = this.deps.spareSocketPath ?? null;
    if (base === null || alternate === null) return base;
    const held = [this.proc, this.hotSpare.process].filter((p) => p?.alive).map((p) => p?.socketPath);
    return held.includes(base) ? alternate : base;
  }

  private onReady(ready: WorkerReady): void {
    const now = this.deps.clock.now();
    this.slotsTotal = ready.slots;
    this.slotsFree = ready.slots;
    this.busy = false;
    this.lastHeartbeat = now;
    this.lastActivityAt = now;
  }

  private onExit(exit: WorkerExit): void {
    this.proc = null;
    this.slotsFree = 0;
    this.busy = false;
    const { code, signal } = exit;
    const reason: LastExit['reason'] = this.stopping ? 'operator' : (this.pendingFailure ?? 'exit');
    this.lastExit = { code, signal, stderr_tail: exit.stderrTail, at: this.deps.clock.now(), reason };
    if (this.disposed) return;
    if (this.stopping) {
      this.stopping = false;
      this.stoppedBy = this.stopReason;
      this.emitAudit({
        event_type: 'worker_stopped',
        reason: this.stopReason,
        ...(this.stopReason === 'operator' ? { actor: this.actor } : {}),
        details: { code, signal },
      });
      this.update();
      return;
    }
    this.supervisor.exited(`${reason} (code ${code ?? 'none'}, signal ${signal ?? 'none'})`);
  }

  /** The supervisor ends the process for a failure it detected; the exit then carries the cause. */
  private killFor(cause: KillCause): void {
    if (!this.proc) return;
    this.pendingFailure = cause === 'start_timeout' ? 'load_timeout' : 'health_check';
    this.proc.kill('SIGKILL');
  }

  /** The liveness probe: `/health` answers in time. It also reads slots and activity (idle TTL). */
  private async checkHealth(timeoutMs: number): Promise<boolean> {
    const proc = this.proc;
    if (!proc) return false;
    const body = await proc.health(timeoutMs);
    if (proc !== this.proc || this.stopping) return false;
    if (!body) return false;
    this.hotSpare.sampleMemory();
    const now = this.deps.clock.now();
    this.lastHeartbeat = now;
    if (body.slots && typeof body.slots.free === 'number' && typeof body.slots.total === 'number') {
      this.slotsTotal = body.slots.total;
      this.slotsFree = body.slots.free;
    }
    if (typeof body.last_request_at === 'number') this.lastActivityAt = Math.max(this.lastActivityAt, body.last_request_at);
    const busy = this.slotsFree < this.slotsTotal;
    if (busy) this.lastActivityAt = now;
    const recovering = this.supervisor.status().probe_failures > 0;
    if (busy !== this.busy) {
      this.busy = busy;
      // A recovering probe is reported by the supervisor itself.
      if (!recovering) this.update();
    }
    if (this.spec.idleTtlMs !== null && !busy && now - this.lastActivityAt >= this.spec.idleTtlMs) {
      this.deps.logger.info({ worker_id: this.id, idle_ms: now - this.lastActivityAt }, 'idle TTL reached: stopping worker');
      void this.stop('idle_ttl', this.spec.policy.load_timeout_ms);
    }
    return true;
  }

  // ── events ─────────────────────────────────────────────────────────────────────────────────

  /** The supervision core's events as the worker tier's audit events, metrics and log lines. */
  private onEvent(event: ChildEvent): void {
    const proc = this.proc;
    switch (event.type) {
      case 'started': {
        const warm = proc?.warm ?? false;
        const details = { pid: proc?.pid ?? null, model: this.spec.model, device: this.spec.device, kind: event.kind, warm, ...(this.handedOver ? { hot_spare: true } : {}) };
        this.deps.metrics.spawned(this.id);
        this.emitAudit({ event_type: 'worker_spawned', ...(event.kind === 'operator' ? { actor: this.actor } : {}), details });
        if (event.kind === 'restart' || event.kind === 'trial') {
          this.deps.metrics.restarted(this.id, this.spec.model);
          this.emitAudit({ event_type: 'worker_restarted', details: { ...details, restart_count: this.supervisor.status().restart_count } });
        }
        this.deps.logger.info({ worker_id: this.id, pid: details.pid, kind: event.kind, warm }, 'worker spawned');
        return;
      }
      case 'ready':
        this.emitAudit({
          event_type: 'worker_ready',
          details: { pid: proc?.pid ?? null, port: proc?.port ?? null, load_ms: this.deps.clock.now() - (this.startedAt ?? this.deps.clock.now()) },
        });
        if (this.spec.hotSpare) this.hotSpare.prepare(HOT_SPARE_DELAY_MS);
        return;
      case 'start_timeout':
        this.deps.logger.warn({ worker_id: this.id, timeout_ms: event.timeout_ms }, 'worker load timed out: killing it');
        return;
      case 'probe_failed':
        this.deps.metrics.healthCheckFailed(this.id);
        this.deps.logger.warn({ worker_id: this.id, failures: event.failures }, 'worker health check failed');
        return;
      case 'hung':
        this.emitAudit({ event_type: 'worker_unhealthy', details: { failed_checks: event.failures } });
        return;
      case 'crashed': {
        const reason = this.lastExit?.reason ?? 'exit';
        const details = { code: this.lastExit?.code ?? null, signal: this.lastExit?.signal ?? null };
        this.deps.metrics.failed(this.id, reason);
        this.deps.logger.warn({ worker_id: this.id, reason, ...details }, 'worker failed');
        this.emitAudit({ event_type: 'worker_crashed', reason, details });
        return;
      }
      case 'restart_scheduled':
        this.emitAudit({
          event_type: 'worker_restart_scheduled',
          details: { attempt: event.attempt, max_restarts: event.max_restarts, delay_ms: event.delay_ms },
        });
        return;
      case 'gave_up':
        this.emitAudit({ event_type: 'worker_failed', reason: 'max_restarts', details: { attempts: event.attempts } });
        return;
      case 'held_by_breaker':
        return; // the breaker_opened transition is the audit event
    }
  }

  private applyTransition(t: PolicyTransition): void {
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

  // ── stopping ───────────────────────────────────────────────────────────────────────────────

  /**
   * Marks the worker as stopping on purpose: no restart will follow. A worker in backoff or failed
   * (no process) goes straight to `stopped`. Returns whether a process is left to stop.
   */
  beginStop(reason: StopCause = 'operator'): boolean {
    this.stopReason = reason;
    this.hotSpare.drop();
    if (!this.proc) {
      if (this.supervisor.status().state !== 'stopped') {
        this.stoppedBy = reason;
        this.supervisor.stop();
      }
      return false;
    }
    this.stopping = true;
    this.supervisor.stop();
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
    this.supervisor.dispose();
    this.hotSpare.dispose();
    this.kill('SIGKILL');
  }

  // ── plumbing ───────────────────────────────────────────────────────────────────────────────

  private update(): void {
    if (!this.disposed) this.deps.onUpdate(this.info());
  }

  private emitAudit(event: Omit<AuditEvent, 'hive_id' | 'worker_id' | 'actor'> & { actor?: string }): void {
    const full: AuditEvent = { actor: `hive:${this.deps.hiveId}`, ...event, hive_id: this.deps.hiveId, worker_id: this.id };
    this.deps.audit.emit(full).catch((error: unknown) => this.deps.logger.warn({ err: error, event_type: event.event_type }, 'audit emit failed'));
  }
}
