/**
 * The real `rbee hive` as a remote hive: sshd in a network namespace this test creates, the hive
 * bundle deployed by SFTP, the tiny model uploaded by SFTP, the hive started detached over SSH,
 * a real worker spawned there, tokens streamed from it through an SSH tunnel. Then a real
 * partition (veth down): unreachable within the keepalive bound; link up: reconnected, the same
 * hive and worker processes, restart_count unchanged, tokens stream again.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import { KnownHostsStore } from '../../src-main/ssh/knownHosts.js';
import { RemoteHive } from '../../src-main/ssh/RemoteHive.js';
import { resolveSshTarget } from '../../src-main/ssh/SshTarget.js';
import { tunnelRequest } from '../../src-main/ssh/SshTunnelAgent.js';
import type { SshdHandle } from '../helpers/sshd.js';
import { startSshd } from '../helpers/sshd.js';
import { tinyModelPath } from '../helpers/tinyModel.js';

const KEEPALIVE_MS = 500;
const KEEPALIVE_COUNT = 2;
const READY = new Set(['ready', 'idle', 'busy']);
const DETECTION_BOUND_MS = KEEPALIVE_MS * (KEEPALIVE_COUNT + 2) + 1000;

function ppid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

async function streamTokens(
  hive: RemoteHive,
  workerId: string,
): Promise<{ tokens: number; end: Record<string, unknown> }> {
  const creds = await (
    await hive.request(`/v1/workers/${workerId}/credentials`)
  ).json<{ url: string; token: string }>();
  const res = await tunnelRequest(hive.agent, `${creds.url}/v1/inference`, {
    method: 'POST',
    headers: { authorization: `Bearer ${creds.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'hello', max_tokens: 24, ignore_eos: true, temperature: 0 }),
  });
  expect(res.status).toBe(200);
  const text = await res.text();
  expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  const events = text
    .split('\n\n')
    .map((frame) => {
      const lines = frame.split('\n');
      const type = lines.find((l) => l.startsWith('event: '))?.slice(7);
      const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
      return type && data ? { type, ...(JSON.parse(data) as Record<string, unknown>) } : null;
    })
    .filter((e): e is { type: string } & Record<string, unknown> => e !== null);
  const end = events.find((e) => e.type === 'end') ?? {};
  return { tokens: events.filter((e) => e.type === 'token').length, end };
}

describe('real rbee hive over SSH (network namespace)', () => {
  let sshd: SshdHandle;
  let dir: string;
  beforeAll(async () => {
    sshd = await startSshd({ netns: true });
    dir = mkdtempSync(join(tmpdir(), 'rbee-ssh-real-'));
  });
  afterAll(async () => {
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('deploys, starts, spawns a worker, streams tokens through the tunnel; survives a partition without restarts', async () => {
    writeFileSync(join(dir, 'known_hosts'), `${sshd.knownHostsLine()}\n`);
    const target = resolveSshTarget(
      { host: sshd.host, port: sshd.port, user: sshd.user, keyFile: sshd.clientKeyPath },
      { agentSocket: null },
    );
    const hive = await RemoteHive.connect({
      id: 'lab-1',
      target,
      knownHosts: new KnownHostsStore({ appFile: join(dir, 'known_hosts') }),
      token: randomBytes(16).toString('hex'),
      remotePort: 7835,
      dataDir: join(dir, 'remote-data'),
      // TEST SHORTCUT: the "remote" shares this file system, so node_modules is a symlink.
      deps: { kind: 'link', path: join(process.cwd(), 'node_modules') },
      hiveArgs: ['--gpu', 'off', '--threads', '1'],
      connection: {
        keepaliveIntervalMs: KEEPALIVE_MS,
        keepaliveCountMax: KEEPALIVE_COUNT,
        readyTimeoutMs: 1500,
        backoffBaseMs: 200,
        backoffMaxMs: 800,
      },
    });
    let hivePid = 0;
    try {
      const log = (m: string) => process.env.RBEE_TEST_LOG && console.log(`[real hive] ${m}`);
      const report = await hive.preflight();
      expect(report.problems).toEqual([]);
      await hive.deploy();
      log('deployed');
      const model = await hive.uploadModel(await tinyModelPath(), { name: 'tiny.gguf' });
      expect(model.skipped).toBe(false);
      const started = await hive.start();
      hivePid = started.pid;
      log(`started ${hivePid}`);
      expect(started.adopted).toBe(false);
      const info = await (await hive.request('/v1/hive')).json<{ id: string }>();
      expect(info.id).toBe('lab-1');

      const spawn = await hive.request('/v1/workers', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tiny.gguf', device: 'cpu', slots: 1, threads: 1, ctx: 256 }),
      });
      expect(spawn.status).toBeLessThan(300);
      const spawned = await spawn.json<WorkerInfo>();
      // Wait for `ready` on the hive's own event stream, read through the tunnel.
      const events = await hive.request('/v1/events', { timeoutMs: 60_000 });
      await new Promise<void>((resolve, reject) => {
        let buffer = '';
        events.body.on('data', (chunk: Buffer) => {
          buffer += chunk.toString();
          let cut: number;
          while ((cut = buffer.indexOf('\n\n')) !== -1) {
            const data = buffer
              .slice(0, cut)
              .split('\n')
              .find((l) => l.startsWith('data: '));
            buffer = buffer.slice(cut + 2);
            if (!data) continue;
            const event = JSON.parse(data.slice(6)) as {
              type: string;
              worker?: WorkerInfo;
              snapshot?: { workers: WorkerInfo[] };
            };
            const workers = event.worker ? [event.worker] : (event.snapshot?.workers ?? []);
            if (workers.some((w) => w.id === spawned.id && READY.has(w.state))) resolve();
          }
        });
        events.body.on('error', reject);
      });
      events.body.destroy();
      log('ready');
      const worker = await (await hive.request(`/v1/workers/${spawned.id}`)).json<WorkerInfo>();
      expect(worker.pid).toBeGreaterThan(0);
      // Real, separate processes: the worker is the remote hive's child, the hive is no child of ours.
      expect(ppid(worker.pid!)).toBe(hivePid);
      expect(ppid(hivePid)).not.toBe(process.pid);

      const first = await streamTokens(hive, spawned.id);
      // Token events carry text (bytes of a multi-byte character are merged), so count ≤ tokens_out.
      expect(first.tokens).toBeGreaterThan(0);
      expect(first.end).toMatchObject({ type: 'end', tokens_out: 24, stop_reason: 'max_tokens' });

      // Partition.
      const lost = new Promise<number>((resolve) => hive.once('unreachable', () => resolve(Date.now())));
      const failedAttempt = new Promise<void>((resolve) =>
        hive.connection.once('reconnect_failed', () => resolve()),
      );
      const t0 = Date.now();
      sshd.partition();
      const detectionMs = (await lost) - t0;
      expect(detectionMs).toBeLessThanOrEqual(DETECTION_BOUND_MS);
      expect(hive.state).toBe('unreachable');
      await failedAttempt;
      const back = new Promise<{ adopted: boolean }>((resolve) => hive.once('reconnected', resolve));
      sshd.heal();
      expect(await back).toMatchObject({ adopted: true });
      expect(hive.state).toBe('online');

      const after = await (await hive.request(`/v1/workers/${spawned.id}`)).json<WorkerInfo>();
      expect(after.pid).toBe(worker.pid);
      expect(after.restart_count).toBe(worker.restart_count);
      expect(READY.has(after.state)).toBe(true);
      expect((await streamTokens(hive, spawned.id)).end).toMatchObject({
        tokens_out: 24,
        stop_reason: 'max_tokens',
      });
      console.log(`[real hive] partition detected in ${detectionMs} ms (bound ${DETECTION_BOUND_MS} ms)`);

      // Stop: the hive's own shutdown cascade ends its worker.
      expect(await hive.stop(20_000)).toBe(true);
      expect(existsSync(`/proc/${hivePid}`)).toBe(false);
      expect(existsSync(`/proc/${worker.pid}`)).toBe(false);
    } finally {
      await hive.dispose();
      if (hivePid > 0 && existsSync(`/proc/${hivePid}`)) process.kill(hivePid, 'SIGKILL');
    }
  });
});
