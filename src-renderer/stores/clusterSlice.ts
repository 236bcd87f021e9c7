import type { StateCreator } from 'zustand';
import type { AuditDegraded, ClusterEvent, ClusterSnapshot, DownloadProgress, ShutdownProgress } from '../../src-shared/cluster/ClusterEvent.js';
import type { HiveInfo, ModelInfo } from '../../src-shared/cluster/HiveInfo.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import type { WorkerSpec } from '../../src-shared/control/controlSchemas.js';
import type { RbeeState } from './store.js';

export interface ClusterData {
  hives: Record<string, HiveInfo>;
  /** Keyed by `workerKey(hive, id)`. */
  workers: Record<string, WorkerInfo>;
  models: ModelInfo[];
  /** The queen's declared worker specs, keyed by `workerKey(hive, id)`. */
  specs: Record<string, WorkerSpec>;
  downloads: Record<string, DownloadProgress>;
  shutdown: Record<string, ShutdownProgress>;
  /** The queen's audit writer cannot write (a banner); null: healthy. */
  auditDegraded: AuditDegraded | null;
  /** True once a snapshot arrived. */
  loaded: boolean;
  /** Highest `seq` applied on the current stream (a snapshot restarts it). */
  lastSeq: number;
  /** Emitter clock minus ours (ms), so countdowns to server instants stay right. */
  clockOffsetMs: number;
}

export interface ClusterSlice {
  cluster: ClusterData;
  applyClusterEvent: (event: ClusterEvent) => void;
}

export const initialClusterData: ClusterData = {
  hives: {},
  workers: {},
  models: [],
  specs: {},
  downloads: {},
  shutdown: {},
  auditDegraded: null,
  loaded: false,
  lastSeq: -1,
  clockOffsetMs: 0,
};

export function workerKey(hiveId: string, workerId: string): string {
  return `${hiveId}/${workerId}`;
}

function fromSnapshot(snapshot: ClusterSnapshot): Pick<ClusterData, 'hives' | 'workers' | 'models' | 'specs' | 'auditDegraded'> {
  const hives: Record<string, HiveInfo> = {};
  for (const hive of snapshot.hives) hives[hive.id] = hive;
  const workers: Record<string, WorkerInfo> = {};
  for (const worker of snapshot.workers) workers[workerKey(worker.hive, worker.id)] = worker;
  const specs: Record<string, WorkerSpec> = {};
  for (const spec of snapshot.specs ?? []) specs[workerKey(spec.hive, spec.id)] = spec;
  return { hives, workers, models: snapshot.models, specs, auditDegraded: snapshot.audit_degraded ?? null };
}

/**
 * The pure reducer of the state stream. A snapshot replaces everything (also after a reconnect, so
 * nothing stale survives); later events replace whole objects. Events older than the last applied
 * `seq` of the stream are ignored. `audit` events are the audit slice's business.
 */
export function reduceCluster(state: ClusterData, event: ClusterEvent, receivedAt: number): ClusterData {
  const clockOffsetMs = Number.isFinite(event.at) ? event.at - receivedAt : state.clockOffsetMs;
  if (event.type === 'snapshot') {
    return { ...state, ...fromSnapshot(event.snapshot), shutdown: {}, loaded: true, lastSeq: event.seq, clockOffsetMs };
  }
  if (state.loaded && event.seq <= state.lastSeq) return state;
  const next: ClusterData = { ...state, lastSeq: Math.max(state.lastSeq, event.seq), clockOffsetMs };
  switch (event.type) {
    case 'hive_updated':
      next.hives = { ...state.hives, [event.hive.id]: event.hive };
      return next;
    case 'hive_removed': {
      const { [event.hive_id]: _gone, ...hives } = state.hives;
      next.hives = hives;
      next.workers = Object.fromEntries(Object.entries(state.workers).filter(([, w]) => w.hive !== event.hive_id));
      next.models = state.models.filter((m) => m.hive !== event.hive_id);
      return next;
    }
    case 'worker_updated':
      next.workers = { ...state.workers, [workerKey(event.worker.hive, event.worker.id)]: event.worker };
      return next;
    case 'worker_removed': {
      const { [workerKey(event.hive_id, event.worker_id)]: _gone, ...workers } = state.workers;
      next.workers = workers;
      return next;
    }
    case 'spec_updated':
      next.specs = { ...state.specs, [workerKey(event.spec.hive, event.spec.id)]: event.spec };
      return next;
    case 'spec_removed': {
      const { [workerKey(event.hive_id, event.spec_id)]: _gone, ...specs } = state.specs;
      next.specs = specs;
      return next;
    }
    case 'models_updated':
      next.models = [...state.models.filter((m) => m.hive !== event.hive_id), ...event.models];
      return next;
    case 'download_progress':
      next.downloads = { ...state.downloads, [event.progress.download_id]: event.progress };
      return next;
    case 'shutdown_progress':
      next.shutdown = { ...state.shutdown, [event.progress.hive_id]: event.progress };
      return next;
    case 'audit_health':
      next.auditDegraded = event.audit_degraded;
      return next;
    case 'audit':
      return next;
  }
}

export const createClusterSlice: StateCreator<RbeeState, [], [], ClusterSlice> = (set) => ({
  cluster: initialClusterData,
  applyClusterEvent: (event) => set((s) => ({ cluster: reduceCluster(s.cluster, event, Date.now()) })),
});
