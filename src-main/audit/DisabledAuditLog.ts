import type { AuditPage, AuditVerifyResult } from '../../src-shared/audit/AuditEvent.js';
import type { AuditLog, AuditStats } from './AuditLog.js';

const RESOLVED: Promise<void> = Promise.resolve();
const EMPTY_PAGE: AuditPage = Object.freeze({ records: [], next_cursor: null }) as AuditPage;
const NOTHING: AuditVerifyResult = { ok: true, entries: 0, files: 0 };
const UNSUBSCRIBE = (): void => undefined;

/**
 * Audit off (the daemons' default): opens nothing, keeps nothing; `emit` returns one shared resolved
 * promise and does no other work (measured in `scripts/bench/audit.ts`).
 */
export function createDisabledAuditLog(serviceId: string): AuditLog {
  return {
    mode: 'disabled',
    serviceId,
    dir: null,
    emit: () => RESOLVED,
    flush: () => RESOLVED,
    onRecord: () => UNSUBSCRIBE,
    query: () => Promise.resolve({ records: [], next_cursor: EMPTY_PAGE.next_cursor }),
    verify: () => Promise.resolve(NOTHING),
    stats: (): AuditStats => ({ written: 0, rejected: { queue_full: 0, low_disk: 0, closed: 0, io_error: 0 }, syncs: 0, queueDepth: 0, lowDisk: false }),
    durableHead: () => Promise.resolve(null),
    witness: () => RESOLVED,
    setRetention: () => undefined,
    health: () => null,
    onHealthChange: () => UNSUBSCRIBE,
    close: () => RESOLVED,
  };
}
