import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEventType, AuditPage, AuditQuery, AuditRecord } from '../../src-shared/audit/AuditEvent.js';
import { AuditQueryError } from '../../src-shared/audit/AuditErrors.js';
import { compareAuditRecordsNewestFirst, queryAuditSources } from '../../src-shared/audit/mergeAuditPages.js';
import type { AuditSource } from '../../src-shared/audit/mergeAuditPages.js';
import { LocalAuditLog } from '../../src-main/audit/LocalAuditLog.js';
import { queryAuditDir } from '../../src-main/audit/queryAuditDir.js';
import { makeTempDir, readAllRecords } from './helpers.js';

let dirA: string;
let dirB: string;
const cleanups: (() => Promise<void>)[] = [];
beforeEach(async () => {
  const a = await makeTempDir();
  const b = await makeTempDir();
  dirA = a.dir;
  dirB = b.dir;
  cleanups.push(a.cleanup, b.cleanup);
});
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const TYPES: AuditEventType[] = ['auth_failure', 'worker_spawned', 'worker_crashed', 'hive_connected'];

/** Writes `count` events, one per simulated minute from `start`, over several small files and two days. */
async function fill(dir: string, serviceId: string, count: number, start: string, stepMs = 60_000): Promise<void> {
  let t = Date.parse(start);
  const log = await LocalAuditLog.open({ dir, serviceId, maxFileBytes: 8 * 1024, clock: () => (t += stepMs) });
  for (let i = 0; i < count; i++) {
    void log.emit({
      event_type: TYPES[i % TYPES.length] as AuditEventType,
      worker_id: `w-${i}`,
      client_ip: i % 10 === 0 ? '192.168.7.42' : '127.0.0.1',
      details: { i },
    });
  }
  await log.close();
}

async function pageAll(query: (q: AuditQuery) => Promise<AuditPage>, base: AuditQuery): Promise<{ records: AuditRecord[]; pages: number }> {
  const records: AuditRecord[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await query({ ...base, ...(cursor ? { cursor } : {}) });
    expect(page.records.length).toBeLessThanOrEqual(base.limit ?? 50);
    records.push(...page.records);
    cursor = page.next_cursor ?? undefined;
    pages++;
    expect(pages).toBeLessThan(1000);
  } while (cursor);
  return { records, pages };
}

