import type { AuditRecord } from '../audit/AuditEvent.js';
import type { HiveInfo, ModelInfo } from './HiveInfo.js';
import type { WorkerInfo } from './WorkerInfo.js';

export interface ClusterSnapshot {
  hives: HiveInfo[];
  workers: WorkerInfo[];
  models: ModelInfo[];
}

export interface DownloadProgress {
  hive_id: string;
  download_id: string;
  source: string;
  received_bytes: number;
  total_bytes: number | null;
  state: 'running' | 'done' | 'failed';
  message: string | null;
}

export interface ShutdownProgress {
  hive_id: string;
  phase: 'polite' | 'sigterm' | 'sigkill' | 'done';
  remaining_workers: number;
}

/**
 * The one state stream: worker → hive (`/v1/events`) → queen (`/v1/control/events`) → renderer.
 * A stream always starts with a `snapshot`; every later event replaces whole objects, so a pure
 * reducer can apply it and a reconnecting client loses nothing.
 */
export type ClusterEventBody =
  | { type: 'snapshot'; snapshot: ClusterSnapshot }
  | { type: 'hive_updated'; hive: HiveInfo }
  | { type: 'hive_removed'; hive_id: string }
  | { type: 'worker_updated'; worker: WorkerInfo }
  | { type: 'worker_removed'; hive_id: string; worker_id: string }
  | { type: 'models_updated'; hive_id: string; models: ModelInfo[] }
  | { type: 'download_progress'; progress: DownloadProgress }
  | { type: 'shutdown_progress'; progress: ShutdownProgress }
  | { type: 'audit'; record: AuditRecord };

/** `seq` increases per stream; `at` is epoch ms at the emitter. */
export type ClusterEvent = ClusterEventBody & { seq: number; at: number };
