import { randomBytes } from 'node:crypto';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import type { ShutdownProgress } from '../../src-shared/cluster/ClusterEvent.js';
import type { Device, GpuLayers, KvCacheType, WorkerInfo, WorkerState } from '../../src-shared/cluster/WorkerInfo.js';
import type { GpuLaunchOptions } from '../../src-shared/worker/gpuOptions.js';
import type { RandomSource } from '../../src-shared/policy/backoffDelay.js';
import { InvalidRestartPolicyError, resolveRestartPolicy, type RestartPolicyConfig } from '../../src-shared/policy/RestartPolicyConfig.js';
import type { PolicyClock } from '../../src-shared/policy/RestartTracker.js';
import type { Logger } from '../common/log/createLogger.js';
import { admitWorker } from './admission/admitWorker.js';
import type { DeviceMemoryMonitor } from './admission/DeviceMemoryMonitor.js';
import { DeviceReservations } from './admission/DeviceReservations.js';
import type { MemoryEstimator } from './admission/MemoryEstimator.js';
import { UNPLACED, type WorkerPlacement } from './admission/WorkerPlacement.js';
import type { HiveEventHub } from './HiveEventHub.js';
import type { HiveMetrics } from './HiveMetrics.js';
import { ManagedWorker, type WorkerLauncher } from './ManagedWorker.js';
import type { WorkerLogs } from './WorkerLogs.js';
import type { ModelCatalog } from './ModelCatalog.js';
import type { WorkerStandbyPool } from './WorkerStandbyPool.js';
import { workerSocketPath } from '../common/http/socketDir.js';

export interface SpawnOptions extends GpuLaunchOptions {
  model: string;
  /** Defaults to a generated `w-<model stem>-<n>`. */
  id?: string;
  /** Defaults to 2. */
  slots?: number;
  /** Defaults to the hive's `defaultThreads`. */
  threads?: number;
  /** Defaults to 2048. */
  ctx?: number;
  /** Per-worker override merged over the hive's policy. */
  policy?: unknown;
  /** Stop after this long without requests. Defaults to the hive's `idleTtlMs` (off). */
  idle_ttl_ms?: number | null;
  /** Keep a hot spare with the model loaded (see HotSpare). Defaults to false. */
  hot_spare?: boolean;
}

export interface WorkerSupervisorOptions {
  hiveId: string;
  /** Captures each worker process's output (the logs routes read it). */
  logs?: WorkerLogs;
  catalog: ModelCatalog;
  hub: HiveEventHub;
  metrics: HiveMetrics;
  audit: AuditSink;
  logger: Logger;
  launcher: WorkerLauncher;
  /** Memory per layer count (the probe child; fake tables in tests). */
  estimator: MemoryEstimator;
  /** The hive's devices and their free memory, kept fresh. */
  devices: DeviceMemoryMonitor;
  policy: RestartPolicyConfig;
  defaultThreads: number;
  idleTtlMs: number | null;
  /** Bytes of RAM (and VRAM) the admission check keeps free for everything else. */
  memoryReserveBytes: number;
  /** Skip node-llama-cpp's estimate (admission always passes, nothing is pinned). Defaults to false. */
  skipAdmission?: boolean;
  clock: PolicyClock;
  random: RandomSource;
  /** Warm worker processes; null = always spawn fresh. */
  standby?: WorkerStandbyPool | null;
  /** Workers listen on Unix sockets in this 0700 folder instead of loopback ports (remote hives). */
  socketDir?: string | null;
}

/** States a worker enters when its process has ended. */
const EXITED_STATES: readonly WorkerState[] = ['stopped', 'crashed', 'failed', 'backoff'];

const WORKER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The hive's workers: spawn (after the admission check), look up, operator actions, and the
 * graceful shutdown cascade over all of them at once.
 */
export class WorkerSupervisor {
  private readonly workers = new Map<string, ManagedWorker>();
  private counter = 0;
  private closing = false;
  /** Memory promised to spawns still loading (see DeviceReservations). */
  readonly reservations = new DeviceReservations();
  private readonly releases = new Map<string, () => void>();
  private readonly lastStates = new Map<string, WorkerState>();

  constructor(private readonly options: WorkerSupervisorOptions) {}

  get policy(): RestartPolicyConfig {
    return this.options.policy;
  }

  /** Warm standby processes ready for the next spawn (see WorkerStandbyPool). */
  get readyStandbys(): number {
    return this.options.standby?.readyCount ?? 0;
  }

  list(): WorkerInfo[] {
    return [...this.workers.values()].map((w) => w.info());
  }

  get(id: string): ManagedWorker {
    const worker = this.workers.get(id);
    if (!worker) throw new ApiError(404, 'WORKER_NOT_FOUND', `No worker '${String(id).slice(0, 80)}' on hive ${this.options.hiveId}`);
    return worker;
  }

