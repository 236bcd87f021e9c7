import { rmSync, writeFileSync } from 'node:fs';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src-shared/audit/AuditEvent.js';
import { run as auditCli } from '../../src-main/cli/commands/auditCommand.js';
import { verifyAuditChains } from '../../src-main/audit/verifyAuditChains.js';
import { startTestQueen, type TestQueen } from '../queen/queenHarness.js';

let q: TestQueen | undefined;
afterAll(async () => q?.close());

describe('rbee audit export --hive H --out DIR (through the queen)', () => {
  it('copies the hive\'s chain files byte for byte; verified with the queen\'s folder, a cut below its witness is TRUNCATED', async () => {
    q = await startTestQueen({ extra: { auditMode: 'local', auditWitnessIntervalMs: 300 } });
    const queen = q.queen;
    // Wait until the queen has witnessed the hive's chain past its first few records (each exchange
    // adds one to it), so a cut below the witness leaves some behind.
    await expect
      .poll(
        async () =>
          (await queen.control.queryAudit({ limit: 50, event_types: ['witness'], service_id: 'queen' })).records.some(
            (r) => r.event.details?.chain === 'hive:local' && Number(r.event.details?.seq) >= 3,
          ),
        { timeout: 60_000, interval: 200 },
      )
      .toBe(true);
    const tokenFile = join(q.dataDir, 'cli-token');
    writeFileSync(tokenFile, `${q.token}\n`, { mode: 0o600 });
    const out = join(q.dataDir, 'export');
    expect(await auditCli(['export', '--hive', 'local', '--out', out, '--url', q.url, '--token-file', tokenFile])).toBe(0);
    expect(await auditCli(['export', '--hive', 'nope', '--out', out, '--url', q.url, '--token-file', tokenFile])).toBe(1);
    expect(await auditCli(['export', '--out', out])).toBe(2);

    const root = join(q.dataDir, 'audit');
    // Only the hive's chain (and its workers'): the queen's chain, in the same root, stays out.
    expect(await readdir(out)).toEqual(['hive_local']);
    for (const name of await readdir(join(out, 'hive_local'))) {
      const copy = await readFile(join(out, 'hive_local', name));
      const original = await readFile(join(root, 'hive_local', name));
      expect(original.subarray(0, copy.length).equals(copy)).toBe(true);
      expect((await stat(join(out, 'hive_local', name))).mode & 0o777).toBe(0o600);
    }
    const queenDir = join(root, 'queen');
    const ok = await verifyAuditChains([out, queenDir], { allowPartialTail: true });
    expect(ok.chains.find((c) => c.chain === 'hive:local')?.verdict).toMatch(/^(OK|UNSEALED-TAIL)$/);
    expect(ok.ok).toBe(true);

    // Cut the exported chain below what the queen witnessed.
    const seen = ok.chains.find((c) => c.chain === 'hive:local')?.witnessed_seq ?? 0;
    expect(seen).toBeGreaterThan(0);
    for (const name of await readdir(join(out, 'hive_local'))) {
      const path = join(out, 'hive_local', name);
      const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
      await writeFile(path, lines.filter((l) => ((JSON.parse(l) as AuditRecord).seq ?? 0) < seen).map((l) => `${l}\n`).join(''));
    }
    const cut = await verifyAuditChains([out, queenDir], { allowPartialTail: true });
    expect(cut.chains.find((c) => c.chain === 'hive:local')?.verdict).toBe('TRUNCATED');
    rmSync(out, { recursive: true, force: true });
  }, 180_000);
});
