import { rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src-shared/audit/AuditEvent.js';
import { listAuditFiles } from '../../src-main/audit/auditFiles.js';
import { verifyAuditChains } from '../../src-main/audit/verifyAuditChains.js';
import { startTestQueen, type TestQueen } from '../queen/queenHarness.js';

let q: TestQueen | undefined;
let closed = false;
afterAll(async () => {
  if (q && !closed) await q.queen.close();
  if (q) rmSync(q.dataDir, { recursive: true, force: true });
});

function witnessed(records: AuditRecord[], by: string, chain: string): number {
  return records
    .filter((r) => r.service_id === by && r.event.event_type === 'witness' && r.event.details?.chain === chain)
    .reduce((top, r) => Math.max(top, Number(r.event.details?.seq ?? 0)), 0);
}

describe('cross-witnessing between the queen and a real hive child (docs/audit.md "Witnesses")', () => {
  it('each tier records the other\'s head; after shutdown a cut hive tail verifies as TRUNCATED', async () => {
    q = await startTestQueen({ extra: { auditMode: 'local', auditWitnessIntervalMs: 500 } });
    const queen = q.queen;
    const worker = await q.spawn({ slots: 1 });
    // A worker writes its chain only when something happens: a refused token is one (durable at once).
    const port = (await queen.control.getSnapshot()).workers.find((w) => w.id === worker.id)?.port;
    expect((await fetch(`http://127.0.0.1:${port}/v1/ready`, { headers: { authorization: 'Bearer not-the-worker-token' } })).status).toBe(401);
    // Written by two processes on their own schedule (connect, then every 500 ms): poll the query.
    let records: AuditRecord[] = [];
    await expect
      .poll(
        async () => {
          records = (await queen.control.queryAudit({ limit: 500, event_types: ['witness'] })).records;
          return witnessed(records, 'queen', 'hive:local') > 0 && witnessed(records, 'hive:local', 'queen') > 0 && witnessed(records, 'queen', `worker:${worker.id}`) > 0;
        },
        { timeout: 60_000, interval: 200 },
      )
      .toBe(true);
    for (const r of records.filter((x) => x.event.event_type === 'witness')) {
      expect(r.event.details?.hash).toMatch(/^[0-9a-f]{64}$/);
    }

    closed = true;
    await queen.close();
    const root = join(q.dataDir, 'audit');
    const clean = await verifyAuditChains([root]);
    expect(clean.chains.map((c) => [c.chain, c.verdict])).toEqual(
      expect.arrayContaining([
        ['queen', 'OK'],
        ['hive:local', 'OK'],
        [`worker:${worker.id}`, 'OK'],
      ]),
    );
    expect(clean.ok).toBe(true);

    // The queen's last exchange ran before the hive stopped: cut the hive's chain back below it.
    const queenRecords = await readRecords(join(root, 'queen'));
    const seen = witnessed(queenRecords, 'queen', 'hive:local');
    const hiveDir = join(root, 'hive_local');
    const hiveHead = clean.chains.find((c) => c.chain === 'hive:local')?.head_seq ?? 0;
    expect(seen).toBeGreaterThan(1);
    expect(seen).toBeLessThanOrEqual(hiveHead);
    for (const f of await listAuditFiles(hiveDir)) {
      const path = join(hiveDir, f.name);
      const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
      await writeFile(path, lines.filter((l) => ((JSON.parse(l) as AuditRecord).seq ?? 0) < seen).map((l) => `${l}\n`).join(''));
    }
    const cut = await verifyAuditChains([root]);
    expect(cut.chains.find((c) => c.chain === 'hive:local')).toMatchObject({ verdict: 'TRUNCATED', head_seq: seen - 1, witnessed_seq: seen });
    expect(cut.ok).toBe(false);
  }, 180_000);
});

async function readRecords(dir: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for (const f of await listAuditFiles(dir)) {
    for (const l of (await readFile(join(dir, f.name), 'utf8')).split('\n')) if (l !== '') out.push(JSON.parse(l) as AuditRecord);
  }
  return out;
}
