import type { AuditEvent, AuditSink } from '../../src-shared/audit/AuditEvent.js';
import { sanitizeAuditEvent } from './sanitizeAuditEvent.js';

/** An in-memory sink for tests of the tiers that emit (worker, hive, queen): keeps events as written. */
export interface RecordingAuditSink extends AuditSink {
  /** Every event so far, sanitised exactly as the local writer would store it. */
  readonly events: AuditEvent[];
  /** Resolves with the first event (past or future) matching `predicate`; rejects after `timeoutMs` (default 5,000). */
  waitFor(predicate: (event: AuditEvent) => boolean, timeoutMs?: number): Promise<AuditEvent>;
}

export function createRecordingAuditSink(): RecordingAuditSink {
  const events: AuditEvent[] = [];
  const waiters = new Set<(event: AuditEvent) => void>();
  return {
    events,
    emit(event) {
      const clean = sanitizeAuditEvent(event);
      events.push(clean);
      for (const w of [...waiters]) w(clean);
      return Promise.resolve();
    },
    waitFor(predicate, timeoutMs = 5000) {
      const found = events.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise<AuditEvent>((resolve, reject) => {
        const waiter = (event: AuditEvent): void => {
          if (!predicate(event)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(event);
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching audit event within ${timeoutMs} ms (saw: ${events.map((e) => e.event_type).join(', ') || 'none'})`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
  };
}
