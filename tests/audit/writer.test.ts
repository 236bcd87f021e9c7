import { appendFile, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src-shared/audit/AuditEvent.js';
import { AuditClosedError, AuditDirLockedError, AuditLowDiskError, AuditQueueFullError } from '../../src-shared/audit/AuditErrors.js';
import { LocalAuditLog } from '../../src-main/audit/LocalAuditLog.js';
import { auditSinkFromEnv, createAuditSink } from '../../src-main/audit/createAuditSink.js';
import { registerAuditMetrics } from '../../src-main/audit/auditMetrics.js';
import { verifyAuditDir } from '../../src-main/audit/verifyAuditDir.js';
import { listAuditFiles } from '../../src-main/audit/auditFiles.js';
import { queryAuditTree } from '../../src-main/audit/auditTree.js';
import { verifyAuditTree } from '../../src-main/audit/verifyAuditChains.js';
import { makeTempDir, readAllRecords, sideFiles, workerEvent } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir()));
afterEach(async () => cleanup());

describe('disabled mode', () => {
  it('opens no file and creates no folder; emit resolves', async () => {
    const target = join(dir, 'never');
    const fdsBefore = (await readdir('/proc/self/fd')).length;
    const log = await createAuditSink({ mode: 'disabled', serviceId: 'hive', dir: target });
    for (let i = 0; i < 100; i++) await log.emit(workerEvent(i));
    await log.flush();
    expect(await log.query({})).toEqual({ records: [], next_cursor: null });
    await log.close();
    await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await readdir('/proc/self/fd')).length).toBeLessThanOrEqual(fdsBefore);
    expect(log.mode).toBe('disabled');
  });

  it('auditSinkFromEnv: unset → disabled, local+dir → local, local without dir or a bad mode → clear error', async () => {
    expect((await auditSinkFromEnv('hive', {})).mode).toBe('disabled');
    await expect(auditSinkFromEnv('hive', { LLORCH_AUDIT_MODE: 'local' })).rejects.toThrow(/LLORCH_AUDIT_DIR/);
    await expect(auditSinkFromEnv('hive', { LLORCH_AUDIT_MODE: 'cloud' })).rejects.toThrow(/not a valid audit mode/);
    const log = await auditSinkFromEnv('hive', { LLORCH_AUDIT_MODE: 'local', LLORCH_AUDIT_DIR: dir });
    expect(log.mode).toBe('local');
    await log.emit(workerEvent(1), { durable: true });
    await log.close();
    expect((await readAllRecords(join(dir, 'hive'))).map((r) => r.record.event.event_type)).toEqual(['worker_spawned', 'audit_sealed']);
  });

  it('services sharing one LLORCH_AUDIT_DIR get one folder (one chain) each; the tree verifies and queries as one', async () => {
    const env = { LLORCH_AUDIT_MODE: 'local', LLORCH_AUDIT_DIR: dir };
    const queen = await auditSinkFromEnv('queen', env);
    const hive = await auditSinkFromEnv('hive:gpu1', env);
    const worker = await auditSinkFromEnv('worker:w/1', env);
    expect([queen.dir, hive.dir, worker.dir]).toEqual([join(dir, 'queen'), join(dir, 'hive_gpu1'), join(dir, 'worker_w_1')]);
    for (let i = 0; i < 4; i++) {
      await queen.emit({ event_type: 'hive_connected', hive_id: 'gpu1', details: { i } }, { durable: true });
      await hive.emit({ event_type: 'worker_spawned', worker_id: 'w/1', details: { i } }, { durable: true });
      await worker.emit({ event_type: 'worker_ready', worker_id: 'w/1', details: { i } }, { durable: true });
    }
    await Promise.all([queen.close(), hive.close(), worker.close()]);
    // 12 events + one seal per chain at close.
    expect(await verifyAuditTree(dir)).toMatchObject({ ok: true, entries: 15, files: 3, chain_count: 3 });
    const page = await queryAuditTree(dir, { limit: 100 });
    expect(page.records).toHaveLength(15);
    expect(new Set(page.records.map((r) => r.service_id))).toEqual(new Set(['queen', 'hive:gpu1', 'worker:w/1']));
    for (let k = 1; k < page.records.length; k++) expect(page.records[k - 1]!.timestamp >= page.records[k]!.timestamp).toBe(true);

    const hiveFile = (await listAuditFiles(join(dir, 'hive_gpu1')))[0]?.name as string;
    const lines = (await readFile(join(dir, 'hive_gpu1', hiveFile), 'utf8')).split('\n');
    lines.splice(1, 1);
    await writeFile(join(dir, 'hive_gpu1', hiveFile), lines.join('\n'));
    expect(await verifyAuditTree(dir)).toMatchObject({ ok: false, error: { kind: 'GAP', file: `hive_gpu1/${hiveFile}`, line: 2 } }); // seq 2 is gone
  });
});

