import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryAuditTree } from '../../src-main/audit/auditTree.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { createQueen } from '../../src-main/queen/createQueen.js';
import type { Queen } from '../../src-main/queen/Queen.js';
import type { AuditRecord } from '../../src-shared/audit/AuditEvent.js';

/**
 * An auth-failure flood against a real queen with a real audit log: 10,000 bad tokens from 127.0.0.1.
 * The failing requests are cooled down (429), the audit log stays small (coalesced records with a
 * count), and the good key from the same address is served throughout.
 */
const TOKEN = 'flood-test-good-token-0123456789';
const BAD_REQUESTS = 10_000;
const PARALLEL = 32;

let dataDir: string;
let queen: Queen;
const agent = new Agent({ connections: PARALLEL + 2, pipelining: 1 });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'rbee-flood-'));
  queen = await createQueen({ dataDir, port: 0, apiToken: TOKEN, localHive: false, remoteHives: false, auditMode: 'local', logger: createLogger('queen', { level: 'silent' }) });
});
afterAll(async () => {
  await queen?.close();
  await agent.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function status(token: string): Promise<number> {
  const { fetch } = await import('undici');
  const res = await fetch(`${queen.url}/v1/control/snapshot`, { headers: { authorization: `Bearer ${token}` }, dispatcher: agent });
  await res.arrayBuffer();
  return res.status;
}

describe('auth-failure flood from one IP', () => {
  it('10,000 bad tokens → 429s, ≤ 100 auth_failure records with counts, the good key served throughout', async () => {
    const counts = new Map<number, number>();
    const goodStatuses: number[] = [];
    let sent = 0;
    const flooder = async (): Promise<void> => {
      while (sent < BAD_REQUESTS) {
        sent += 1;
        // Half random tokens (one fingerprint each), half one repeated wrong token.
        const token = sent % 2 === 0 ? randomBytes(12).toString('hex') : 'the-same-wrong-token';
        const code = await status(token);
        counts.set(code, (counts.get(code) ?? 0) + 1);
        if (sent % 500 === 0) goodStatuses.push(await status(TOKEN));
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, flooder));
    goodStatuses.push(await status(TOKEN));

    expect([...counts.keys()].sort()).toEqual([401, 429]);
    expect(counts.get(429)).toBeGreaterThan(BAD_REQUESTS / 2);
    expect(goodStatuses.length).toBeGreaterThanOrEqual(20);
    expect(goodStatuses.every((s) => s === 200)).toBe(true);

    await queen.close(); // flushes the open coalescing windows and the audit writer
    const page = await queryAuditTree(join(dataDir, 'audit'), { event_types: ['auth_failure'], limit: 500 });
    const records: AuditRecord[] = page.records;
    expect(records.length).toBeGreaterThan(0);
    expect(records.length).toBeLessThanOrEqual(100);
    const total = records.reduce((sum, r) => sum + Number(r.event.details?.count ?? 1), 0);
    // Every failure is accounted for in some record's count (none is lost by coalescing).
    expect(total).toBe(BAD_REQUESTS);
    expect(records.every((r) => r.event.client_ip === '127.0.0.1')).toBe(true);
    expect(JSON.stringify(records)).not.toContain('the-same-wrong-token');
    expect(records.some((r) => r.event.actor === 'token:*')).toBe(true);
  }, 300_000);
});
