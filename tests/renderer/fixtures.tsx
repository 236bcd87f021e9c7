import type { AuditRecord } from '../../src-shared/audit/AuditEvent.js';

export { ev, hive, worker } from '../helpers/clusterFixtures.js';

let n = 0;

export function auditRecord(patch: Partial<AuditRecord['event']> = {}, timestamp = '2026-11-27T08:00:00.000Z', service = 'queen'): AuditRecord {
  n += 1;
  return {
    audit_id: `a${n}`,
    timestamp,
    service_id: service,
    event: { event_type: 'auth_failure', actor: 'token:abcdef', client_ip: '127.0.0.1', ...patch },
    prev_hash: '0'.repeat(64),
    hash: 'f'.repeat(64),
  };
}
