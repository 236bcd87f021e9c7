import type { AuditSink } from '../../../src-shared/audit/AuditEvent.js';
import type { AddHiveRequest, AddHiveResult } from '../../../src-shared/control/ControlApi.js';
import type { Logger } from '../../common/log/createLogger.js';
import type { ClusterView } from '../cluster/ClusterView.js';
import type { HiveRegistry } from './HiveRegistry.js';

/**
 * The queen's port for remote hives. The queen only knows this interface; the assembly points
 * (`rbee queen`, the desktop app) pick the implementation (SSH: src-main/remote-hive). Without one,
 * adding a hive answers 501.
 */
export interface RemoteHiveManager {
  add(request: AddHiveRequest): Promise<AddHiveResult>;
  remove(hiveId: string, options: { stop: boolean }): Promise<void>;
  /** Re-adopts remembered hives after a queen restart (without restarting them). */
  restore?(): Promise<void>;
  /**
   * Copies a local model file into a remote hive's models folder and has the hive rescan its catalog.
   * `onProgress` gets the bytes sent so far. Optional: a manager without file transfer leaves it out.
   */
  uploadModel?(hiveId: string, localPath: string, options: { name?: string; onProgress?: (sent: number, total: number) => void }): Promise<{ path: string; skipped: boolean }>;
  /** Closes the links to remote hives; they keep serving unless `stopRemote`. */
  close?(options: { stopRemote?: boolean }): Promise<void>;
}

/**
 * What a remote-hive manager may touch in the queen: link and unlink hives, read hives and patch their
 * state in the view, audit, log. Not the scheduler, not workers, not the whole mutable view.
 */
export interface RemoteHiveHost {
  /** The queen's data folder (resolved); a manager keeps its records below it. */
  dataDir: string;
  hives: Pick<HiveRegistry, 'link' | 'unlink'>;
  view: Pick<ClusterView, 'hive' | 'snapshot' | 'onChange' | 'upsertHive' | 'patchHive'>;
  audit: AuditSink;
  /** The queen's audit mode: remote hives are started with the same (their own folder on their machine). */
  auditMode?: 'local' | 'disabled';
  logger: Logger;
}

/** How an assembly point hands the queen its remote-hive implementation. */
export type RemoteHiveManagerFactory = (host: RemoteHiveHost) => RemoteHiveManager;
