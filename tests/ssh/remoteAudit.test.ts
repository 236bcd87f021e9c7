import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src-shared/audit/AuditEvent.js';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import { verifyAuditChains } from '../../src-main/audit/verifyAuditChains.js';
import { run as auditCli } from '../../src-main/cli/commands/auditCommand.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { createQueen } from '../../src-main/queen/createQueen.js';
import type { Queen } from '../../src-main/queen/Queen.js';
import { SshHiveManager } from '../../src-main/remote-hive/SshHiveManager.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { tinyModelPath } from '../helpers/tinyModel.js';
import { waitFor } from '../helpers/waitFor.js';

/**
 * The audit trail and the worker logs of a remote hive (issue 13 acceptance 4, issue 18), over a real
 * sshd: the remote worker's output reaches the queen through the tunnel; a worker killed there
 * appears in the queen's merged query with the hive's service id; the queen witnesses the hive's head;
 * the hive's chain exported through the queen (`rbee audit export`) verifies with the queen's own
 * folder, and once the chain is cut on the remote, the same export + verify on the queen's machine
 * finds the cut.
 */
const TOKEN = 'queen-remote-audit-token-0123456789';
const HIVE = 'audit-box';

describe('audit of a remote hive over SSH', () => {
  let sshd: SshdHandle;
  let dir: string;
  let queen: Queen | undefined;
  let manager: SshHiveManager | undefined;
  beforeAll(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), 'rbee-ssh-audit-'));
  });
  afterAll(async () => {
    await manager?.close({ stopRemote: true }).catch(() => undefined);
    await queen?.close().catch(() => undefined);
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the remote worker\'s logs come through the tunnel; its crash reaches the merged query; a cut of the remote chain is found from the queen\'s machine', async () => {
    const remoteData = join(dir, 'remote-data');
    mkdirSync(remoteData);
    const queenData = join(dir, 'queen-data');
    queen = await createQueen({
      dataDir: queenData,
      port: 0,
      apiToken: TOKEN,
      localHive: false,
      auditMode: 'local',
      auditWitnessIntervalMs: 300,
      logger: createLogger('queen', { level: 'warn' }),
      remoteHives: (internals) =>
        (manager = new SshHiveManager(internals, {
          dataDir: queenData,
          userKnownHosts: [],
          // TEST SHORTCUT: the "remote" is this machine and the same user, so the runtime deps are the checkout's node_modules.
          deps: { kind: 'link', path: join(process.cwd(), 'node_modules') },
          remoteDataDir: remoteData,
          hiveArgs: ['--gpu', 'off', '--threads', '1'],
          resolve: { agentSocket: null },
        })),
    });
    const control = queen.control;
    const until = <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => waitFor(probe, { what, timeoutMs: 120_000, intervalMs: 200, retryErrors: true });
    const snapshot = (): Promise<ClusterSnapshot> => control.getSnapshot();

    const added = await control.addHive({ host: sshd.host, port: sshd.port, user: sshd.user, key_file: sshd.clientKeyPath, name: HIVE, trust_fingerprint: sshd.hostFingerprint() });
    expect(added.status).toBe('added');
    await manager!.uploadModel(HIVE, await tinyModelPath(), { name: 'tiny.gguf' });
    await until('the remote catalog', async () => ((await snapshot()).models.some((m) => m.hive === HIVE) ? true : undefined));
    const spawned = await control.spawnWorker({ hive_id: HIVE, model: 'tiny.gguf', device: 'cpu', slots: 1, threads: 1, ctx: 256 });
    const live = await until('a ready remote worker', async () => (await snapshot()).workers.find((w) => w.id === spawned.id && (w.state === 'idle' || w.state === 'busy') && w.pid !== null));

    // The remote worker's own output reaches the queen through the SSH tunnel (issue 18): an answer
    // it served writes its `job finished` line, and the queen's logs route returns it.
    const served = await fetch(`${queen.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny.gguf', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
    });
    expect(served.status).toBe(200);
    const logs = await until('the remote worker\'s log line through the tunnel', async () => {
      const page = (await control.getWorkerLogs(HIVE, live.id, 200)).lines.map((l) => l.text).join('\n');
      return page.includes('job finished') ? page : undefined;
    });
    expect(logs).not.toContain(TOKEN);

    // A crash on the remote machine: its hive records it, and the queen's merged query shows it.
    process.kill(live.pid!, 'SIGKILL');
    const crash = await until('the crash in the merged query', async () =>
      (await control.queryAudit({ limit: 500, event_types: ['worker_crashed'] })).records.find((r) => r.service_id === `hive:${HIVE}` && r.event.worker_id === live.id),
    );
    expect(crash.seq).toBeGreaterThan(0);

    // The queen witnesses the hive's head past the crash record.
    const chain = `hive:${HIVE}`;
    await until('a witness past the crash', async () =>
      (await control.queryAudit({ limit: 200, event_types: ['witness'], service_id: 'queen' })).records.some((r) => r.event.details?.chain === chain && Number(r.event.details?.seq) > (crash.seq ?? 0))
        ? true
        : undefined,
    );

    const tokenFile = join(dir, 'cli-token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const queenAudit = join(queenData, 'audit', 'queen');
    const exportAndVerify = async (out: string) => {
      expect(await auditCli(['export', '--hive', HIVE, '--out', out, '--url', queen!.url, '--token-file', tokenFile])).toBe(0);
      const report = await verifyAuditChains([out, queenAudit], { allowPartialTail: true });
      return { verdict: report.chains.find((c) => c.chain === chain)?.verdict, cli: await auditCli(['verify', out, queenAudit]) };
    };
    const intact = await exportAndVerify(join(dir, 'export-1'));
    expect(intact.verdict).toMatch(/^(OK|UNSEALED-TAIL)$/);
    expect(intact.cli).toBe(0);

    // Cover the tracks on the remote: every record from the crash on is removed from the hive's files.
    const remoteChain = join(remoteData, 'audit', `hive_${HIVE}`);
    for (const name of readdirSync(remoteChain).filter((n) => n.endsWith('.audit'))) {
      const path = join(remoteChain, name);
      const kept = readFileSync(path, 'utf8')
        .split('\n')
        .filter((line) => line !== '' && ((JSON.parse(line) as AuditRecord).seq ?? 0) < (crash.seq ?? 0));
      writeFileSync(path, kept.map((line) => `${line}\n`).join(''));
    }
    const cut = await exportAndVerify(join(dir, 'export-2'));
    // Cut below what the queen witnessed: TRUNCATED, or (the live hive appended after the cut) a chain
    // that no longer links: either way a failure verdict, and `rbee audit verify` exits 1.
    expect(['TRUNCATED', 'GAP', 'EDITED']).toContain(cut.verdict);
    expect(cut.cli).toBe(1);
  }, 300_000);
});
