import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src-shared/audit/AuditEvent.js';
import { tokenFingerprint } from '../../src-main/auth/tokenFingerprint.js';
import { MODEL, startTestQueen, type TestQueen } from './queenHarness.js';
import { waitFor } from '../helpers/waitFor.js';

let q: TestQueen;
beforeAll(async () => {
  q = await startTestQueen({ extra: { auditMode: 'local' } });
  await q.spawn({ slots: 1 });
});
afterAll(async () => {
  await q?.close();
});

/**
 * Waits for the merged audit query to satisfy `predicate`. The records are written by three other
 * processes (queen in-process, hive, worker) into their own files; a worker's chain reaches the queen
 * only on disk, so nothing signals its arrival: this polls the query, as an operator's view would.
 */
function waitForRecords(predicate: (records: AuditRecord[]) => boolean): Promise<AuditRecord[]> {
  return waitFor(async () => (await q.queen.control.queryAudit({ limit: 500 })).records, predicate, { what: 'audit records', timeoutMs: 20_000, intervalMs: 100 });
}

describe('audit across tiers (local mode)', () => {
  it('a wrong token on the queen, the hive and a worker each yields auth_failure with the client IP and fingerprint', async () => {
    const wrong = 'definitely-not-the-token';
    const fp = tokenFingerprint(wrong);
    const settings = await q.queen.control.getSettings();
    const snapshot = await q.queen.control.getSnapshot();
    const worker = snapshot.workers.find((w) => w.model === MODEL && w.port)!;
    const targets = [`${q.url}/v1/control/snapshot`, `http://127.0.0.1:${settings.hive_port}/v1/workers`, `http://127.0.0.1:${worker.port}/v1/ready`];
    for (const url of targets) {
      const res = await fetch(url, { headers: { authorization: `Bearer ${wrong}` } });
      expect(res.status).toBe(401);
    }
    const records = await waitForRecords((rs) => new Set(rs.filter((r) => r.event.event_type === 'auth_failure' && r.event.actor === fp).map((r) => r.service_id)).size >= 3);
    const failures = records.filter((r) => r.event.event_type === 'auth_failure' && r.event.actor === fp);
    expect(new Set(failures.map((r) => r.service_id))).toEqual(new Set(['queen', 'hive:local', `worker:${worker.id}`]));
    for (const r of failures) {
      expect(r.event.client_ip).toMatch(/127\.0\.0\.1/);
      expect(JSON.stringify(r)).not.toContain(wrong);
    }
    const verify = await q.queen.control.verifyAudit();
    expect(verify.ok).toBe(true);
  });

  it('a worker crash is recorded as crashed → restart_scheduled → restarted, in that order', async () => {
    const snapshot = await q.queen.control.getSnapshot();
    const worker = snapshot.workers.find((w) => w.model === MODEL)!;
    process.kill(worker.pid!, 'SIGKILL');
    const lifecycle = ['worker_crashed', 'worker_restart_scheduled', 'worker_restarted'];
    const records = await waitForRecords((rs) => lifecycle.every((t) => rs.some((r) => r.event.event_type === t && r.event.worker_id === worker.id)));
    const ordered = records
      .filter((r) => r.service_id === 'hive:local' && r.event.worker_id === worker.id && lifecycle.includes(r.event.event_type))
      .reverse() // queries are newest first
      .map((r) => r.event.event_type);
    const firstCrash = ordered.indexOf('worker_crashed');
    expect(ordered.slice(firstCrash, firstCrash + 3)).toEqual(lifecycle);
  });
});
