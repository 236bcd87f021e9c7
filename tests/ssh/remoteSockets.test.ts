/**
 * Issue 12, Build §6, over a real sshd with a separate local user as the remote machine:
 * - the remote hive and its worker listen on Unix sockets in a 0700 folder of that user, the queen
 *   reaches them through SSH streamlocal channels, and a completion is served through the queen;
 * - none of that user's rbee processes has a TCP listener (`ss -ltnp`, by pid);
 * - an impostor on the hive's socket path that answers the nonce wrongly is refused: the hive entry
 *   says so, `hive_impostor` is audited, and the impostor saw nothing but the health probe and the
 *   nonce (no token, no request).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import { createRecordingAuditSink, type RecordingAuditSink } from '../helpers/recordingAuditSink.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { createQueen } from '../../src-main/queen/createQueen.js';
import type { Queen } from '../../src-main/queen/Queen.js';
import { SshHiveManager } from '../../src-main/remote-hive/SshHiveManager.js';
import { FAKE_HIVE_JS } from '../helpers/fakeHive.js';
import { createLocalUser, type LocalUser } from '../helpers/localUser.js';
import type { SshdHandle } from '../helpers/sshd.js';
import { startSshd } from '../helpers/sshd.js';
import { tinyModelPath } from '../helpers/tinyModel.js';
import { waitFor } from '../helpers/waitFor.js';

const TOKEN = 'queen-socket-test-token-0123456789';
const HIVE = 'sock-box';

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Pids that own a listening socket of `kind` (`-t` TCP, `-x` Unix), from `ss -l<kind>pH`. */
function listeners(kind: 't' | 'x'): Array<{ line: string; pids: number[] }> {
  return execFileSync('ss', [`-l${kind}npH`], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => ({ line, pids: [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])) }));
}

async function chat(url: string): Promise<{ status: number; body: { choices?: unknown[] } }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tiny.gguf', messages: [{ role: 'user', content: 'hello' }], max_tokens: 8, temperature: 0 }),
  });
  return { status: res.status, body: (await res.json()) as { choices?: unknown[] } };
}

