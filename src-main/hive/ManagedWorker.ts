import { spawn, type ChildProcess } from 'node:child_process';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { AuditEvent, AuditSink } from '../../src-shared/audit/AuditEvent.js';
import type { Device, GpuLayers, KvCacheType, LastExit, OffloadInfo, StopCause, WorkerInfo, WorkerState } from '../../src-shared/cluster/WorkerInfo.js';
import type { RandomSource } from '../../src-shared/policy/backoffDelay.js';
import type { RestartPolicyConfig } from '../../src-shared/policy/RestartPolicyConfig.js';
import { RestartTracker, type PolicyClock, type PolicyTransition } from '../../src-shared/policy/RestartTracker.js';
import { isWorkerMessage, WORKER_TOKEN_ENV, type WorkerMessage } from '../../src-shared/worker/workerMessages.js';
import type { Logger } from '../common/log/createLogger.js';
import type { ProcessCommand } from '../common/rbeeCommand.js';
import type { HiveMetrics } from './HiveMetrics.js';
import type { WorkerPlacement } from './admission/WorkerPlacement.js';
import { childEnv } from '../common/process/childEnv.js';
import { localRequest, type LocalEndpoint } from '../common/http/localEndpoint.js';

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

/** Builds the command that starts a worker (the hive passes `rbeeCommand('worker', args)`). */
export type WorkerLauncher = (args: string[]) => ProcessCommand;

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

/** Stop phases of the shutdown cascade. */
export type StopPhase = 'polite' | 'sigterm' | 'sigkill';

const STDERR_TAIL_BYTES = 4096;
const STDERR_TAIL_LINES = 20;
/**
 * Health check timing: each check may take 0.6 of a period; after a miss the next check follows
 * 0.1 period later. With 3 allowed misses a hung worker is declared within 1 + 3 × 0.6 + 2 × 0.1 = 3
 * periods of hanging, whatever the phase.
 */
const HEALTH_TIMEOUT_RATIO = 0.6;
const HEALTH_RETRY_RATIO = 0.1;
/** A worker that announced `load_failed` but keeps running is killed after this long. */
const LOAD_FAILED_GRACE_MS = 3_000;

/**
 * One supervised worker: its process (one at a time), its restart policy and breaker, its timers.
 * All failure paths (exit, load timeout, failed health checks) end in `onFailure`, which asks the
 * pure `RestartTracker` what to do. Operator actions and the shutdown cascade are methods here; the
 * supervisor runs the cascade over many workers at once.
 */