describe('local writer', () => {
  it('critical events are on disk when emit resolves; records are sanitised and never carry a raw token', async () => {
    const log = await LocalAuditLog.open({ dir, serviceId: 'queen', syncDelayMs: 60_000, secrets: () => ['s3cr3t-queen-token-abcdef'] });
    const seen: AuditRecord[] = [];
    log.onRecord((r) => seen.push(r));
    await log.emit({
      event_type: 'auth_failure',
      actor: 'abcdefghijklmnopqrstuvwxyz012345', // a raw token passed by mistake
      client_ip: '10.0.0.7',
      path: '/v1/models\n/forged-line',
      reason: 'header was Bearer s3cr3t-queen-token-abcdef, see '.repeat(1) + 'x'.repeat(3000),
      details: { authorization: 'Bearer hunter2', api_key: 'k', count: 3, bad: Number.NaN, 'we ird key!': 'v' },
    });
    // Read the file without closing the log: the critical event is there already.
    const text = await readFile(join(dir, (await listAuditFiles(dir))[0]?.name as string), 'utf8');
    const rec = JSON.parse(text.trim()) as AuditRecord;
    expect(rec.event.actor).toMatch(/^token:[0-9a-f]{6}$/);
    expect(rec.event.client_ip).toBe('10.0.0.7');
    expect(rec.event.path).not.toContain('\n');
    expect(rec.event.reason?.length).toBeLessThanOrEqual(1024);
    expect(rec.event.reason).toMatch(/…\[\+\d+\]$/);
    expect(text).not.toContain('s3cr3t-queen-token');
    expect(text).not.toContain('hunter2');
    expect(rec.event.details).toMatchObject({ count: 3, bad: null, we_ird_key_: 'v' });
    expect(rec.event.details?.authorization).toMatch(/^token:[0-9a-f]{6}$/);
    expect(seen.map((r) => r.audit_id)).toEqual([rec.audit_id]);
    await log.close();
    await expect(log.emit(workerEvent(1))).rejects.toBeInstanceOf(AuditClosedError);
  });

  it('token:<fp6> is the fingerprint DESIGN names ("test" → 9f86d0)', async () => {
    const log = await LocalAuditLog.open({ dir, serviceId: 'queen' });
    await log.emit({ event_type: 'request_rejected', reason: 'Bearer test' }, { durable: true });
    await log.close();
    expect((await readAllRecords(dir))[0]?.record.event.reason).toBe('Bearer token:9f86d0');
  });

  it('one writer per folder: a second open is refused while the first holds it', async () => {
    const a = await LocalAuditLog.open({ dir, serviceId: 'queen' });
    await expect(LocalAuditLog.open({ dir, serviceId: 'hive' })).rejects.toBeInstanceOf(AuditDirLockedError);
    await a.close();
    const b = await LocalAuditLog.open({ dir, serviceId: 'hive' });
    await b.close();
  });

  it('queue full → emit rejects with AuditQueueFullError, the metric counts it, and resumption is recorded', async () => {
    const registry = new Registry();
    const log = await LocalAuditLog.open({ dir, serviceId: 'hive', maxQueue: 5, metrics: registerAuditMetrics(registry) });
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => log.emit(workerEvent(i))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected).toHaveLength(7);
    for (const r of rejected) {
      expect(r.reason).toBeInstanceOf(AuditQueueFullError);
      expect((r.reason as Error).message).toMatch(/queue full/);
    }
    await log.flush();
    const metric = await registry.getSingleMetricAsString('rbee_audit_rejected_total');
    expect(metric).toContain('rbee_audit_rejected_total{service="hive",reason="queue_full"} 7');
    expect(log.stats().rejected.queue_full).toBe(7);
    await log.close();
    const events = (await readAllRecords(dir)).map((r) => r.record.event);
    expect(events.filter((e) => e.event_type === 'worker_spawned')).toHaveLength(5);
    expect(events.at(-2)).toMatchObject({ event_type: 'audit_writes_resumed', reason: 'queue_drained', details: { refused_events: 7 } });
    expect(events.at(-1)?.event_type).toBe('audit_sealed');
    expect((await verifyAuditDir(dir)).ok).toBe(true);
  });

  it('low disk → refuses with a clear error; once space returns, writes resume with an event', async () => {
    let free = 10 * 1024 * 1024;
    const errors: Error[] = [];
    const log = await LocalAuditLog.open({
      dir,
      serviceId: 'hive',
      minFreeBytes: 64 * 1024 * 1024,
      diskProbeIntervalMs: 0,
      freeSpaceProbe: () => Promise.resolve(free),
      onError: (e) => errors.push(e),
    });
    // The first batch's probe finds the disk low; what was accepted before that is still written.
    await log.emit(workerEvent(0), { durable: true });
    const refused = log.emit(workerEvent(1));
    await expect(refused).rejects.toBeInstanceOf(AuditLowDiskError);
    await expect(refused).rejects.toThrow(/10\.0 MiB free in .* below the 64\.0 MiB threshold/);
    await expect(log.emit({ event_type: 'auth_failure', client_ip: '1.2.3.4' })).rejects.toBeInstanceOf(AuditLowDiskError);
    expect(log.stats()).toMatchObject({ lowDisk: true, rejected: { low_disk: 2 } });
    expect(errors.some((e) => e instanceof AuditLowDiskError)).toBe(true);

    free = 10 * 1024 * 1024 * 1024;
    await log.emit(workerEvent(2), { durable: true });
    await log.close();
    const events = (await readAllRecords(dir)).map((r) => r.record.event);
    expect(events.map((e) => e.event_type)).toEqual(['worker_spawned', 'audit_writes_resumed', 'worker_spawned', 'audit_sealed']);
    expect(events[1]).toMatchObject({ reason: 'disk_space_recovered', details: { refused_events: 2 } });
    expect((await verifyAuditDir(dir)).ok).toBe(true);
  });

  it('a torn last line is quarantined to a side file, reported, and the chain continues from the last good entry', async () => {
    let log = await LocalAuditLog.open({ dir, serviceId: 'hive' });
    for (let i = 0; i < 10; i++) void log.emit(workerEvent(i));
    await log.close();
    const name = (await listAuditFiles(dir))[0]?.name as string;
    const good = await readAllRecords(dir);
    const torn = '{"audit_id":"half-written","timestamp":"2026-';
    await appendFile(join(dir, name), torn);
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: false, error: { kind: 'Unparsable', line: 12 } }); // 10 events + the seal, then the torn line

    log = await LocalAuditLog.open({ dir, serviceId: 'hive' });
    expect(log.recovery.resumedFrom).toEqual({ file: name, audit_id: good[10]?.record.audit_id });
    expect(log.recovery.quarantined).toEqual([{ file: name, quarantineFile: expect.stringMatching(/\.torn-\d+$/), bytes: torn.length, lines: 1 }]);
    await log.emit(workerEvent(10), { durable: true });
    await log.close();

    const [side] = await sideFiles(dir);
    expect(await readFile(join(dir, side as string), 'utf8')).toBe(torn);
    expect((await stat(join(dir, side as string))).mode & 0o777).toBe(0o600);
    const all = await readAllRecords(dir);
    expect(all[11]?.record.event).toMatchObject({ event_type: 'audit_integrity_violation', reason: 'torn_tail_quarantined' });
    expect(all[11]?.record.prev_hash).toBe(good[10]?.record.hash);
    expect(all[11]?.record.seq).toBe(12); // seq continues across the restart
    expect(all[12]?.record.event.details).toEqual({ n: 10 });
    expect(await verifyAuditDir(dir)).toEqual({ ok: true, entries: 14, files: 1 });
  });

  it('trailing garbage lines (NULs after a power cut) are quarantined too; an edited-but-parsable tail is not hidden', async () => {
    let log = await LocalAuditLog.open({ dir, serviceId: 'hive' });
    for (let i = 0; i < 3; i++) void log.emit(workerEvent(i));
    await log.close();
    const name = (await listAuditFiles(dir))[0]?.name as string;
    await appendFile(join(dir, name), '\0\0\0\0\n\0\0\0');
    log = await LocalAuditLog.open({ dir, serviceId: 'hive' });
    expect(log.recovery.quarantined[0]).toMatchObject({ bytes: 8, lines: 2 });
    await log.close();
    expect((await verifyAuditDir(dir)).ok).toBe(true);

    // Edit the last entry while no writer runs: the next start records the mismatch, verify still names it.
    const path = join(dir, name);
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    const last = JSON.parse(lines.at(-1) as string) as AuditRecord;
    last.event = { ...last.event, reason: 'edited' };
    lines[lines.length - 1] = JSON.stringify(last);
    await writeFile(path, `${lines.join('\n')}\n`);
    log = await LocalAuditLog.open({ dir, serviceId: 'hive' });
    expect(log.recovery.tailHashMismatch).toBe(true);
    await log.close();
    const all = await readAllRecords(dir);
    expect(all.at(-2)?.record.event).toMatchObject({ event_type: 'audit_integrity_violation', reason: 'tail_hash_mismatch' });
    expect(await verifyAuditDir(dir)).toMatchObject({ ok: false, error: { kind: 'InvalidHash', line: lines.length } });
  });

  it('group commit: an ordinary event is fsynced by the writer itself (bounded delay), without a flush', async () => {
    let synced: () => void = () => undefined;
    const firstSync = new Promise<void>((resolve) => (synced = resolve));
    const log = await LocalAuditLog.open({
      dir,
      serviceId: 'hive',
      syncDelayMs: 5,
      metrics: { rejected: () => undefined, written: () => undefined, queueDepth: () => undefined, degraded: () => undefined, synced: () => synced() },
    });
    await log.emit(workerEvent(1)); // resolves on acceptance
    expect(log.stats().syncs).toBe(0);
    await firstSync;
    expect(log.stats()).toMatchObject({ written: 1, syncs: 1 });
    await log.close();
  });

  it('a failed write (ENOSPC from /dev/full) rejects the batch with AuditIoError, is counted, and later emits are refused', async () => {
    const { symlink } = await import('node:fs/promises');
    await symlink('/dev/full', join(dir, '2026-11-27.audit'));
    const errors: Error[] = [];
    const log = await LocalAuditLog.open({ dir, serviceId: 'hive', clock: () => Date.parse('2026-11-27T12:00:00Z'), onError: (e) => errors.push(e) });
    await expect(log.emit({ event_type: 'auth_failure', client_ip: '1.1.1.1' })).rejects.toMatchObject({ code: 'AUDIT_IO' });
    expect(log.stats().rejected.io_error).toBe(1);
    expect(errors.length).toBeGreaterThan(0);
    await expect(log.emit(workerEvent(1))).rejects.toBeInstanceOf(AuditClosedError);
    await log.close();
  });

  it('flush makes ordinary events durable; stats count writes and syncs', async () => {
    const log = await LocalAuditLog.open({ dir, serviceId: 'hive', syncDelayMs: 60_000 });
    for (let i = 0; i < 50; i++) void log.emit(workerEvent(i));
    await log.flush();
    expect(log.stats()).toMatchObject({ written: 50, queueDepth: 0 });
    expect(log.stats().syncs).toBeGreaterThanOrEqual(1);
    expect((await log.verify()).ok).toBe(true);
    await log.close();
  });
});

