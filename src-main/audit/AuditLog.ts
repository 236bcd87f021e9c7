import type { AuditEvent, AuditHead, AuditMode, AuditPage, AuditQuery, AuditRecord, AuditSink, AuditVerifyResult } from '../../src-shared/audit/AuditEvent.js';

import type { AuditDegraded } from '../../src-shared/cluster/ClusterEvent.js';
import type { AuditHealthListener } from './AuditHealth.js';
import type { AuditRetentionPolicy } from './AuditRetention.js';

export interface AuditEmitOptions {
  /**
   * Resolve only once the event is fsynced. Defaults to false for ordinary events (resolved when
   * accepted; on disk within `syncDelayMs`), and is always true for critical ones.
   */
  durable?: boolean;
}

export interface AuditStats {
  written: number;
  rejected: { queue_full: number; low_disk: number; closed: number; io_error: number };
  syncs: number;
  queueDepth: number;
  lowDisk: boolean;
}

/** What the writer found and repaired when it opened the folder. */
export interface AuditRecovery {
  /** The entry the chain continues from (null: a fresh chain from the genesis hash). */
  resumedFrom: { file: string; audit_id: string } | null;
  /** Trailing partial or unparsable lines moved to side files (a crash mid-write). */
  quarantined: { file: string; quarantineFile: string; bytes: number; lines: number }[];
  /** The last entry's hash did not match its content (edited while the writer was stopped). */
  tailHashMismatch: boolean;
}

export type AuditRecordListener = (record: AuditRecord) => void;

/** An `AuditSink` plus what its owner (the daemon, the queen's control API) needs. */
export interface AuditLog extends AuditSink {
  readonly mode: AuditMode;
  readonly serviceId: string;
  /** The folder written; null when disabled. */
  readonly dir: string | null;
  emit(event: AuditEvent, options?: AuditEmitOptions): Promise<void>;
  /** Resolves once every event accepted before the call is fsynced. */
  flush(): Promise<void>;
  /** Called with each record once it is written (in chain order). Returns the unsubscribe function. */
  onRecord(listener: AuditRecordListener): () => void;
  /** Newest first, filtered, paged (see `queryAuditDir`). Disabled: always an empty page. */
  query(query: AuditQuery): Promise<AuditPage>;
  /** Verifies this log's folder (see `verifyAuditDir`), after a flush. */
  verify(): Promise<AuditVerifyResult>;
  stats(): AuditStats;
  /**
   * The chain's head once everything accepted so far is fsynced, so a witness never names a record a
   * crash could still take back (a kill -9 must not read as truncation). Null: disabled, or no record yet.
   */
  durableHead(): Promise<AuditHead | null>;
  /** Records other chains' heads as `witness` records (`reason` = who they came from); durable when it resolves. Disabled: a no-op. */
  witness(heads: readonly AuditHead[], source: string): Promise<void>;
  /** Null while the writer can write; else why not (low disk, a failed write, a failed log). Disabled: always null. */
  health(): AuditDegraded | null;
  /** Called on each health change. Returns the unsubscribe function. */
  onHealthChange(listener: AuditHealthListener): () => void;
  /** Sets which old files may be deleted, and runs it (see `AuditRetention`). Disabled: a no-op. */
  setRetention(policy: AuditRetentionPolicy): void;
  /** Flushes, closes the file and releases the folder. Idempotent; later emits reject. */
  close(): Promise<void>;
}
