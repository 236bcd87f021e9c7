import type { AuditDegraded, ClusterEvent, ClusterEventBody, ClusterSnapshot } from '../../../src-shared/cluster/ClusterEvent.js';
import type { HiveInfo, ModelInfo } from '../../../src-shared/cluster/HiveInfo.js';
import type { WorkerInfo } from '../../../src-shared/cluster/WorkerInfo.js';
import type { WorkerSpec } from '../../../src-shared/control/controlSchemas.js';

export type ClusterListener = (event: ClusterEvent) => void;

export const workerKey = (hiveId: string, workerId: string): string => `${hiveId}/${workerId}`;

/**
 * The queen's picture of the cluster (hives → workers, models), fed by each hive's event stream.
 * Every change is re-emitted as the queen's own ClusterEvent (its own `seq`), so the dashboard gets
 * one stream: a snapshot first, then whole-object replacements.
 */
export class ClusterView {
  private readonly hives = new Map<string, HiveInfo>();
  private readonly workers = new Map<string, WorkerInfo>();
  private readonly models = new Map<string, ModelInfo[]>();
  private readonly listeners = new Set<ClusterListener>();
  private seq = 0;
  private auditDegraded: AuditDegraded | null = null;
  /** The declared specs, owned by WorkerSpecs (which also publishes their changes). */
  private specs: (() => WorkerSpec[]) | undefined;

  snapshot(): ClusterSnapshot {
    return {
      hives: [...this.hives.values()],
      workers: [...this.workers.values()],
      models: [...this.models.values()].flat(),
      audit_degraded: this.auditDegraded,
      ...(this.specs ? { specs: this.specs() } : {}),
    };
  }

  /** The queen's audit writer health (null: it can write); emitted as `audit_health`. */
  setAuditDegraded(degraded: AuditDegraded | null): void {
    this.auditDegraded = degraded;
    this.emit({ type: 'audit_health', audit_degraded: degraded });
  }

  /** Where snapshots take the declared specs from. */
  provideSpecs(specs: () => WorkerSpec[]): void {
    this.specs = specs;
  }

  hive(id: string): HiveInfo | undefined {
    return this.hives.get(id);
  }

  worker(hiveId: string, workerId: string): WorkerInfo | undefined {
    return this.workers.get(workerKey(hiveId, workerId));
  }

  allWorkers(): WorkerInfo[] {
    return [...this.workers.values()];
  }

  allModels(): ModelInfo[] {
    return [...this.models.values()].flat();
  }

  /** Subscribes; the listener first receives a snapshot. Returns the unsubscribe function. */
  subscribe(listener: ClusterListener): () => void {
    listener(this.stamp({ type: 'snapshot', snapshot: this.snapshot() }));
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Changes observed without the snapshot (for in-process consumers such as the scheduler). */
  onChange(listener: ClusterListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  upsertHive(info: HiveInfo): void {
    this.hives.set(info.id, info);
    this.emit({ type: 'hive_updated', hive: info });
  }

  patchHive(id: string, patch: Partial<HiveInfo>): HiveInfo | undefined {
    const current = this.hives.get(id);
    if (!current) return undefined;
    const next = { ...current, ...patch };
    this.upsertHive(next);
    return next;
  }

  removeHive(id: string): void {
    for (const [key, worker] of this.workers) {
      if (worker.hive === id) {
        this.workers.delete(key);
        this.emit({ type: 'worker_removed', hive_id: id, worker_id: worker.id });
      }
    }
    this.models.delete(id);
    if (this.hives.delete(id)) this.emit({ type: 'hive_removed', hive_id: id });
  }

  /** Applies one event from hive `hiveId`'s stream. A snapshot replaces everything that hive owns. */
  applyHiveEvent(hiveId: string, event: ClusterEvent): void {
    switch (event.type) {
      case 'snapshot': {
        const incoming = new Set(event.snapshot.workers.filter((w) => w.hive === hiveId).map((w) => w.id));
        for (const [key, worker] of this.workers) {
          if (worker.hive === hiveId && !incoming.has(worker.id)) {
            this.workers.delete(key);
            this.emit({ type: 'worker_removed', hive_id: hiveId, worker_id: worker.id });
          }
        }
        for (const worker of event.snapshot.workers) this.upsertWorker({ ...worker, hive: hiveId });
        const models = event.snapshot.models.map((m) => ({ ...m, hive: hiveId }));
        this.models.set(hiveId, models);
        this.emit({ type: 'models_updated', hive_id: hiveId, models });
        const reported = event.snapshot.hives.find((h) => h.id === hiveId) ?? event.snapshot.hives[0];
        if (reported) this.mergeReportedHive(hiveId, reported);
        return;
      }
      case 'worker_updated':
        this.upsertWorker({ ...event.worker, hive: hiveId });
        return;
      case 'worker_removed':
        if (this.workers.delete(workerKey(hiveId, event.worker_id))) this.emit({ type: 'worker_removed', hive_id: hiveId, worker_id: event.worker_id });
        return;
      case 'models_updated': {
        const models = event.models.map((m) => ({ ...m, hive: hiveId }));
        this.models.set(hiveId, models);
        this.emit({ type: 'models_updated', hive_id: hiveId, models });
        return;
      }
      case 'hive_updated':
        this.mergeReportedHive(hiveId, event.hive);
        return;
      case 'download_progress':
        this.emit({ type: 'download_progress', progress: { ...event.progress, hive_id: hiveId } });
        return;
      case 'shutdown_progress':
        this.emit({ type: 'shutdown_progress', progress: { ...event.progress, hive_id: hiveId } });
        return;
      case 'audit':
        this.emit({ type: 'audit', record: event.record });
        return;
      case 'hive_removed':
      case 'audit_health':
      case 'spec_updated':
      case 'spec_removed':
        // The queen's own business, never taken from a hive's stream.
        return;
    }
  }

  /** Emits an event that did not come from a hive (the queen's own audit records, for one). */
  publish(body: ClusterEventBody): void {
    this.emit(body);
  }

  private upsertWorker(worker: WorkerInfo): void {
    this.workers.set(workerKey(worker.hive, worker.id), worker);
    this.emit({ type: 'worker_updated', worker });
  }

  /** What a hive says about itself (devices, versions); its reachability is the queen's call. */
  private mergeReportedHive(hiveId: string, reported: HiveInfo): void {
    const current = this.hives.get(hiveId);
    if (!current) return;
    this.upsertHive({
      ...current,
      version: reported.version,
      os: reported.os,
      arch: reported.arch,
      node_version: reported.node_version,
      devices: reported.devices,
      last_seen: Date.now(),
    });
  }

  private stamp(body: ClusterEventBody): ClusterEvent {
    return { ...body, seq: ++this.seq, at: Date.now() } as ClusterEvent;
  }

  private emit(body: ClusterEventBody): void {
    const event = this.stamp(body);
    for (const listener of this.listeners) listener(event);
  }
}
