import type { AuditEvent, AuditSink } from '../../src-shared/audit/AuditEvent.js';
import { sanitizeAuditEvent } from '../../src-main/audit/sanitizeAuditEvent.js';
import { waitFor } from './waitFor.js';

/** The audit sink tests hand to the tiers that emit (worker, hive, queen, ssh): keeps every event in memory. */
export interface RecordingAuditSink extends AuditSink {
  /** Every event so far, sanitised exactly as the local writer would store it. */
  readonly events: AuditEvent[];
  /** The event types so far, in order; only those about `workerId` when given. */
  types(workerId?: string): string[];
  /** Resolves with the first event (past or future) matching `predicate`; rejects after `timeoutMs` (default 5,000). */
  waitFor(predicate: (event: AuditEvent) => boolean, timeoutMs?: number): Promise<AuditEvent>;
}

/**
 * Sanitising on the way in keeps the tests honest: an event the real writer would refuse (an unknown
 * type) throws here too, and a token in a field shows up as the fingerprint the log would hold.
 */
export function createRecordingAuditSink(): RecordingAuditSink {
  const events: AuditEvent[] = [];
  const listeners = new Set<() => void>();
  return {
    events,
    emit(event) {
      events.push(sanitizeAuditEvent(event));
      for (const listener of [...listeners]) listener();
      return Promise.resolve();
    },
    types(workerId) {
      return events.filter((e) => workerId === undefined || e.worker_id === workerId).map((e) => e.event_type);
    },
    waitFor(predicate, timeoutMs = 5000) {
      return waitFor(() => events.find(predicate), {
        what: 'a matching audit event',
        timeoutMs,
        onChange: (recheck) => {
          listeners.add(recheck);
          return () => listeners.delete(recheck);
        },
        describe: () => `saw ${events.map((e) => e.event_type).join(', ') || 'none'}`,
      });
    },
  };
}
