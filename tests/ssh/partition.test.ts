/**
 * A real network partition: sshd runs in a network namespace this test creates, reached over a
 * veth pair. The link goes down → the hive is `unreachable` within the keepalive bound; the link
 * comes back → reconnected, and the SAME remote hive process is adopted (no restart).
 * If namespaces cannot be created here the harness throws and this test FAILS with the reason.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HiveState } from '../../src-shared/cluster/HiveInfo.js';
import { KnownHostsStore } from '../../src-main/ssh/knownHosts.js';
import { RemoteHive } from '../../src-main/remote-hive/RemoteHive.js';
import { SshConnection } from '../../src-main/ssh/SshConnection.js';
import { resolveSshTarget } from '../../src-main/ssh/SshTarget.js';
import { FAKE_HIVE_JS } from '../helpers/fakeHive.js';
import type { SshdHandle } from '../helpers/sshd.js';
import { startSshd } from '../helpers/sshd.js';

const KEEPALIVE_MS = 500;
const KEEPALIVE_COUNT = 2;
/**
 * A dial timeout far longer than any test: a dial against the dead link would hang this long, so a
 * test that ends proves the code did not wait it out (the test's own timeout is the bound, no clock).
 */
const ENORMOUS_READY_TIMEOUT_MS = 10 * 60_000;

describe('partition (network namespace + veth)', () => {
  let sshd: SshdHandle;
  let dir: string;
  beforeAll(async () => {
    sshd = await startSshd({ netns: true });
    dir = mkdtempSync(join(tmpdir(), 'rbee-ssh-part-'));
    writeFileSync(join(dir, 'known_hosts'), `${sshd.knownHostsLine()}\n`);
  });
  afterAll(async () => {
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('link down → unreachable by the SSH keepalive; link up → reconnected, same hive pid, not restarted', async () => {
    expect(sshd.netns).not.toBeNull();
    const target = resolveSshTarget(
      { host: sshd.host, port: sshd.port, user: sshd.user, keyFile: sshd.clientKeyPath },
      { agentSocket: null },
    );
    const hive = await RemoteHive.connect({
      id: 'ns-hive',
      target,
      knownHosts: new KnownHostsStore({ appFile: join(dir, 'known_hosts') }),
      token: randomBytes(16).toString('hex'), // the namespace has its own loopback: no clash with anything on the host
      dataDir: join(dir, 'data'),
      version: 'part',
      files: [],
      deps: { kind: 'none' },
      command: (ctx) => [ctx.node, '-e', FAKE_HIVE_JS, ctx.dir, ctx.socketPath],
      connection: {
        keepaliveIntervalMs: KEEPALIVE_MS,
        keepaliveCountMax: KEEPALIVE_COUNT,
        readyTimeoutMs: 1500,
        backoffBaseMs: 200,
        backoffMaxMs: 800,
      },
    });
    const states: HiveState[] = [];
    hive.on('state', (s) => states.push(s));
    let pid = 0;
    try {
      await hive.deploy();
      pid = (await hive.start()).pid;
      const before = await (await hive.request('/whoami')).json<{ pid: number }>();
      expect(before.pid).toBe(pid);

      const failedAttempt = new Promise<{ attempt: number; error: Error }>((resolve) =>
        hive.connection.once('reconnect_failed', resolve),
      );
      const lost = new Promise<Error>((resolve) => hive.once('unreachable', resolve));
      const t0 = Date.now();
      sshd.partition();
      const lostError = await lost;
      const detectionMs = Date.now() - t0;
      expect(hive.state).toBe('unreachable');
      // Detected by the keepalive (ssh2's (count + 1) × interval rule with this test's 500 ms × 2), not
      // by TCP, which stays silent for minutes on a dead link: the cause proves it without a clock.
      expect(lostError.message).toMatch(/Keepalive timeout/);
      // While partitioned, requests fail at once with a clear error instead of hanging.
      await expect(hive.request('/whoami')).rejects.toMatchObject({ code: 'UNREACHABLE' });
      // The hive process itself is untouched by the partition.
      expect(existsSync(`/proc/${pid}`)).toBe(true);

      const back = new Promise<{ adopted: boolean; pid: number | null; downMs: number }>((resolve) =>
        hive.once('reconnected', resolve),
      );
      // Stay partitioned until a reconnect attempt has really failed against the dead link.
      const attempt = await failedAttempt;
      expect(attempt.error.message).toMatch(/Cannot reach|unreachable|Timed out|handshake/i);
      sshd.heal();
      const info = await back;
      expect(info).toMatchObject({ adopted: true, pid });
      expect(hive.state).toBe('online');
      const after = await (await hive.request('/whoami')).json<{ pid: number }>();
      expect(after.pid).toBe(pid);
      expect(states).toEqual(['online', 'unreachable', 'online']);
      console.log(`[partition] detected in ${detectionMs} ms (information only); reconnected after ${info.downMs} ms down`);
    } finally {
      if (hive.connection.state === 'connected') await hive.stop(3000).catch(() => undefined);
      await hive.dispose();
      if (pid > 0 && existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
    }
  });

  it('dispose during reconnect attempts abandons the dial in flight and never reconnects afterwards', async () => {
    const target = resolveSshTarget(
      { host: sshd.host, port: sshd.port, user: sshd.user, keyFile: sshd.clientKeyPath },
      { agentSocket: null },
    );
    const knownHosts = new KnownHostsStore({ appFile: join(dir, 'known_hosts') });
    const connection = await SshConnection.open({
      target,
      knownHosts,
      keepaliveIntervalMs: KEEPALIVE_MS,
      keepaliveCountMax: KEEPALIVE_COUNT,
      readyTimeoutMs: ENORMOUS_READY_TIMEOUT_MS,
      backoffBaseMs: 100,
      backoffMaxMs: 200,
    });
    let reconnected = 0;
    let dialsFailed = 0;
    connection.on('reconnected', () => reconnected++);
    connection.on('reconnect_failed', () => dialsFailed++);
    const lost = new Promise<void>((resolve) => connection.once('unreachable', () => resolve()));
    sshd.partition();
    try {
      await lost;
      // The next dial is now in flight against the dead link (it would hang for readyTimeout = 10 min).
      await new Promise<void>((resolve) => connection.once('reconnecting', () => resolve()));
      const dialsFailedBefore = dialsFailed;
      // Returns at all (inside this test's 60 s timeout): the dial's 10 min readyTimeout was not waited out,
      // and no dial ended by timing out in between.
      await connection.dispose();
      expect(dialsFailed).toBe(dialsFailedBefore);
      expect(connection.state).toBe('disposed');
    } finally {
      sshd.heal();
    }
    await expect(connection.whenConnected()).rejects.toMatchObject({ code: 'DISPOSED' });
    // Link is back: a fresh connection works, the disposed one stays down. (Absence check: no event
    // exists for "did not reconnect", so give it longer than its whole backoff before looking.)
    const fresh = await SshConnection.open({ target, knownHosts });
    await fresh.dispose();
    await new Promise((r) => setTimeout(r, 600));
    expect(reconnected).toBe(0);
    expect(connection.state).toBe('disposed');
  });
});
