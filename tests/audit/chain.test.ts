import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_GENESIS_HASH } from '../../src-shared/audit/AuditEvent.js';
import { LocalAuditLog } from '../../src-main/audit/LocalAuditLog.js';
import { verifyAuditDir } from '../../src-main/audit/verifyAuditDir.js';
import { computeRecordHash } from '../../src-main/audit/canonicalJson.js';
import { listAuditFiles } from '../../src-main/audit/auditFiles.js';
import { makeTempDir, readAllRecords, workerEvent } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir()));
afterEach(async () => cleanup());

/** A clock that starts 25 minutes before midnight UTC and advances 3 s per call: the run crosses a day. */
function clockCrossingMidnight(): () => number {
  let t = Date.parse('2026-11-27T23:35:00.000Z');
  return () => (t += 3000);
}

async function write1000(): Promise<void> {
  const clock = clockCrossingMidnight();
  // 1,000 events: 500, a restart of the writer, 500 more; small files force size rotation too.
  let log = await LocalAuditLog.open({ dir, serviceId: 'queen', maxFileBytes: 24 * 1024, clock });
  for (let i = 0; i < 500; i++) void log.emit(workerEvent(i));
  await log.close();
  log = await LocalAuditLog.open({ dir, serviceId: 'queen', maxFileBytes: 24 * 1024, clock });
  expect(log.recovery.resumedFrom).not.toBeNull();
  expect(log.recovery.quarantined).toEqual([]);
  for (let i = 500; i < 1000; i++) void log.emit(workerEvent(i));
  await log.close();
}

describe('audit hash chain (acceptance 1)', () => {
  it('1,000 events across day + size rotation and a writer restart verify clean, in order, one chain', async () => {
    await write1000();
    const files = await listAuditFiles(dir);
    expect(files.map((f) => f.date)).toContain('2026-11-27');
    expect(files.map((f) => f.date)).toContain('2026-11-28');
    expect(files.some((f) => f.seq > 0)).toBe(true); // size rotation happened
    for (const f of files) expect((await stat(join(dir, f.name))).mode & 0o777).toBe(0o600);

    const result = await verifyAuditDir(dir);
    // 1,000 events plus one clean-shutdown seal per writer run (two runs).
    expect(result).toEqual({ ok: true, entries: 1002, files: files.length });

    const all = await readAllRecords(dir);
    const events = all.filter((r) => r.record.event.event_type !== 'audit_sealed');
    expect(events.map((r) => r.record.event.details?.n)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    // seq runs 1, 2, 3 … across day and size rotation and the restart.
    expect(all.map((r) => r.record.seq)).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    expect(all[0]?.record.prev_hash).toBe(AUDIT_GENESIS_HASH);
    for (let i = 1; i < all.length; i++) expect(all[i]?.record.prev_hash).toBe(all[i - 1]?.record.hash);
    for (const { record } of all) expect(computeRecordHash(record)).toBe(record.hash);
  });

  it("editing entry #3's payload → InvalidHash naming #3", async () => {
    await write1000();
    const first = (await listAuditFiles(dir))[0]?.name as string;
    const path = join(dir, first);
    const lines = (await readFile(path, 'utf8')).split('\n');
    const third = JSON.parse(lines[2] as string) as { audit_id: string; event: { details: { n: number } } };
    third.event.details.n = 999_999;
    lines[2] = JSON.stringify(third);
    await writeFile(path, lines.join('\n'));
    expect(await verifyAuditDir(dir)).toEqual({
      ok: false,
      entries: 2,
      files: expect.any(Number),
      error: { kind: 'InvalidHash', file: first, line: 3, audit_id: third.audit_id },
    });
  });

  it('re-hashing an edited entry does not help: the next entry is a BrokenChain', async () => {
    await write1000();
    const first = (await listAuditFiles(dir))[0]?.name as string;
    const path = join(dir, first);
    const lines = (await readFile(path, 'utf8')).split('\n');
    const rec = JSON.parse(lines[2] as string) as Parameters<typeof computeRecordHash>[0] & { hash: string };
    rec.event = { ...rec.event, reason: 'forged' };
    rec.hash = computeRecordHash(rec);
    lines[2] = JSON.stringify(rec);
    await writeFile(path, lines.join('\n'));
    const result = await verifyAuditDir(dir);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatchObject({ kind: 'BrokenChain', file: first, line: 4 });
  });

  it('deleting a line → BrokenChain at the entry after it; deleting a file\'s first line → BrokenChain there', async () => {
    await write1000();
    const files = await listAuditFiles(dir);
    const second = files[1]?.name as string;
    const all = await readAllRecords(dir);
    const inSecond = all.filter((r) => r.file === second);
    const path = join(dir, second);
    const lines = (await readFile(path, 'utf8')).split('\n');
    lines.splice(9, 1); // delete line 10 of the second file
    await writeFile(path, lines.join('\n'));
    const result = await verifyAuditDir(dir);
    const before = all.findIndex((r) => r.file === second) + 9;
    expect(result).toEqual({
      ok: false,
      entries: before,
      files: files.length,
      error: { kind: 'BrokenChain', file: second, line: 10, audit_id: inSecond[10]?.record.audit_id },
    });

    // Restore, then cut the first line of the third file: the chain across files breaks there.
    await writeFile(path, inSecond.map((r) => JSON.stringify(r.record)).join('\n') + '\n');
    expect((await verifyAuditDir(dir)).ok).toBe(true);
    const third = files[2]?.name as string;
    const thirdPath = join(dir, third);
    const thirdLines = (await readFile(thirdPath, 'utf8')).split('\n');
    const secondOfThird = JSON.parse(thirdLines[1] as string) as { audit_id: string };
    await writeFile(thirdPath, thirdLines.slice(1).join('\n'));
    const r2 = await verifyAuditDir(dir);
    expect(r2.ok).toBe(false);
    if (!r2.ok) expect(r2.error).toEqual({ kind: 'BrokenChain', file: third, line: 1, audit_id: secondOfThird.audit_id });
  });

  it('a garbage line is reported as Unparsable with its line number', async () => {
    const log = await LocalAuditLog.open({ dir, serviceId: 'queen' });
    for (let i = 0; i < 5; i++) void log.emit(workerEvent(i));
    await log.close();
    const name = (await listAuditFiles(dir))[0]?.name as string;
    const lines = (await readFile(join(dir, name), 'utf8')).split('\n');
    lines.splice(2, 0, 'not json');
    await writeFile(join(dir, name), lines.join('\n'));
    const result = await verifyAuditDir(dir);
    expect(result).toMatchObject({ ok: false, entries: 2, error: { kind: 'Unparsable', file: name, line: 3, audit_id: null } });
  });
});