describe('remote hive on Unix sockets, a separate user behind a real sshd', () => {
  let sshd: SshdHandle;
  let user: LocalUser;
  let dir: string;
  let queen: Queen | undefined;
  let manager: SshHiveManager | undefined;
  let impostorPid = 0;
  const audit: RecordingAuditSink = createRecordingAuditSink();

  beforeAll(async () => {
    sshd = await startSshd();
    user = createLocalUser();
    dir = mkdtempSync(join(tmpdir(), 'rbee-ssh-sock-'));
  });
  afterAll(async () => {
    await manager?.close({ stopRemote: true }).catch(() => undefined);
    await queen?.close().catch(() => undefined);
    if (impostorPid > 0 && existsSync(`/proc/${impostorPid}`)) process.kill(impostorPid, 'SIGKILL');
    user?.remove(); // SIGKILLs whatever is left of that user's processes, by pid
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const boot = async (remoteData: string): Promise<Queen> => {
    queen = await createQueen({
      dataDir: join(dir, 'queen-data'),
      port: 0,
      apiToken: TOKEN,
      localHive: false,
      logger: createLogger('queen', { level: 'warn' }),
      remoteHives: (internals) =>
        (manager = new SshHiveManager(internals, {
          dataDir: join(dir, 'queen-data'),
          userKnownHosts: [],
          // The runtime closure is packed here and uploaded, as to a machine without a registry: the
          // "remote" user needs no access to this checkout (CI may clone it where only root can read).
          deps: { kind: 'upload' },
          remoteDataDir: remoteData,
          hiveArgs: ['--gpu', 'off', '--threads', '1'],
          resolve: { agentSocket: null },
          audit,
        })),
    });
    return queen;
  };
  const snapshot = (): Promise<ClusterSnapshot> => queen!.control.getSnapshot();

  it('serves a completion through sockets only (no TCP listener of that user), and refuses an impostor on the socket', async () => {
    const remoteData = join(user.home, 'rbee-data');
    await boot(remoteData);
    const added = await queen!.control.addHive({
      host: sshd.host,
      port: sshd.port,
      user: user.name,
      key_file: sshd.clientKeyPath,
      name: 'sock box',
      trust_fingerprint: sshd.hostFingerprint(),
    });
    expect(added).toMatchObject({ status: 'added' });
    await waitFor(async () => (await snapshot()).hives.some((h) => h.id === HIVE && h.state === 'online'), { what: 'the hive online', timeoutMs: 120_000, intervalMs: 100 });
    const remote = manager!.hive(HIVE)!;
    const hivePid = remote.pid!;
    const socketDir = join(remoteData, 'sock', HIVE);
    expect(remote.socketPath).toBe(join(socketDir, 'hive.sock'));

    await manager!.uploadModel(HIVE, await tinyModelPath(), { name: 'tiny.gguf' });
    await waitFor(async () => (await snapshot()).models.some((m) => m.hive === HIVE && m.name === 'tiny.gguf'), { what: 'the model in the catalog', timeoutMs: 120_000, intervalMs: 100 });
    const spawned = await queen!.control.spawnWorker({ hive_id: HIVE, model: 'tiny.gguf', device: 'cpu', slots: 1, threads: 1, ctx: 256 });
    const ready = (w: WorkerInfo): boolean => w.id === spawned.id && (w.state === 'idle' || w.state === 'busy');
    const worker = await waitFor(async () => (await snapshot()).workers.find(ready), { what: 'the worker ready', timeoutMs: 120_000, intervalMs: 100 });
    expect(worker.port).toBeNull(); // a socket worker has no port

    const answer = await chat(queen!.url);
    expect(answer.status).toBe(200);
    expect(answer.body.choices).toHaveLength(1);

    // The sockets: in a 0700 folder owned by the remote user; the hive's and the worker's.
    const folder = statSync(socketDir);
    expect(folder.mode & 0o777).toBe(0o700);
    expect(folder.uid).toBe(user.uid);
    expect(statSync(join(socketDir, 'hive.sock')).isSocket()).toBe(true);
    expect(statSync(join(socketDir, `w-${spawned.id}.sock`)).isSocket()).toBe(true);

    // No TCP listener among that user's rbee processes (hive, worker, warm standby). The check can see
    // listeners: the queen's own TCP port (this process) is in the same table.
    const rbee = user.pids().filter((pid) => cmdline(pid).includes(join(remoteData, 'hive')));
    expect(rbee).toContain(hivePid);
    expect(rbee).toContain(worker.pid);
    const tcp = listeners('t');
    expect(tcp.some((l) => l.pids.includes(process.pid))).toBe(true);
    expect(tcp.filter((l) => l.pids.some((pid) => user.pids().includes(pid))).map((l) => l.line)).toEqual([]);
    // …and their Unix listeners are exactly the sockets in that folder.
    const unix = listeners('x').filter((l) => l.pids.some((pid) => rbee.includes(pid)));
    expect(unix.some((l) => l.line.includes(join(socketDir, 'hive.sock')) && l.pids.includes(hivePid))).toBe(true);
    expect(unix.some((l) => l.line.includes(join(socketDir, `w-${spawned.id}.sock`)) && l.pids.includes(worker.pid!))).toBe(true);
    console.log(`[sockets] ${user.name}: ${rbee.length} rbee processes, ${unix.length} Unix listeners, 0 TCP listeners`);

    // The impostor. The queen goes away (the hive keeps serving), the real hive is stopped, and
    // another program of that user takes the socket path; the pid file names it and its command line
    // carries the version folder, so it passes every check but the handshake.
    const versionDir = dirname(dirname(dirname(cmdline(hivePid).split(' ')[1]!)));
    await manager!.close();
    await queen!.close();
    queen = undefined;
    process.kill(hivePid, 'SIGTERM');
    await waitFor(() => !existsSync(`/proc/${hivePid}`) && !existsSync(`/proc/${worker.pid}`), { what: 'the real hive gone', timeoutMs: 60_000, intervalMs: 100 });
    const seen = join(user.home, 'impostor-requests.log');
    const impostor = spawn(
      'setpriv',
      ['--reuid', String(user.uid), '--regid', String(user.uid), '--clear-groups', '--', process.execPath, '-e', FAKE_HIVE_JS, versionDir, join(socketDir, 'hive.sock')],
      { env: { PATH: process.env.PATH, HOME: user.home, RBEE_FAKE_IMPOSTOR: '1', RBEE_FAKE_LOG: seen, RBEE_HIVE_TOKEN: 'whatever-the-impostor-has' }, stdio: 'ignore', detached: true },
    );
    impostorPid = impostor.pid!;
    impostor.unref();
    await waitFor(() =>
      new Promise<boolean>((resolve) => {
        const probe = connect(join(socketDir, 'hive.sock'));
        probe.once('connect', () => (probe.destroy(), resolve(true)));
        probe.once('error', () => resolve(false));
      }),
      { what: 'the impostor listening', timeoutMs: 60_000, intervalMs: 100 },
    );
    writeFileSync(join(remoteData, 'run', HIVE, 'hive.pid'), `${impostorPid}\n`);

    await boot(remoteData);
    await manager!.restore();
    const entry = await waitFor(async () => (await snapshot()).hives.find((h) => h.id === HIVE && h.state === 'failed'), { what: 'the hive refused', timeoutMs: 120_000, intervalMs: 100 });
    expect(entry.message).toMatch(/REFUSED: .* is not hive sock-box/);
    const record = await audit.waitFor((e) => e.event_type === 'hive_impostor' && e.hive_id === HIVE, 60_000);
    expect(record.reason).toBe('wrong_answer');
    // Nothing but the health probe and the nonce reached it, and never a token.
    const requests = readFileSync(seen, 'utf8').trim().split('\n');
    expect(requests).toContain('GET /v1/hive/hello auth=false');
    for (const line of requests) expect(line).toMatch(/^GET \/v1\/(health|hive\/hello) auth=false$/);
    // No inference is routed there either.
    expect((await chat(queen!.url)).status).not.toBe(200);
    expect(existsSync(`/proc/${impostorPid}`)).toBe(true);
  }, 300_000); // real sshd, SFTP, a hive and a worker on a 2-core machine: generous, not a performance claim
});
