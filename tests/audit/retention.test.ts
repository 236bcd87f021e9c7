import { readdir, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SettingsPatchSchema } from '../../src-shared/control/controlSchemas.js';
import { listAuditFiles } from '../../src-main/audit/auditFiles.js';
import { auditSinkFromEnv } from '../../src-main/audit/createAuditSink.js';
import { LocalAuditLog } from '../../src-main/audit/LocalAuditLog.js';
import { verifyAuditChains } from '../../src-main/audit/verifyAuditChains.js';
import { SettingsStore } from '../../src-main/queen/control/SettingsStore.js';
import { makeTempDir, readAllRecords, workerEvent } from './helpers.js';

const DAY = 86_400_000;
let root: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir: root, cleanup } = await makeTempDir()));
afterEach(async () => cleanup());

/** A chain over several size-rotated files, written "now" by an injected clock. */
async function chain(now: () => number): Promise<{ log: LocalAuditLog; dir: string }> {
  const dir = join(root, 'hive_gpu1');
  const log = await LocalAuditLog.open({ dir, serviceId: 'hive:gpu1', maxFileBytes: 4096, clock: now });
  for (let i = 0; i < 80; i++) await log.emit(workerEvent(i));
  await log.flush();
  return { log, dir };
}

async function ageFiles(dir: string, names: string[], at: number): Promise<void> {
  for (const n of names) await utimes(join(dir, n), new Date(at), new Date(at));
}

describe('retention (docs/audit.md "Retention", acceptance 3)', () => {
  it('drops files older than N days after a retention record; verify stays OK, naming the retention point', async () => {
    let clock = Date.parse('2026-11-01T10:00:00Z');
    const { log, dir } = await chain(() => clock);
    const files = (await listAuditFiles(dir)).map((f) => f.name);
    expect(files.length).toBeGreaterThan(4);
    // The three oldest files were last written 10 days ago; the others are fresh.
    clock += 10 * DAY;
    await ageFiles(dir, files.slice(0, 3), clock - 10 * DAY);
    await ageFiles(dir, files.slice(3), clock - 1000);
    const firstKept = (await readAllRecords(dir)).find((r) => r.file === files[3])?.record;

    log.setRetention({ days: 7, maxBytes: null });
    const result = await log.applyRetention();
    expect(result).toMatchObject({ removed: files.slice(0, 3), firstKeptSeq: firstKept?.seq, firstKeptPrevHash: firstKept?.prev_hash, firstKeptFile: files[3] });
    // (The retention record itself may open a new file: a new day here.)
    const remaining = (await listAuditFiles(dir)).map((f) => f.name);
    expect(remaining.slice(0, files.length - 3)).toEqual(files.slice(3));
    expect(await readdir(dir).then((names) => names.filter((n) => files.slice(0, 3).includes(n)))).toEqual([]);
    // The next run finds nothing more to drop.
    expect(await log.applyRetention()).toBeNull();
    await log.close();

    const records = (await readAllRecords(dir)).map((r) => r.record);
    const retention = records.find((r) => r.event.event_type === 'retention');
    expect(retention?.event).toMatchObject({ reason: 'retention_days', details: { first_kept_seq: firstKept?.seq, first_kept_prev_hash: firstKept?.prev_hash, removed_files: 3 } });
    const report = await verifyAuditChains([root]);
    expect(report.chains).toEqual([expect.objectContaining({ chain: 'hive:gpu1', verdict: 'OK', retention_from_seq: firstKept?.seq })]);
    expect(report.ok).toBe(true);

    // Removing the next file by hand (no retention record names that point) is still a GAP.
    const { unlink } = await import('node:fs/promises');
    await unlink(join(dir, files[3] as string));
    const cut = await verifyAuditChains([root]);
    expect(cut.chains[0]).toMatchObject({ verdict: 'GAP' });
  });

  it('audit_max_bytes keeps a chain under its size by dropping its oldest files; the file being written is never dropped', async () => {
    const clock = Date.parse('2026-11-01T10:00:00Z');
    const { log, dir } = await chain(() => clock);
    const before = await listAuditFiles(dir);
    const sizes = await Promise.all(before.map((f) => stat(join(dir, f.name)).then((s) => s.size)));
    const total = sizes.reduce((a, b) => a + b, 0);
    log.setRetention({ days: null, maxBytes: Math.floor(total / 2) });
    const result = await log.applyRetention();
    expect(result?.removed.length).toBeGreaterThan(0);
    const after = await listAuditFiles(dir);
    // A prefix went; the file being written then (and any the retention record opened) stayed.
    const removed = result?.removed.length ?? 0;
    expect(after.slice(0, before.length - removed).map((f) => f.name)).toEqual(before.slice(removed).map((f) => f.name));
    const kept = await Promise.all(before.slice(removed).map((f) => stat(join(dir, f.name)).then((s) => s.size)));
    expect(kept.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(Math.floor(total / 2) + 4096);
    await log.close();
    const report = await verifyAuditChains([root]);
    expect(report.chains[0]).toMatchObject({ verdict: 'OK', retention_from_seq: result?.firstKeptSeq });
  });

  it('a verify whose retention run stopped midway (record written, only some files deleted) stays OK', async () => {
    let clock = Date.parse('2026-11-01T10:00:00Z');
    const { log, dir } = await chain(() => clock);
    const files = (await listAuditFiles(dir)).map((f) => f.name);
    clock += 10 * DAY;
    await ageFiles(dir, files.slice(0, 3), clock - 10 * DAY);
    await ageFiles(dir, files.slice(3), clock - 1000);
    // The record goes in, but deletion "crashes" after the first file: put the other two back.
    const { readFile, writeFile } = await import('node:fs/promises');
    const saved = await Promise.all(files.slice(1, 3).map((n) => readFile(join(dir, n))));
    log.setRetention({ days: 7, maxBytes: null });
    await log.applyRetention();
    await Promise.all(files.slice(1, 3).map((n, i) => writeFile(join(dir, n), saved[i] as Buffer)));
    await log.close();
    const report = await verifyAuditChains([root]);
    expect(report.chains[0]).toMatchObject({ verdict: 'OK' });
  });

  it('settings and environment: flat audit_retention_days / audit_max_bytes, validated; LLORCH_AUDIT_RETENTION_DAYS must be a whole number', async () => {
    expect(SettingsPatchSchema.safeParse({ audit_retention_days: 30, audit_max_bytes: null }).success).toBe(true);
    expect(SettingsPatchSchema.safeParse({ audit_retention_days: 0 }).success).toBe(false);
    expect(SettingsPatchSchema.safeParse({ audit_max_bytes: 10 }).success).toBe(false);
    const store = await SettingsStore.open(join(root, 'settings.json'), { audit_mode: 'local' });
    const seen: unknown[] = [];
    store.onChange(() => seen.push(store.auditRetention));
    await store.update({ audit_retention_days: 30 });
    expect(seen).toEqual([{ days: 30, maxBytes: null }]);
    const reopened = await SettingsStore.open(join(root, 'settings.json'), { audit_mode: 'local' });
    expect(reopened.view({ queen_port: 1, hive_port: 2, api_token_fingerprint: 'token:x', models_dir: '/m' })).toMatchObject({ audit_retention_days: 30, audit_max_bytes: null });
    await expect(auditSinkFromEnv('queen', { LLORCH_AUDIT_MODE: 'local', LLORCH_AUDIT_DIR: root, LLORCH_AUDIT_RETENTION_DAYS: 'soon' })).rejects.toThrow(/LLORCH_AUDIT_RETENTION_DAYS/);
  });
});
