import { mkdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditHead, AuditRecord } from '../../src-shared/audit/AuditEvent.js';
import { LocalAuditLog } from '../../src-main/audit/LocalAuditLog.js';
import { listAuditFiles } from '../../src-main/audit/auditFiles.js';
import { computeRecordHash } from '../../src-main/audit/canonicalJson.js';
import type { AuditChainsReport } from '../../src-main/audit/verifyAuditChains.js';
import { verifyAuditChains } from '../../src-main/audit/verifyAuditChains.js';
import { makeTempDir, workerEvent } from './helpers.js';

let root: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir: root, cleanup } = await makeTempDir()));
afterEach(async () => cleanup());

const KEY = Buffer.from('an-audit-sealing-key-of-32-bytes');

/**
 * Two tiers as the daemons write them: the queen's root (its own chain) and a hive's root (the hive's
 * chain and a worker's), with cross-witnessing: the hive records the queen's head mid-run; at
 * shutdown the queen records the hive's and the worker's final heads (after their seals).
 */
async function cluster(options: { key?: Buffer } = {}): Promise<{ queenRoot: string; hiveRoot: string; queenHead: AuditHead }> {
  const queenRoot = join(root, 'queen-root');
  const hiveRoot = join(root, 'hive-root');
  const common = { maxFileBytes: 4096, ...(options.key ? { sealKey: options.key } : {}) };
  const queen = await LocalAuditLog.open({ dir: join(queenRoot, 'queen'), serviceId: 'queen', ...common });
  const hive = await LocalAuditLog.open({ dir: join(hiveRoot, 'hive_gpu1'), serviceId: 'hive:gpu1', ...common });
  const worker = await LocalAuditLog.open({ dir: join(hiveRoot, 'worker_w1'), serviceId: 'worker:w1', ...common });
  for (let i = 0; i < 60; i++) {
    await Promise.all([queen.emit(workerEvent(i)), hive.emit(workerEvent(i)), worker.emit(workerEvent(i))]);
  }
  await queen.flush();
  await hive.witness([queen.head()], 'queen_push');
  await Promise.all([hive.close(), worker.close()]);
  const hiveHeads = (await verifyAuditChains([hiveRoot])).chains.map((c) => ({ chain: c.chain, seq: c.head_seq as number, hash: c.head_hash as string }));
  await queen.witness(hiveHeads, 'shutdown');
  await queen.close();
  const queenReport = await verifyAuditChains([queenRoot]);
  const q = queenReport.chains.find((c) => c.chain === 'queen');
  return { queenRoot, hiveRoot, queenHead: { chain: 'queen', seq: q?.head_seq as number, hash: q?.head_hash as string } };
}

function verdictOf(report: AuditChainsReport, chain: string): string | undefined {
  return report.chains.find((c) => c.chain === chain)?.verdict;
}

async function hiveFiles(hiveRoot: string): Promise<string[]> {
  return (await listAuditFiles(join(hiveRoot, 'hive_gpu1'))).map((f) => join(hiveRoot, 'hive_gpu1', f.name));
}

async function dropLines(file: string, pick: (lines: string[]) => number[]): Promise<void> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
  const drop = new Set(pick(lines));
  await writeFile(file, lines.filter((_, i) => !drop.has(i)).map((l) => `${l}\n`).join(''));
}

