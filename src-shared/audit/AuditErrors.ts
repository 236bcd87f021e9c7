/**
 * Why an audit event could not be written. `emit` rejects with one of these; callers log it and go on
 * (an audit failure never crashes a request), the metric `rbee_audit_rejected_total{reason}` counts it.
 */
export type AuditErrorCode =
  | 'AUDIT_QUEUE_FULL'
  | 'AUDIT_LOW_DISK'
  | 'AUDIT_CLOSED'
  | 'AUDIT_IO'
  | 'AUDIT_INVALID_EVENT'
  | 'AUDIT_DIR_LOCKED';

export class AuditError extends Error {
  override readonly name: string = 'AuditError';
  constructor(
    readonly code: AuditErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The bounded queue is full: the writer is behind (slow disk). The event was NOT written. */
export class AuditQueueFullError extends AuditError {
  override readonly name = 'AuditQueueFullError';
  constructor(readonly capacity: number) {
    super('AUDIT_QUEUE_FULL', `audit queue full (${capacity} events pending): event refused, not written`);
  }
}

/** Free space in the audit folder is below the threshold. The event was NOT written. */
export class AuditLowDiskError extends AuditError {
  override readonly name = 'AuditLowDiskError';
  constructor(
    readonly dir: string,
    readonly freeBytes: number,
    readonly minFreeBytes: number,
  ) {
    super(
      'AUDIT_LOW_DISK',
      `audit log refuses writes: ${formatBytes(freeBytes)} free in ${dir}, below the ${formatBytes(minFreeBytes)} threshold`,
    );
  }
}

/** The log was closed (shutdown) or failed earlier and no longer accepts events. */
export class AuditClosedError extends AuditError {
  override readonly name = 'AuditClosedError';
  constructor(reason = 'audit log is closed') {
    super('AUDIT_CLOSED', reason);
  }
}

/** A write or fsync failed; the events of that batch are not on disk. */
export class AuditIoError extends AuditError {
  override readonly name = 'AuditIoError';
  constructor(message: string, cause?: unknown) {
    super('AUDIT_IO', message, { cause });
  }
}

/** The event is not an audit event (unknown `event_type`). */
export class AuditInvalidEventError extends AuditError {
  override readonly name = 'AuditInvalidEventError';
  constructor(message: string) {
    super('AUDIT_INVALID_EVENT', message);
  }
}

/** Another live process already writes this folder (one writer per folder keeps one chain). */
export class AuditDirLockedError extends AuditError {
  override readonly name = 'AuditDirLockedError';
  constructor(
    readonly dir: string,
    readonly ownerPid: number,
  ) {
    super('AUDIT_DIR_LOCKED', `audit folder ${dir} is in use by process ${ownerPid}; give each service its own folder`);
  }
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${(n / (1024 * 1024 * 1024)).toFixed(1)} GiB`;
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** A query the reader cannot answer: a malformed cursor or time bound (the control API answers 400). */
export class AuditQueryError extends Error {
  override readonly name = 'AuditQueryError';
  readonly code = 'AUDIT_BAD_QUERY';
}
