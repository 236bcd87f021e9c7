import { randomBytes } from 'node:crypto';
import { freemem } from 'node:os';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import type { ShutdownProgress } from '../../src-shared/cluster/ClusterEvent.js';
import type { Device, WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import type { RandomSource } from '../../src-shared/policy/backoffDelay.js';
import { InvalidRestartPolicyError, resolveRestartPolicy, type RestartPolicyConfig } from '../../src-shared/policy/RestartPolicyConfig.js';
import type { PolicyClock } from '../../src-shared/policy/RestartTracker.js';
import type { Logger } from '../common/log/createLogger.js';
import type { HardwareProbe } from './HardwareProbe.js';
import type { HiveEventHub } from './HiveEventHub.js';
import type { HiveMetrics } from './HiveMetrics.js';
import { ManagedWorker, type WorkerLauncher } from './ManagedWorker.js';
import type { ModelCatalog } from './ModelCatalog.js';
import type { WorkerStandbyPool } from './WorkerStandbyPool.js';

export interface SpawnOptions {
  model: string;
  /** Defaults to a generated `w-<model stem>-<n>`. */
  id?: string;
  /** Defaults to auto. */
  device?: Device;
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
}

export interface WorkerSupervisorOptions {
  hiveId: string;
  catalog: ModelCatalog;
  hub: HiveEventHub;
  metrics: HiveMetrics;
  audit: AuditSink;
  logger: Logger;
  launcher: WorkerLauncher;
  probe: HardwareProbe;
  policy: RestartPolicyConfig;
  defaultThreads: number;
  idleTtlMs: number | null;
  /** Bytes of RAM (and VRAM) the admission check keeps free for everything else. */
  memoryReserveBytes: number;
  /** Skip node-llama-cpp's estimate (admission always passes). Defaults to false. */
  skipAdmission?: boolean;
  clock: PolicyClock;
  random: RandomSource;
  /** Warm worker processes; null = always spawn fresh. */
  standby?: WorkerStandbyPool | null;
}

const WORKER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The hive's workers: spawn (after the admission check), look up, operator actions, and the
 * graceful shutdown cascade over all of them at once.
 */
export class WorkerSupervisor {
  private readonly workers = new Map<string, ManagedWorker>();
  private counter = 0;
  private closing = false;

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
    let policy: RestartPolicyConfig;
    try {
      policy = resolveRestartPolicy(request.policy ?? {}, this.options.policy);
    } catch (error) {
      if (error instanceof InvalidRestartPolicyError) throw new ApiError(400, 'INVALID_REQUEST', error.message, { problems: error.problems });
      throw error;
    }
    const modelPath = await this.options.catalog.resolve(request.model);
    const id = request.id ?? this.nextId(request.model);
    if (!WORKER_ID.test(id)) throw new ApiError(400, 'INVALID_REQUEST', `Invalid worker id '${id.slice(0, 80)}': letters, digits, '.', '_', '-' (at most 64)`);
    if (this.workers.has(id)) throw new ApiError(409, 'CONFLICT', `Worker '${id}' already exists`);
    const device = request.device ?? 'auto';
    const slots = request.slots ?? 2;
    const ctx = request.ctx ?? 2048;
    if (!this.options.skipAdmission) await this.admit(modelPath, request.model, { ctx, slots, device });
    if (this.workers.has(id)) throw new ApiError(409, 'CONFLICT', `Worker '${id}' already exists`);

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
      },
      {
        hiveId: this.options.hiveId,
        clock: this.options.clock,
        random: this.options.random,
        audit: this.options.audit,
        metrics: this.options.metrics,
        launcher: this.options.launcher,
        logger: this.options.logger,
        token: randomBytes(24).toString('base64url'),
        onUpdate: (info) => this.onUpdate(info),
        takeStandby: this.options.standby ? () => this.options.standby?.take() ?? null : undefined,
      },
    );
    this.workers.set(id, worker);
    this.options.standby?.prewarmFor(device, worker.workerSpec.threads);
    worker.startInitial();
    return worker.info();
  }

  /** Admission (507): node-llama-cpp's estimate against free RAM / VRAM, minus the reserve. */
  private async admit(modelPath: string, model: string, request: { ctx: number; slots: number; device: Device }): Promise<void> {
    let need;
    try {
      need = await this.options.probe.estimate(modelPath, request);
    } catch (error) {
      throw new ApiError(400, 'INVALID_REQUEST', `Model '${model}' cannot be read: ${error instanceof Error ? error.message : String(error)}`);
    }
    const reserve = this.options.memoryReserveBytes;
    const freeRam = freemem() - reserve;
    const mib = (n: number) => `${Math.ceil(n / 1048576)} MiB`;
    if (need.ram > freeRam) {
      throw new ApiError(
        507,
        'INSUFFICIENT_MEMORY',
        `Not enough memory for '${model}' (ctx ${request.ctx} × ${request.slots} slots): needs ${mib(need.ram)} of RAM, ${mib(Math.max(0, freeRam))} free${reserve > 0 ? ` after the ${mib(reserve)} reserve` : ''}`,
        { need_ram_bytes: need.ram, free_ram_bytes: Math.max(0, freeRam), need_vram_bytes: need.vram },
      );
    }
    if (need.gpu && need.vram > 0) {
      const gpu = (await this.options.probe.devices()).find((d) => d.type !== 'cpu');
      const freeVram = (gpu?.memory_free ?? 0) - reserve;
      if (need.vram > freeVram) {
        throw new ApiError(
          507,
          'INSUFFICIENT_MEMORY',
          `Not enough GPU memory for '${model}' (ctx ${request.ctx} × ${request.slots} slots): needs ${mib(need.vram)} of VRAM, ${mib(Math.max(0, freeVram))} free`,
          { need_vram_bytes: need.vram, free_vram_bytes: Math.max(0, freeVram) },
        );
      }
    }
  }

  /**
   * Changes the hive's policy (a settings change): merged over the current one, then each worker's
   * own override is re-applied on top. All or nothing: one invalid result rejects the change.
   */
  updatePolicy(patch: unknown): RestartPolicyConfig {
    const next = resolveRestartPolicy(patch, this.options.policy);
    const perWorker = [...this.workers.values()].map((w) => [w, resolveRestartPolicy(w.workerSpec.policyOverride ?? {}, next)] as const);
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

  private onUpdate(info: WorkerInfo): void {
    this.options.metrics.observe(this.list());
    this.options.hub.publish({ type: 'worker_updated', worker: info });
  }
}
