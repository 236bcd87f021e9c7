import { Counter, Gauge, Registry } from '../common/metrics/promClient.js';
import type { DeviceInfo } from '../../src-shared/cluster/HiveInfo.js';
import type { BreakerState, WorkerInfo, WorkerState } from '../../src-shared/cluster/WorkerInfo.js';

const WORKER_STATES: readonly WorkerState[] = ['loading', 'idle', 'busy', 'stopping', 'stopped', 'crashed', 'backoff', 'failed', 'unhealthy'];
const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/** Prometheus metrics of one hive, in its own registry (several hives can live in one process). */
export class HiveMetrics {
  readonly registry = new Registry();
  private readonly restarts: Counter<'hive' | 'worker' | 'model'>;
  private readonly crashes: Counter<'hive' | 'worker' | 'reason'>;
  private readonly healthFailures: Counter<'hive' | 'worker'>;
  private readonly spawns: Counter<'hive' | 'worker'>;
  private readonly breaker: Gauge<'hive' | 'worker'>;
  private readonly breakerOpens: Counter<'hive' | 'worker'>;
  private readonly workers: Gauge<'hive' | 'state'>;
  private readonly workerRestartCount: Gauge<'hive' | 'worker'>;
  private readonly deviceMemory: Gauge<'hive' | 'device' | 'type' | 'kind'>;
  private readonly workerVram: Gauge<'hive' | 'worker' | 'gpu' | 'source'>;
  private readonly workerGpuLayers: Gauge<'hive' | 'worker' | 'of'>;

  constructor(private readonly hiveId: string) {
    const registers = [this.registry];
    this.restarts = new Counter({ name: 'rbee_hive_worker_restarts_total', help: 'Worker restarts performed by the restart policy.', labelNames: ['hive', 'worker', 'model'], registers });
    this.crashes = new Counter({
      name: 'rbee_hive_worker_failures_total',
      help: 'Worker failures by cause: exit, load_timeout, health_check.',
      labelNames: ['hive', 'worker', 'reason'],
      registers,
    });
    this.healthFailures = new Counter({ name: 'rbee_hive_health_check_failures_total', help: 'Failed worker health checks.', labelNames: ['hive', 'worker'], registers });
    this.spawns = new Counter({ name: 'rbee_hive_worker_spawns_total', help: 'Worker processes started.', labelNames: ['hive', 'worker'], registers });
    this.breaker = new Gauge({ name: 'rbee_hive_breaker_state', help: 'Circuit breaker per worker: 0 closed, 1 half_open, 2 open.', labelNames: ['hive', 'worker'], registers });
    this.breakerOpens = new Counter({ name: 'rbee_hive_breaker_opened_total', help: 'Times a worker circuit breaker opened.', labelNames: ['hive', 'worker'], registers });
    this.workers = new Gauge({ name: 'rbee_hive_workers', help: 'Workers by state.', labelNames: ['hive', 'state'], registers });
    this.workerRestartCount = new Gauge({ name: 'rbee_hive_worker_restart_count', help: 'restart_count of each worker (as in WorkerInfo).', labelNames: ['hive', 'worker'], registers });
    this.deviceMemory = new Gauge({
      name: 'rbee_hive_device_memory_bytes',
      help: 'Memory of each device (GPU VRAM; system RAM for cpu) as last measured: kind total or free.',
      labelNames: ['hive', 'device', 'type', 'kind'],
      registers,
    });
    this.workerVram = new Gauge({
      name: 'rbee_hive_worker_vram_bytes',
      help: "A worker's VRAM: source estimate (admission) or measured (backend, after load).",
      labelNames: ['hive', 'worker', 'gpu', 'source'],
      registers,
    });
    this.workerGpuLayers = new Gauge({ name: 'rbee_hive_worker_gpu_layers', help: 'Layers a worker has on the GPU; label of = the model total.', labelNames: ['hive', 'worker', 'of'], registers });
    for (const state of WORKER_STATES) this.workers.set({ hive: hiveId, state }, 0);
  }

  spawned(worker: string): void {
    this.spawns.inc({ hive: this.hiveId, worker });
  }

  restarted(worker: string, model: string): void {
    this.restarts.inc({ hive: this.hiveId, worker, model });
  }

  failed(worker: string, reason: string): void {
    this.crashes.inc({ hive: this.hiveId, worker, reason });
  }

  healthCheckFailed(worker: string): void {
    this.healthFailures.inc({ hive: this.hiveId, worker });
  }

  breakerOpened(worker: string): void {
    this.breakerOpens.inc({ hive: this.hiveId, worker });
  }

  /** Refreshes the gauges from the current worker list (called on every worker update). */
  observe(workers: readonly WorkerInfo[]): void {
    const counts = new Map<WorkerState, number>(WORKER_STATES.map((s) => [s, 0]));
    // Rebuilt from the full list: a worker's gpu/source labels change between processes.
    this.workerVram.reset();
    this.workerGpuLayers.reset();
    for (const w of workers) {
      counts.set(w.state, (counts.get(w.state) ?? 0) + 1);
      this.breaker.set({ hive: this.hiveId, worker: w.id }, BREAKER_VALUE[w.breaker.state]);
      this.workerRestartCount.set({ hive: this.hiveId, worker: w.id }, w.restart_count);
      const gpu = w.gpu ?? 'none';
      if (w.vram_bytes !== null) this.workerVram.set({ hive: this.hiveId, worker: w.id, gpu, source: 'estimate' }, w.vram_bytes);
      if (w.vram_measured_bytes !== null) this.workerVram.set({ hive: this.hiveId, worker: w.id, gpu, source: 'measured' }, w.vram_measured_bytes);
      if (w.offload) this.workerGpuLayers.set({ hive: this.hiveId, worker: w.id, of: String(w.offload.total) }, w.offload.layers);
    }
    for (const [state, n] of counts) this.workers.set({ hive: this.hiveId, state }, n);
  }

  /** Refreshes the per-device memory gauges (called after every device measurement that changed). */
  observeDevices(devices: readonly DeviceInfo[]): void {
    this.deviceMemory.reset();
    for (const d of devices) {
      this.deviceMemory.set({ hive: this.hiveId, device: d.id, type: d.type, kind: 'total' }, d.memory_total);
      this.deviceMemory.set({ hive: this.hiveId, device: d.id, type: d.type, kind: 'free' }, d.memory_free);
    }
  }

  forget(worker: string): void {
    this.breaker.remove({ hive: this.hiveId, worker });
    this.workerRestartCount.remove({ hive: this.hiveId, worker });

  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