describe('audit query', () => {
  it('pages newest first across files and days with an opaque cursor: every record once, none skipped', async () => {
    await fill(dirA, 'queen', 300, '2026-11-27T20:00:00.000Z'); // 300 min: crosses midnight
    const all = (await readAllRecords(dirA)).map((r) => r.record);
    const { records, pages } = await pageAll((q) => queryAuditDir(dirA, q), { limit: 37 });
    expect(pages).toBeGreaterThanOrEqual(9);
    expect(records.map((r) => r.audit_id)).toEqual(all.reverse().map((r) => r.audit_id));
  });

  it('filters by event type, service, time range (ISO or epoch ms) and free text', async () => {
    await fill(dirA, 'hive:gpu1', 120, '2026-11-27T22:00:00.000Z');
    const all = (await readAllRecords(dirA)).map((r) => r.record);
    const q = (query: AuditQuery) => pageAll((x) => queryAuditDir(dirA, x), { limit: 10, ...query }).then((r) => r.records);

    const crashes = await q({ event_types: ['worker_crashed', 'auth_failure'] });
    expect(crashes.map((r) => r.audit_id)).toEqual(
      all.filter((r) => ['worker_crashed', 'auth_failure'].includes(r.event.event_type)).reverse().map((r) => r.audit_id),
    );
    expect(await q({ service_id: 'queen' })).toEqual([]);
    expect((await q({ service_id: 'hive:gpu1' })).length).toBe(121); // 120 events + the close's seal

    const from = all[30]?.timestamp as string;
    const to = all[89]?.timestamp as string;
    const ranged = await q({ from, to: String(Date.parse(to)) });
    expect(ranged.map((r) => r.event.details?.i)).toEqual(Array.from({ length: 60 }, (_, k) => 89 - k));

    const text = await q({ text: '192.168.7.42' });
    expect(text.map((r) => r.event.details?.i)).toEqual([110, 100, 90, 80, 70, 60, 50, 40, 30, 20, 10, 0]);
    expect((await q({ text: 'W-17' })).map((r) => r.event.worker_id)).toEqual(['w-17']);
  });

  it('does not return a line still being written, and rejects malformed cursors and bounds', async () => {
    await fill(dirA, 'queen', 5, '2026-11-27T10:00:00.000Z');
    const { appendFile } = await import('node:fs/promises');
    const { listAuditFiles } = await import('../../src-main/audit/auditFiles.js');
    const name = (await listAuditFiles(dirA)).at(-1)?.name as string;
    await appendFile(`${dirA}/${name}`, '{"audit_id":"partial","times');
    expect((await queryAuditDir(dirA, {})).records).toHaveLength(6); // 5 events + the seal
    await expect(queryAuditDir(dirA, { cursor: 'garbage' })).rejects.toBeInstanceOf(AuditQueryError);
    const evil = Buffer.from(JSON.stringify({ v: 1, f: '../../etc/passwd', o: 0 })).toString('base64url');
    await expect(queryAuditDir(dirA, { cursor: evil })).rejects.toBeInstanceOf(AuditQueryError);
    await expect(queryAuditDir(dirA, { from: 'yesterday' })).rejects.toBeInstanceOf(AuditQueryError);
  });

  it('a live log streams each written record to onRecord subscribers, in chain order', async () => {
    const log = await LocalAuditLog.open({ dir: dirA, serviceId: 'queen' });
    const seen: string[] = [];
    const off = log.onRecord((r) => seen.push(`${r.event.worker_id}:${r.prev_hash.slice(0, 8)}`));
    for (let i = 0; i < 5; i++) void log.emit({ event_type: 'worker_ready', worker_id: `w${i}` });
    await log.flush();
    off();
    await log.emit({ event_type: 'worker_ready', worker_id: 'after' }, { durable: true });
    const page = await log.query({ limit: 10 });
    await log.close();
    const chain = page.records.slice().reverse();
    expect(seen).toEqual(chain.slice(0, 5).map((r) => `${r.event.worker_id}:${r.prev_hash.slice(0, 8)}`));
  });

  it('queryAuditSources merges several logs newest first across pages, and keeps the place of a failing source', async () => {
    await fill(dirA, 'queen', 90, '2026-11-27T10:00:00.000Z', 61_000);
    await fill(dirB, 'hive:gpu1', 70, '2026-11-27T10:00:30.000Z', 47_000);
    const expected = [...(await readAllRecords(dirA)), ...(await readAllRecords(dirB))]
      .map((r) => r.record)
      .sort(compareAuditRecordsNewestFirst); // ties (equal timestamps occur here) by service id
    const sources: AuditSource[] = [
      { id: 'queen', query: (q) => queryAuditDir(dirA, q) },
      { id: 'hive:gpu1', query: (q) => queryAuditDir(dirB, q) },
    ];
    const { records } = await pageAll((q) => queryAuditSources(sources, q), { limit: 13 });
    expect(records.map((r) => r.audit_id)).toEqual(expected.map((r) => r.audit_id));

    // A hive that is down on page 2: named unavailable, and its records still come, in order, later.
    let down = false;
    const flaky: AuditSource[] = [
      sources[0] as AuditSource,
      { id: 'hive:gpu1', query: (q) => (down ? Promise.reject(new Error('unreachable')) : queryAuditDir(dirB, q)) },
    ];
    const got: AuditRecord[] = [];
    let cursor: string | undefined;
    let page = 0;
    let sawUnavailable = false;
    do {
      down = page === 1;
      const p = await queryAuditSources(flaky, { limit: 20, ...(cursor ? { cursor } : {}) });
      if (p.unavailable.includes('hive:gpu1')) sawUnavailable = true;
      got.push(...p.records);
      cursor = p.next_cursor ?? undefined;
      page++;
    } while (cursor);
    expect(sawUnavailable).toBe(true);
    expect(new Set(got.map((r) => r.audit_id)).size).toBe(expected.length);
    const fromHive = got.filter((r) => r.service_id === 'hive:gpu1').map((r) => r.audit_id);
    expect(fromHive).toEqual(expected.filter((r) => r.service_id === 'hive:gpu1').map((r) => r.audit_id));
  });
});