describe('verify verdicts: every cut is found while a witness exists (acceptance 1)', () => {
  it('untouched: every chain OK (sealed at close), seq 1, 2, 3 … across rotation', async () => {
    const { queenRoot, hiveRoot } = await cluster();
    const report = await verifyAuditChains([queenRoot, hiveRoot]);
    expect(report.chains.map((c) => [c.chain, c.verdict])).toEqual([
      ['hive:gpu1', 'OK'],
      ['queen', 'OK'],
      ['worker:w1', 'OK'],
    ]);
    expect(report.ok).toBe(true);
    expect((await hiveFiles(hiveRoot)).length).toBeGreaterThan(2); // size rotation happened
    expect(report.chains.find((c) => c.chain === 'hive:gpu1')).toMatchObject({ head_seq: 62, witnessed_seq: 62 });
  });

  it('the last record / the last N records of a witnessed chain → TRUNCATED', async () => {
    const { queenRoot, hiveRoot } = await cluster();
    const newest = (await hiveFiles(hiveRoot)).at(-1) as string;
    await dropLines(newest, (l) => [l.length - 1]);
    let report = await verifyAuditChains([queenRoot, hiveRoot]);
    expect(verdictOf(report, 'hive:gpu1')).toBe('TRUNCATED');
    expect(report.chains.find((c) => c.chain === 'hive:gpu1')).toMatchObject({ head_seq: 61, witnessed_seq: 62 });
    expect(report.ok).toBe(false);
    await dropLines(newest, (l) => [l.length - 1, l.length - 2, l.length - 3]);
    report = await verifyAuditChains([queenRoot, hiveRoot]);
    expect(verdictOf(report, 'hive:gpu1')).toBe('TRUNCATED');
    expect(verdictOf(report, 'queen')).toBe('OK');
  });

  it('a middle record → GAP naming the missing seqs', async () => {
    const { queenRoot, hiveRoot } = await cluster();
    await dropLines((await hiveFiles(hiveRoot))[0] as string, () => [4]);
    const report = await verifyAuditChains([queenRoot, hiveRoot]);
    expect(report.chains.find((c) => c.chain === 'hive:gpu1')).toMatchObject({ verdict: 'GAP', line: 5, detail: expect.stringContaining('seq 5..5') });
  });

  it('the newest file → TRUNCATED; a middle file → GAP', async () => {
    let { queenRoot, hiveRoot } = await cluster();
    await unlink((await hiveFiles(hiveRoot)).at(-1) as string);
    expect(verdictOf(await verifyAuditChains([queenRoot, hiveRoot]), 'hive:gpu1')).toBe('TRUNCATED');
    await rm(join(root, 'queen-root'), { recursive: true });
    await rm(join(root, 'hive-root'), { recursive: true });
    ({ queenRoot, hiveRoot } = await cluster());
    await unlink((await hiveFiles(hiveRoot))[1] as string);
    expect(verdictOf(await verifyAuditChains([queenRoot, hiveRoot]), 'hive:gpu1')).toBe('GAP');
  });

  it('a chain folder → MISSING; a whole tier folder → MISSING for each of its chains', async () => {
    const { queenRoot, hiveRoot } = await cluster();
    await rm(join(hiveRoot, 'worker_w1'), { recursive: true });
    let report = await verifyAuditChains([queenRoot, hiveRoot]);
    expect(verdictOf(report, 'worker:w1')).toBe('MISSING');
    expect(verdictOf(report, 'hive:gpu1')).toBe('OK');
    await rm(hiveRoot, { recursive: true });
    report = await verifyAuditChains([queenRoot]);
    expect(report.chains.map((c) => [c.chain, c.verdict])).toEqual([
      ['hive:gpu1', 'MISSING'],
      ['queen', 'OK'],
      ['worker:w1', 'MISSING'],
    ]);
  });

  it("the queen's own tail: seen by the hive's witness and by a heads file kept elsewhere", async () => {
    const { queenRoot, hiveRoot, queenHead } = await cluster();
    // Cut the queen's chain back to before the record the hive witnessed (seq 60), across files.
    for (const f of await listAuditFiles(join(queenRoot, 'queen'))) {
      await dropLines(join(queenRoot, 'queen', f.name), (l) => l.map((line, i) => ((JSON.parse(line) as AuditRecord).seq as number) > 57 ? i : -1));
    }
    const report = await verifyAuditChains([queenRoot, hiveRoot]);
    expect(verdictOf(report, 'queen')).toBe('TRUNCATED');
    // Without the hive's folder, only the operator's heads file (from `rbee audit head`) can tell.
    expect(verdictOf(await verifyAuditChains([queenRoot]), 'queen')).toBe('UNSEALED-TAIL');
    expect(verdictOf(await verifyAuditChains([queenRoot], { heads: [queenHead] }), 'queen')).toBe('TRUNCATED');
  });

  it('a whole chain rebuilt (edited, re-hashed, re-linked): the witness sees another hash; with the key, every record fails its MAC', async () => {
    const { queenRoot, hiveRoot } = await cluster({ key: KEY });
    expect((await verifyAuditChains([queenRoot, hiveRoot], { key: KEY })).ok).toBe(true);
    const files = await hiveFiles(hiveRoot);
    let prev = '0'.repeat(64);
    for (const file of files) {
      const records = (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AuditRecord);
      const rebuilt = records.map((r) => {
        const edited: AuditRecord = { ...r, prev_hash: prev, event: r.event.event_type === 'worker_spawned' ? { ...r.event, worker_id: 'w-forged' } : r.event };
        delete edited.mac; // the forger has no key
        edited.hash = computeRecordHash(edited);
        prev = edited.hash;
        return edited;
      });
      await writeFile(file, rebuilt.map((r) => `${JSON.stringify(r)}\n`).join(''));
    }
    const withKey = await verifyAuditChains([hiveRoot], { key: KEY });
    expect(withKey.chains.find((c) => c.chain === 'hive:gpu1')).toMatchObject({ verdict: 'EDITED', kind: 'BadMac', line: 1 });
    // Without the key, the hash chain alone is consistent again; the queen's witness still sees it.
    expect(verdictOf(await verifyAuditChains([hiveRoot]), 'hive:gpu1')).toBe('OK');
    expect((await verifyAuditChains([queenRoot, hiveRoot])).chains.find((c) => c.chain === 'hive:gpu1')).toMatchObject({ verdict: 'EDITED', kind: 'WitnessMismatch' });
  });

  it('a writer that never closed (a crash) is UNSEALED-TAIL, a warning: ok stays true; a torn last line too', async () => {
    const dir = join(root, 'crashed', 'hive');
    await mkdir(dir, { recursive: true });
    const log = await LocalAuditLog.open({ dir, serviceId: 'hive' });
    for (let i = 0; i < 5; i++) await log.emit(workerEvent(i), { durable: true });
    // No close: the chain ends without a seal, as after kill -9 (the real SIGKILL test is crash.test.ts).
    let report = await verifyAuditChains([join(root, 'crashed')]);
    expect(report.chains[0]).toMatchObject({ verdict: 'UNSEALED-TAIL', head_seq: 5 });
    expect(report.ok).toBe(true);
    const file = (await listAuditFiles(dir))[0]?.name as string;
    await writeFile(join(dir, file), `${await readFile(join(dir, file), 'utf8')}{"audit_id":"half`);
    report = await verifyAuditChains([join(root, 'crashed')]);
    expect(report.chains[0]).toMatchObject({ verdict: 'UNSEALED-TAIL', detail: expect.stringContaining('torn') });
    expect(report.ok).toBe(true);
    await log.close();
  });
});
