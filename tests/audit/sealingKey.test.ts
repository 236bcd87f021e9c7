import { rmSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src-shared/audit/AuditEvent.js';
import { AUDIT_GENESIS_HASH } from '../../src-shared/audit/AuditEvent.js';
import { listAuditFiles } from '../../src-main/audit/auditFiles.js';
import { computeRecordHash, recordMac } from '../../src-main/audit/canonicalJson.js';
import { auditSinkFromEnv } from '../../src-main/audit/createAuditSink.js';
import { AuditKeyFileError } from '../../src-main/audit/readAuditKeyFile.js';
import { verifyAuditChains } from '../../src-main/audit/verifyAuditChains.js';
import { startTestQueen, type TestQueen } from '../queen/queenHarness.js';
import { makeTempDir, readAllRecords, workerEvent } from './helpers.js';

const KEY = 'a-sealing-key-kept-outside-the-audit-folder';
let q: TestQueen | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  if (q) rmSync(q.dataDir, { recursive: true, force: true });
  for (const c of cleanups) await c();
});

async function keyFile(mode: number): Promise<string> {
  const { dir, cleanup } = await makeTempDir('rbee-audit-key-');
  cleanups.push(cleanup);
  const path = join(dir, 'audit.key');
  await writeFile(path, `${KEY}\n`);
  await chmod(path, mode);
  return path;
}

describe('the sealing key, wired from LLORCH_AUDIT_KEY_FILE / --audit-key-file (docs/audit.md "The sealing key")', () => {
  it('the daemons read LLORCH_AUDIT_KEY_FILE: a key file readable by others is a startup error; a 0400 one seals every record', async () => {
    const { dir, cleanup } = await makeTempDir();
    cleanups.push(cleanup);
    const open = await keyFile(0o644);
    await expect(auditSinkFromEnv('hive:k', { LLORCH_AUDIT_MODE: 'local', LLORCH_AUDIT_DIR: dir, LLORCH_AUDIT_KEY_FILE: open })).rejects.toBeInstanceOf(AuditKeyFileError);
    const log = await auditSinkFromEnv('hive:k', { LLORCH_AUDIT_MODE: 'local', LLORCH_AUDIT_DIR: dir, LLORCH_AUDIT_KEY_FILE: await keyFile(0o400) });
    await log.emit(workerEvent(1));
    await log.close();
    const records = await readAllRecords(join(dir, 'hive_k'));
    expect(records.length).toBe(2);
    for (const { record } of records) expect(record.mac).toBe(recordMac(Buffer.from(KEY), record.hash));
  });

  it('a real queen and its hive child seal with the key; the queen\'s chain rebuilt without it is EDITED (BadMac)', async () => {
    q = await startTestQueen({ extra: { auditMode: 'local', auditKeyFile: await keyFile(0o400) } });
    const queen = q.queen;
    // The hive has written (at least the queen's pushed head) once a witness record shows in its chain.
    await expect
      .poll(async () => (await queen.control.queryAudit({ limit: 50, event_types: ['witness'], service_id: 'hive:local' })).records.length > 0, { timeout: 60_000, interval: 200 })
      .toBe(true);
    await queen.close();
    const root = join(q.dataDir, 'audit');
    const key = Buffer.from(KEY);
    for (const chain of ['queen', 'hive_local']) {
      const records = await readAllRecords(join(root, chain));
      expect(records.length).toBeGreaterThan(1);
      for (const { record } of records) expect(record.mac).toBe(recordMac(key, record.hash));
    }
    const sealed = await verifyAuditChains([root], { key });
    expect(sealed.ok).toBe(true);

    // Someone who can write the folder, but has no key, rebuilds the queen's chain (dropping what it
    // witnessed): hashes and links are perfect, so only the key tells.
    const queenDir = join(root, 'queen');
    const kept = (await readAllRecords(queenDir)).map((r) => r.record).filter((r) => r.event.event_type !== 'witness');
    let prev = AUDIT_GENESIS_HASH;
    const lines = kept.map((r, i) => {
      const { mac: _mac, hash: _hash, ...rest } = r;
      const rebuilt: AuditRecord = { ...rest, seq: i + 1, prev_hash: prev, hash: '' };
      rebuilt.hash = computeRecordHash(rebuilt);
      prev = rebuilt.hash;
      return JSON.stringify({ audit_id: rebuilt.audit_id, seq: rebuilt.seq, timestamp: rebuilt.timestamp, service_id: rebuilt.service_id, event: rebuilt.event, prev_hash: rebuilt.prev_hash, hash: rebuilt.hash });
    });
    const files = await listAuditFiles(queenDir);
    for (const f of files.slice(1)) await writeFile(join(queenDir, f.name), '');
    await writeFile(join(queenDir, (files[0] as { name: string }).name), lines.map((l) => `${l}\n`).join(''));
    expect((await readFile(join(queenDir, (files[0] as { name: string }).name), 'utf8')).includes('"mac"')).toBe(false);

    const withoutKey = await verifyAuditChains([queenDir]);
    expect(withoutKey.ok).toBe(true); // the rebuild fools a keyless verify
    const withKey = await verifyAuditChains([queenDir], { key });
    expect(withKey.chains[0]).toMatchObject({ chain: 'queen', verdict: 'EDITED', kind: 'BadMac' });
    expect(withKey.ok).toBe(false);
  }, 180_000);
});