  async spawn(request: SpawnOptions): Promise<WorkerInfo> {
    if (this.closing) throw new ApiError(503, 'SHUTTING_DOWN', 'The hive is shutting down');
    // Checked now so a bad override fails before any work; resolved again below, after the awaits.
    this.policyFor(request.policy);
    const modelPath = await this.options.catalog.resolveComplete(request.model);
    const id = request.id ?? this.nextId(request.model);
    if (!WORKER_ID.test(id)) throw new ApiError(400, 'INVALID_REQUEST', `Invalid worker id '${id.slice(0, 80)}': letters, digits, '.', '_', '-' (at most 64)`);
    if (this.workers.has(id)) throw new ApiError(409, 'CONFLICT', `Worker '${id}' already exists`);
    const device: Device = request.device ?? 'auto';
    const slots = request.slots ?? 2;
    const ctx = request.ctx ?? 2048;
    let gpuLayers: GpuLayers = device === 'cpu' ? 0 : (request.gpu_layers ?? 'auto');
    let placement: WorkerPlacement = UNPLACED;
    let release: () => void = () => undefined;
    if (!this.options.skipAdmission) {
      const admitted = await admitWorker({
        model: request.model,
        estimate: { modelPath, ctx, slots, batchSize: request.batch_size, flashAttention: request.flash_attention, kvCacheType: request.kv_cache_type },
        device,
        gpuLayers,
        estimator: this.options.estimator,
        monitor: this.options.devices,
        reservations: this.reservations,
        reserveBytes: this.options.memoryReserveBytes,
      });
      ({ placement, release } = admitted);
      gpuLayers = admitted.gpuLayers;
    }
    if (this.workers.has(id)) {
      release();
      throw new ApiError(409, 'CONFLICT', `Worker '${id}' already exists`);
    }
    if (this.closing) {
      release();
      throw new ApiError(503, 'SHUTTING_DOWN', 'The hive is shutting down');
    }
    // Read the hive's policy only now, in the same synchronous step that adds the worker to the map:
    // a policy change (`updatePolicy`) that landed during the awaits above found no worker to update,
    // so a policy resolved before them would start this worker on the old numbers.
    let policy: RestartPolicyConfig;
    try {
      policy = this.policyFor(request.policy);
    } catch (error) {
      release();
      throw error;
    }
    this.releases.set(id, release);

    const worker = new ManagedWorker(
      {
        id,
        model: request.model,
        modelPath,
        device,
        slots,
        threads: request.threads ?? this.options.defaultThreads,
        ctx,
        policy,
        policyOverride: request.policy ?? {},
        idleTtlMs: request.idle_ttl_ms === undefined ? this.options.idleTtlMs : request.idle_ttl_ms,
        gpuLayers,
        batchSize: request.batch_size,
        flashAttention: request.flash_attention,
        kvCacheType: request.kv_cache_type as KvCacheType | undefined,
        hotSpare: request.hot_spare ?? false,
        placement,
      },
      {
        hiveId: this.options.hiveId,
        clock: this.options.clock,
        random: this.options.random,
        audit: this.options.audit,
        metrics: this.options.metrics,
        launcher: this.options.launcher,
        logger: this.options.logger,
        onProcess: (workerId, child) => this.options.logs?.attach(workerId, child),
        token: randomBytes(24).toString('base64url'),
        onUpdate: (info) => this.onUpdate(info),
        takeStandby: this.options.standby ? () => this.options.standby?.take() ?? null : undefined,
        socketPath: this.options.socketDir ? workerSocketPath(this.options.socketDir, id) : null,
        spareSocketPath: this.options.socketDir ? workerSocketPath(this.options.socketDir, `${id}.spare`) : null,
      },
    );
    this.workers.set(id, worker);
    this.options.standby?.prewarmFor(device, worker.launchSpec.threads);
    worker.startInitial();
    return worker.info();
  }

  /** A worker's policy: its own override over the hive's current one; 400 when the result is invalid. */
  private policyFor(override: unknown): RestartPolicyConfig {
    try {
      return resolveRestartPolicy(override ?? {}, this.options.policy);
    } catch (error) {
      if (error instanceof InvalidRestartPolicyError) throw new ApiError(400, 'INVALID_REQUEST', error.message, { problems: error.problems });
      throw error;
    }
  }

  /**
   * Changes the hive's policy (a settings change): merged over the current one, then each worker's
   * own override is re-applied on top. All or nothing: one invalid result rejects the change.
   */
  updatePolicy(patch: unknown): RestartPolicyConfig {
    const next = resolveRestartPolicy(patch, this.options.policy);
    const perWorker = [...this.workers.values()].map((w) => [w, resolveRestartPolicy(w.launchSpec.policyOverride ?? {}, next)] as const);
    this.options.policy = next;
    for (const [worker, policy] of perWorker) worker.updatePolicy(policy);
    return next;
  }