describe('recording sink (for other tiers\' tests)', () => {
  it('keeps sanitised events and waits for a matching one', async () => {
    const { createRecordingAuditSink } = await import('../helpers/recordingAuditSink.js');
    const sink = createRecordingAuditSink();
    const waiting = sink.waitFor((e) => e.event_type === 'auth_failure');
    await sink.emit({ event_type: 'worker_ready' });
    await sink.emit({ event_type: 'auth_failure', client_ip: '10.1.1.1', reason: 'Bearer test' });
    expect(await waiting).toMatchObject({ client_ip: '10.1.1.1', reason: 'Bearer token:9f86d0' });
    await expect(sink.waitFor((e) => e.event_type === 'hive_lost', 20)).rejects.toThrow(/matching audit event not met within 20 ms/);
  });
});

describe('writer lock', () => {
  it('takes over a lock left by a dead process or written before the last boot, not one of a live process', async () => {
    const { writeFile: write } = await import('node:fs/promises');
    const lock = join(dir, '.writer.lock');
    // A live process (pid 1 always is) that took the lock after boot: refused.
    await write(lock, `1\n${Date.now()}\n`);
    await expect(LocalAuditLog.open({ dir, serviceId: 'a' })).rejects.toBeInstanceOf(AuditDirLockedError);
    // The same PID, but the lock predates the boot: stale.
    await write(lock, `1\n${Date.now() - 400 * 24 * 3600 * 1000}\n`);
    const a = await LocalAuditLog.open({ dir, serviceId: 'a' });
    await a.close();
    // A PID that is not running: stale.
    await write(lock, `2147483646\n${Date.now()}\n`);
    const b = await LocalAuditLog.open({ dir, serviceId: 'b' });
    await b.close();
    await expect(stat(lock)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