export class ManagedWorker {
  readonly tracker: RestartTracker;
  private state: WorkerState = 'stopped';
  private proc: ChildProcess | null = null;
  /** Increases per spawned process; callbacks of an older process are ignored. */
  private generation = 0;
  private pid: number | null = null;
  private port: number | null = null;
  /** The current process has bound its socket (socket workers only). */
  private socketBound = false;
  private slotsTotal: number;
  private slotsFree = 0;
  private restartCount = 0;
  private lastExit: LastExit | null = null;
  private nextRestartAt: number | null = null;
  private startedAt: number | null = null;
  private lastHeartbeat: number | null = null;
  private loadProgress = 0;
  /** What the current process reported at ready (else the plan). */
  private reportedOffload: OffloadInfo | null = null;
  private vramMeasured: number | null = null;
  private stderrTail = '';
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
  private readonly timers = new Map<'load' | 'health' | 'restart' | 'policy' | 'loadFailed', NodeJS.Timeout>();
  private exitWaiters: Array<() => void> = [];
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
    const socketPath = this.socketPath;
    if (socketPath !== null) return this.socketBound ? { socketPath } : null;
    return this.port === null ? null : { port: this.port };
  }

  get hasProcess(): boolean {
    return this.proc !== null;
  }

  get currentState(): WorkerState {
    return this.state;
  }

  info(): WorkerInfo {
    return {
      id: this.spec.id,
      hive: this.deps.hiveId,
      model: this.spec.model,
      device: this.spec.device,
      state: this.state,
      pid: this.pid,
      port: this.port,
      slots: { total: this.slotsTotal, free: this.slotsFree },
      restart_count: this.restartCount,
      last_exit: this.lastExit,
      breaker: this.tracker.breakerInfo(),
      next_restart_at: this.nextRestartAt,
      started_at: this.startedAt,
      last_heartbeat: this.lastHeartbeat,
      load_progress: this.loadProgress,
      load_failed: this.loadFailed,
      stopped_by: this.state === 'stopped' ? this.stoppedBy : null,
      gpu: this.spec.placement.gpu,
      offload: this.reportedOffload ?? this.spec.placement.offload,
      vram_bytes: this.spec.placement.vramBytes,
      vram_measured_bytes: this.vramMeasured,
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
    this.stderrTail = '';
    this.tracker.recordStarted();
    // An operator's start is a fresh judgement: requests wait for it instead of being turned away.
    if (kind === 'operator') this.loadFailed = false;
    const generation = ++this.generation;
    const args = workerArgs(this.spec, this.socketPath);
    // A warm standby has initialised its backend already: a pinning environment would come too late.
    const pinned = Object.keys(this.spec.placement.env).length > 0;
    const standby = pinned ? null : this.handOverToStandby(args);
    const child = standby ?? this.spawnFresh(args);
    this.proc = child;
    this.pid = child.pid ?? null;
    this.port = null;
    this.socketBound = false;
    this.slotsFree = 0;
    this.slotsTotal = this.spec.slots;
    this.loadProgress = 0;
    this.reportedOffload = null;
    this.vramMeasured = null;
    this.startedAt = this.deps.clock.now();
    this.lastHeartbeat = null;
    this.state = 'loading';

    // stdout carries the same lifecycle lines as IPC; drain it so the pipe never fills.
    child.stdout?.resume();
    this.deps.onProcess?.(this.id, child);
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    child.on('message', (message: unknown) => {
      if (generation === this.generation && isWorkerMessage(message)) this.onMessage(message);
    });
    child.once('error', (error) => {
      // Spawn failures (ENOENT, EACCES) arrive here; `exit` may not follow.
      if (generation !== this.generation) return;
      this.stderrTail += `\nspawn error: ${error.message}`;
      if (child.exitCode === null && child.signalCode === null && child.pid === undefined) this.onExit(generation, null, null);
    });
    child.once('exit', (code, signal) => this.onExit(generation, code, signal));

    this.deps.metrics.spawned(this.id);
    const details = { pid: this.pid, model: this.spec.model, device: this.spec.device, kind, warm: standby !== null };
    this.emitAudit({ event_type: 'worker_spawned', ...(kind === 'operator' ? { actor: this.actor } : {}), details });
    if (kind === 'restart' || kind === 'trial') {
      this.restartCount += 1;
      this.deps.metrics.restarted(this.id, this.spec.model);
      this.emitAudit({ event_type: 'worker_restarted', details: { ...details, restart_count: this.restartCount } });
    }
    this.deps.logger.info({ worker_id: this.id, pid: this.pid, kind, warm: standby !== null }, 'worker spawned');
    this.setTimer('load', this.spec.policy.load_timeout_ms, () => this.onLoadTimeout(generation));
    this.update();
  }

  /** A warm standby process gets the arguments (and the token) over IPC; null when none is at hand. */
  private handOverToStandby(args: string[]): ChildProcess | null {
    const standby = this.deps.takeStandby?.() ?? null;
    if (!standby) return null;
    try {
      standby.send({ type: 'run', argv: args, env: { [WORKER_TOKEN_ENV]: this.deps.token } });
      return standby;
    } catch {
      standby.kill('SIGKILL');
      return null;
    }
  }

  private spawnFresh(args: string[]): ChildProcess {
    const { command, args: fullArgs } = this.deps.launcher(args);
    return spawn(command, fullArgs, {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...childEnv(process.env), ...this.spec.placement.env, [WORKER_TOKEN_ENV]: this.deps.token },
    });
  }

  private onMessage(message: WorkerMessage): void {
    switch (message.event) {
      case 'listening':
        this.port = message.socket === undefined ? message.port : null;
        this.socketBound = message.socket !== undefined;
        this.update();
        return;
      case 'load_progress':
        if (this.state !== 'loading') return;
        this.loadProgress = Math.max(this.loadProgress, Math.min(1, message.progress));
        this.update();
        return;
      case 'ready': {
        if (this.state !== 'loading') return;
        this.clearTimer('load');
        const now = this.deps.clock.now();
        this.port = message.socket === undefined ? message.port : null;
        this.socketBound = message.socket !== undefined;
        this.slotsTotal = message.slots;
        this.slotsFree = message.slots;
        this.loadProgress = 1;
        this.reportedOffload = message.offload ?? null;
        this.vramMeasured = message.vram_measured_bytes ?? null;
        this.lastHeartbeat = now;
        this.lastActivityAt = now;
        this.state = 'idle';
        this.loadFailed = false;
        this.tracker.recordHealthy();
        this.armPolicyTimer();
        this.emitAudit({ event_type: 'worker_ready', details: { pid: this.pid, port: this.port, load_ms: now - (this.startedAt ?? now) } });
        this.scheduleHealthCheck(this.generation, this.spec.policy.health_period_ms);
        this.update();
        return;
      }
      case 'load_failed': {
        this.stderrTail = `${this.stderrTail}\nload_failed: ${message.message}`.slice(-STDERR_TAIL_BYTES);
        const generation = this.generation;
        // It is going away: release our end of the IPC channel so nothing keeps it alive.
        if (this.proc?.connected) this.proc.disconnect();
        this.setTimer('loadFailed', LOAD_FAILED_GRACE_MS, () => {
          if (generation === this.generation && this.proc) this.kill('SIGKILL');
        });
        return;
      }
    }
  }

  private onLoadTimeout(generation: number): void {
    if (generation !== this.generation || this.state !== 'loading' || !this.proc) return;
    this.deps.logger.warn({ worker_id: this.id, timeout_ms: this.spec.policy.load_timeout_ms }, 'worker load timed out: killing it');
    this.pendingFailure = 'load_timeout';
    this.kill('SIGKILL');
  }

  private onExit(generation: number, code: number | null, signal: NodeJS.Signals | null): void {
    if (generation !== this.generation || this.proc === null) return;
    this.proc = null;
    this.pid = null;
    this.port = null;
    this.socketBound = false;
    this.slotsFree = 0;
    for (const key of ['load', 'health', 'loadFailed'] as const) this.clearTimer(key);
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const resolve of waiters) resolve();
    const now = this.deps.clock.now();
    const reason: LastExit['reason'] = this.stopping ? 'operator' : (this.pendingFailure ?? 'exit');
    const diedLoading = this.state === 'loading';
    this.lastExit = { code, signal, stderr_tail: tailLines(this.stderrTail), at: now, reason };
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

  private scheduleHealthCheck(generation: number, delayMs: number): void {
    this.setTimer('health', delayMs, () => void this.healthCheck(generation));
  }

  private async healthCheck(generation: number): Promise<void> {
    const period = this.spec.policy.health_period_ms;
    const started = this.deps.clock.now();
    const endpoint = this.endpoint();
    let body: HealthBody | null = null;
    try {
      if (endpoint === null) throw new Error('not listening');
      // A stopped (SIGSTOP) process still accepts connections in the kernel, but never answers.
      const res = await localRequest(endpoint, '/health', { timeoutMs: Math.max(25, Math.floor(period * HEALTH_TIMEOUT_RATIO)) });
      if (res.status === 200) body = (await res.json()) as HealthBody;
    } catch {
      body = null;
    }
    if (generation !== this.generation || !this.proc || this.stopping || this.pendingFailure) return;
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
        this.kill('SIGKILL');
        return;
      }
      if (this.state !== 'unhealthy') {
        this.state = 'unhealthy';
        this.update();
      }
      // Confirm quickly: a hang is declared within `health_failures` periods of the first miss.
      this.scheduleHealthCheck(generation, Math.floor(period * HEALTH_RETRY_RATIO));
      return;
    }
    this.scheduleHealthCheck(generation, Math.max(0, started + period - this.deps.clock.now()));
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
    const proc = this.proc;
    if (!proc) return;
    // Closing our end of the IPC channel is the second polite signal (the worker watches for it),
    // and a worker whose event loop is otherwise empty would stay alive on an open channel.
    const disconnect = (): void => {
      if (proc.connected) proc.disconnect();
    };
    const endpoint = this.endpoint();
    if (endpoint === null) {
      disconnect();
      return;
    }
    try {
      await localRequest(endpoint, '/v1/shutdown', {
        method: 'POST',
        headers: { authorization: `Bearer ${this.deps.token}` },
        timeoutMs: Math.max(50, timeoutMs),
      });
    } catch {
      // A hung or half-dead worker: SIGTERM and SIGKILL come next.
    }
    disconnect();
  }

  /** Sends a signal by pid; a no-op once the process is gone. */
  kill(signal: NodeJS.Signals): void {
    const proc = this.proc;
    if (!proc || proc.pid === undefined) return;
    try {
      process.kill(proc.pid, signal);
    } catch {
      // already gone
    }
  }

  /** Resolves when the current process has exited (at once when there is none), or after `timeoutMs`. */
  waitForExit(timeoutMs: number): Promise<boolean> {
    if (!this.proc) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.exitWaiters = this.exitWaiters.filter((w) => w !== done);
        resolve(false);
      }, Math.max(0, timeoutMs));
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.exitWaiters.push(done);
    });
  }

  /** Stops this one worker with the cascade: polite (⅓), SIGTERM (until ⅚), SIGKILL. */
  async stop(reason: StopCause, timeoutMs: number, actor = 'operator'): Promise<void> {
    this.actor = actor;
    if (!this.beginStop(reason)) return;
    this.deps.logger.info({ worker_id: this.id, reason }, 'stopping worker');
    const start = this.deps.clock.now();
    await this.askPolitely(Math.min(2_000, timeoutMs / 3));
    if (await this.waitForExit(start + timeoutMs / 3 - this.deps.clock.now())) return;
    this.kill('SIGTERM');
    if (await this.waitForExit(start + (timeoutMs * 5) / 6 - this.deps.clock.now())) return;
    this.kill('SIGKILL');
    await this.waitForExit(Math.max(1_000, start + timeoutMs - this.deps.clock.now()));
  }

  /** Kills any process left (SIGKILL) and cancels every timer. Idempotent. */
  dispose(): void {
    this.disposed = true;
    for (const key of [...this.timers.keys()]) this.clearTimer(key);
    this.kill('SIGKILL');
  }

  // ── plumbing ───────────────────────────────────────────────────────────────────────────────

  private setTimer(key: 'load' | 'health' | 'restart' | 'policy' | 'loadFailed', ms: number, fn: () => void): void {
    this.clearTimer(key);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      fn();
    }, ms);
    timer.unref();
    this.timers.set(key, timer);
  }

  private clearTimer(key: 'load' | 'health' | 'restart' | 'policy' | 'loadFailed'): void {
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

interface HealthBody {
  status?: string;
  slots?: { total?: number; free?: number };
  last_request_at?: number;
}

function tailLines(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines.slice(-STDERR_TAIL_LINES).join('\n');
}