  start(id: string, actor?: string): WorkerInfo {
    if (this.closing) throw new ApiError(503, 'SHUTTING_DOWN', 'The hive is shutting down');
    const worker = this.get(id);
    worker.operatorStart(actor);
    return worker.info();
  }

  async restart(id: string, actor?: string): Promise<WorkerInfo> {
    if (this.closing) throw new ApiError(503, 'SHUTTING_DOWN', 'The hive is shutting down');
    const worker = this.get(id);
    await worker.operatorRestart(this.shutdownTimeoutMs, actor);
    return worker.info();
  }

  async stop(id: string, actor?: string): Promise<WorkerInfo> {
    const worker = this.get(id);
    await worker.stop('operator', this.shutdownTimeoutMs, actor);
    return worker.info();
  }

  resetBreaker(id: string, actor?: string): WorkerInfo {
    const worker = this.get(id);
    worker.resetBreaker(actor);
    return worker.info();
  }

  /** Stops the worker and forgets it. */
  async remove(id: string, actor?: string): Promise<void> {
    const worker = this.get(id);
    await worker.stop('operator', this.shutdownTimeoutMs, actor);
    worker.dispose();
    this.workers.delete(id);
    this.releaseReservation(id);
    this.lastStates.delete(id);
    this.options.devices.refreshSoon();
    this.options.metrics.forget(id);
    this.options.metrics.observe(this.list());
    this.options.hub.publish({ type: 'worker_removed', hive_id: this.options.hiveId, worker_id: id });
  }

  /** Per-worker stop budget (operator stop/restart) and the overall shutdown cap. */
  shutdownTimeoutMs = 30_000;

  /**
   * The shutdown cascade over every worker at once: polite `POST /v1/shutdown`, then SIGTERM, then
   * SIGKILL, all inside `capMs` (default 30 s). Each phase is announced as `shutdown_progress`.
   * No restarts happen once it has begun.
   */
  async shutdown(capMs = this.shutdownTimeoutMs): Promise<void> {
    this.closing = true;
    this.options.standby?.dispose();
    const clock = this.options.clock;
    const start = clock.now();
    const all = [...this.workers.values()];
    const live = all.filter((w) => w.beginStop('shutdown'));
    const remaining = () => live.filter((w) => w.hasProcess);
    const progress = (phase: ShutdownProgress['phase']) =>
      this.options.hub.publish({ type: 'shutdown_progress', progress: { hive_id: this.options.hiveId, phase, remaining_workers: remaining().length } });
    const waitAll = (until: number) => Promise.all(remaining().map((w) => w.waitForExit(until - clock.now())));

    if (live.length > 0) {
      progress('polite');
      await Promise.all(live.map((w) => w.askPolitely(Math.min(2_000, capMs / 3))));
      await waitAll(start + capMs / 3);
      if (remaining().length > 0) {
        progress('sigterm');
        for (const w of remaining()) w.kill('SIGTERM');
        await waitAll(start + (capMs * 5) / 6);
      }
      if (remaining().length > 0) {
        progress('sigkill');
        for (const w of remaining()) w.kill('SIGKILL');
        await waitAll(Math.max(start + capMs, clock.now() + 1_000));
      }
    }
    progress('done');
    for (const w of all) w.dispose();
  }

  /** Last resort (process exit): SIGKILL every worker synchronously. */
  killAll(): void {
    this.options.standby?.killAll();
    for (const w of this.workers.values()) w.dispose();
  }

  private nextId(model: string): string {
    const stem = model.replace(/\.gguf$/i, '').replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40) || 'worker';
    let id: string;
    do {
      this.counter += 1;
      id = `w-${stem}-${this.counter}`;
    } while (this.workers.has(id));
    return id;
  }

  private releaseReservation(id: string): void {
    this.releases.get(id)?.();
    this.releases.delete(id);
  }

  /**
   * A spawn's reservation lasts until its worker leaves `loading` (its memory is then in use, or
   * freed). Device memory is measured again whenever a worker becomes ready or its process ends.
   */
  private trackMemory(info: WorkerInfo): void {
    const previous = this.lastStates.get(info.id);
    if (previous === info.state) return;
    this.lastStates.set(info.id, info.state);
    if (info.state !== 'loading') this.releaseReservation(info.id);
    const becameReady = previous === 'loading' && info.state === 'idle';
    const exited = EXITED_STATES.includes(info.state);
    if (becameReady || exited) this.options.devices.refreshSoon();
  }

  private onUpdate(info: WorkerInfo): void {
    this.trackMemory(info);
    this.options.metrics.observe(this.list());
    this.options.hub.publish({ type: 'worker_updated', worker: info });
  }
}
