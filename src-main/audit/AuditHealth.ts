import type { AuditDegraded } from '../../src-shared/cluster/ClusterEvent.js';
import type { AuditMetrics } from './auditMetrics.js';

export type AuditDegradedReason = AuditDegraded['reason'];
export type AuditHealthListener = (degraded: AuditDegraded | null) => void;

/**
 * Whether a writer can write (docs/audit.md "Audit health"): degraded while its disk is below the
 * free-space margin (`low_disk`), after a write failed until one succeeds (`io_error`), and for good
 * once the log failed (`failed`, a failed fsync). Each change goes to the listeners (the queen's
 * snapshot and banner) and the metrics (`rbee_audit_degraded`, `rbee_audit_degraded_total`).
 */
export class AuditHealth {
  private state: AuditDegraded | null = null;
  private readonly listeners = new Set<AuditHealthListener>();

  constructor(
    private readonly serviceId: string,
    private readonly metrics: AuditMetrics,
    private readonly clock: () => number,
  ) {}

  get degraded(): AuditDegraded | null {
    return this.state;
  }

  /** Enters (or stays in) the degraded state; `failed` is never replaced by a milder reason. */
  raise(reason: AuditDegradedReason, message: string): void {
    if (this.state?.reason === 'failed' || this.state?.reason === reason) return;
    this.state = { service_id: this.serviceId, reason, since: new Date(this.clock()).toISOString(), message };
    this.metrics.degraded(this.serviceId, reason);
    this.tell();
  }

  /** Leaves the degraded state when it was raised for `reason`. */
  clear(reason: AuditDegradedReason): void {
    if (this.state?.reason !== reason) return;
    this.state = null;
    this.metrics.degraded(this.serviceId, null);
    this.tell();
  }

  onChange(listener: AuditHealthListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private tell(): void {
    for (const listener of this.listeners) {
      try {
        listener(this.state);
      } catch {
        // A listener's failure must not reach the writer.
      }
    }
  }
}
