import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalAuditLog } from '../../src-main/audit/LocalAuditLog.js';
import { listAuditFiles } from '../../src-main/audit/auditFiles.js';
import { rbeeCommand } from '../../src-main/common/rbeeCommand.js';
import { makeTempDir, workerEvent } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTempDir()));
afterEach(async () => cleanup());

/** Runs the real CLI (`rbee audit …`) as a child process and waits for it to exit. */
function rbee(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { command, args: base } = rbeeCommand('audit', args);
  return new Promise((resolve, reject) => {
    const child = spawn(command, base, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('rbee audit verify', () => {
  it('exits 0 with the count; exits 1 naming the first bad entry; reads LLORCH_AUDIT_DIR by default', async () => {
    // Two services under one root (as the daemons write it): two chains.
    const log = await LocalAuditLog.open({ dir: join(dir, 'queen'), serviceId: 'queen' });
    for (let i = 0; i < 7; i++) void log.emit(workerEvent(i));
    await log.close();
    const hive = await LocalAuditLog.open({ dir: join(dir, 'hive_gpu1'), serviceId: 'hive:gpu1' });
    for (let i = 0; i < 3; i++) void hive.emit(workerEvent(i));
    await hive.close();
    const ok = await rbee(['verify'], { LLORCH_AUDIT_DIR: dir });
    // 10 events + one clean-shutdown seal per chain.
    expect(ok.stdout).toContain('audit log OK: 12 entries in 2 files, 2 chains');
    expect(ok.stdout).toMatch(/^OK +queen: 8 entries, head seq 8$/m);
    expect(ok.code).toBe(0);

    // head: one JSON line per chain; a heads file kept elsewhere then catches a cut tail.
    const head = await rbee(['head', dir]);
    expect(head.code).toBe(0);
    const heads = head.stdout.trim().split('\n').map((l) => JSON.parse(l) as { chain: string; seq: number; hash: string });
    expect(heads.map((h) => [h.chain, h.seq])).toEqual([
      ['hive:gpu1', 4],
      ['queen', 8],
    ]);
    await writeFile(join(dir, '..', 'heads.jsonl'), head.stdout);
    const hiveName = (await listAuditFiles(join(dir, 'hive_gpu1')))[0]?.name as string;
    const hiveText = await readFile(join(dir, 'hive_gpu1', hiveName), 'utf8');
    await writeFile(join(dir, 'hive_gpu1', hiveName), hiveText.split('\n').slice(0, 3).map((l) => `${l}\n`).join(''));
    const unsealed = await rbee(['verify', dir]);
    expect(unsealed.code).toBe(0); // only a warning without a witness
    expect(unsealed.stderr).toMatch(/^UNSEALED-TAIL +hive:gpu1: 3 entries/m);
    const cut = await rbee(['verify', dir, '--heads', join(dir, '..', 'heads.jsonl'), '--json']);
    expect(cut.code).toBe(1);
    expect(JSON.parse(cut.stdout)).toMatchObject({ ok: false, chains: [{ chain: 'hive:gpu1', verdict: 'TRUNCATED', witnessed_seq: 4, head_seq: 3 }, { chain: 'queen', verdict: 'OK' }] });
    await writeFile(join(dir, 'hive_gpu1', hiveName), hiveText);
    expect((await rbee(['verify', dir, '--heads', join(dir, '..', 'heads.jsonl')])).code).toBe(0);

    // Usage errors exit 2 with a clear message.
    expect((await rbee(['verify', dir, '--heads'])).code).toBe(2);
    expect((await rbee(['verify', dir, '--bogus'])).code).toBe(2);
    const looseKey = join(dir, '..', 'key');
    await writeFile(looseKey, 'k'.repeat(32), { mode: 0o644 });
    const loose = await rbee(['verify', dir, '--key', looseKey]);
    expect(loose.code).toBe(2);
    expect(loose.stderr).toContain('readable by others');

    const name = (await listAuditFiles(join(dir, 'queen')))[0]?.name as string;
    const lines = (await readFile(join(dir, 'queen', name), 'utf8')).split('\n');
    const fifth = JSON.parse(lines[4] as string) as { audit_id: string; event: { worker_id: string } };
    fifth.event.worker_id = 'w-forged';
    lines[4] = JSON.stringify(fifth);
    await writeFile(join(dir, 'queen', name), lines.join('\n'));
    const bad = await rbee(['verify', join(dir, 'queen')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`EDITED        queen: 4 entries, head seq 4; InvalidHash: the record does not match its hash at ${name} line 5 (audit_id ${fifth.audit_id})`);
    const badTree = await rbee(['verify', dir, '--json']);
    expect(badTree.code).toBe(1);
    expect(JSON.parse(badTree.stdout)).toMatchObject({ ok: false, chains: [{ chain: 'hive:gpu1', verdict: 'OK' }, { chain: 'queen', verdict: 'EDITED', kind: 'InvalidHash', file: name, line: 5 }] });
  });
});
