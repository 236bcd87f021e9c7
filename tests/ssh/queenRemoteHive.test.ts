/**
 * Acceptance 1 (issue 6): a real queen adds a real sshd on 127.0.0.1 as a remote hive through the
 * control API (needs_trust → trust), which deploys the bundle by SFTP and starts `rbee hive`
 * detached over SSH; a worker is spawned there and tokens stream from it through the queen's
 * public OpenAI API — queen → SSH tunnel → remote worker. The hive and worker are real, separate
 * processes (not children of the queen). Acceptance 3 through the queen: the sshd runs in a network
 * namespace; a veth partition makes the hive unreachable in the cluster view within the keepalive
 * bound and healing brings it back with the same worker; a settings change made through the queen's
 * HTTP API while the hive was cut off reaches it when it is back (the queen pushes the worker restart
 * policy on every reconnect). Remove with stop ends them.
 */
import { SseParser } from '../../src-shared/util/SseParser.js';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import { HiveRoutes } from '../../src-shared/hive/hiveApi.js';
import {
  DEFAULT_RESTART_POLICY,
  RestartPolicySchema,
  type RestartPolicyConfig,
  type RestartPolicyPatch,
} from '../../src-shared/policy/RestartPolicyConfig.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { createQueen } from '../../src-main/queen/createQueen.js';
import type { Queen } from '../../src-main/queen/Queen.js';
import { run as runHiveCli } from '../../src-main/cli/commands/hiveAdminCli.js';
import { SshHiveManager } from '../../src-main/remote-hive/SshHiveManager.js';
import type { SshdHandle } from '../helpers/sshd.js';
import { startSshd } from '../helpers/sshd.js';
import { tinyModelPath } from '../helpers/tinyModel.js';
import { waitFor as waitForCondition } from '../helpers/waitFor.js';

const TOKEN = 'queen-ssh-test-token-0123456789';
const KEEPALIVE_MS = 500;
const KEEPALIVE_COUNT = 2;
/** A worker restart policy no hive runs by itself: seen on the remote hive, it came from the queen. */
const CHANGED_POLICY = { max_restarts: 5, stability_window_ms: 123_000 } satisfies RestartPolicyPatch;
const hasChangedPolicy = (p: RestartPolicyConfig): boolean =>
  p.max_restarts === CHANGED_POLICY.max_restarts && p.stability_window_ms === CHANGED_POLICY.stability_window_ms;

function ppid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function streamChat(
  url: string,
  body: unknown,
): Promise<{ status: number; chunks: number; done: boolean; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}/v1/chat/completions`,
      { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          const frames = new SseParser().push(text).map((m) => m.data);
          const chunks = frames
            .filter((f) => f !== '[DONE]')
            .map((f) => JSON.parse(f) as { choices: Array<{ delta?: { content?: string } }> });
          resolve({
            status: res.statusCode ?? 0,
            chunks: chunks.filter((c) => c.choices[0]?.delta?.content).length,
            done: frames.includes('[DONE]'),
            text,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('queen with a remote hive over SSH (acceptance 1 and 3)', () => {
  let sshd: SshdHandle;
  let dir: string;
  let queen: Queen | undefined;
  let manager: SshHiveManager | undefined;
  beforeAll(async () => {
    sshd = await startSshd({ netns: true });
    dir = mkdtempSync(join(tmpdir(), 'rbee-ssh-queen-'));
  });
  afterAll(async () => {
    // Each step runs even if an earlier one fails; sshd.stop() also kills whatever is left in the namespace.
    await manager?.close({ stopRemote: true }).catch(() => undefined);
    await queen?.close().catch(() => undefined);
    await sshd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('adds the sshd as a remote hive, deploys, starts, spawns a worker and streams tokens through the queen', async () => {
    const remoteData = join(dir, 'remote-data');
    mkdirSync(remoteData);
    const boot = async (): Promise<{
      waitFor: (p: (s: ClusterSnapshot) => boolean) => Promise<ClusterSnapshot>;
      unsubscribe: () => void;
    }> => {
      queen = await createQueen({
        dataDir: join(dir, 'queen-data'),
        port: 0,
        apiToken: TOKEN,
        localHive: false,
        auditMode: 'local',
        logger: createLogger('queen', { level: 'warn' }),
        remoteHives: (internals) =>
          (manager = new SshHiveManager(internals, {
            dataDir: join(dir, 'queen-data'),
            userKnownHosts: [],
            // TEST SHORTCUT: the "remote" is this machine, so the runtime deps are the checkout's node_modules.
            deps: { kind: 'link', path: join(process.cwd(), 'node_modules') },
            remoteDataDir: remoteData,
            hiveArgs: ['--gpu', 'off', '--threads', '1'],
            resolve: { agentSocket: null },
            hivePolicy: { backoff_base_ms: 200 },
            connection: {
              keepaliveIntervalMs: KEEPALIVE_MS,
              keepaliveCountMax: KEEPALIVE_COUNT,
              readyTimeoutMs: 1500,
              backoffBaseMs: 200,
              backoffMaxMs: 800,
            },
          })),
      });
      const control = queen.control;
      let latest: ClusterSnapshot = await control.getSnapshot();
      const waiters = new Set<() => void>();
      const unsubscribe = control.subscribe(() => {
        void control.getSnapshot().then((snap) => {
          latest = snap;
          for (const w of [...waiters]) w();
        });
      });
      // Bounded by the test's own timeout in practice; the wait names the last snapshot if it does run out.
      const waitForSnapshot = (predicate: (snap: ClusterSnapshot) => boolean): Promise<ClusterSnapshot> =>
        waitForCondition(() => latest, predicate, {
          timeoutMs: 170_000,
          onChange: (recheck) => {
            waiters.add(recheck);
            return () => waiters.delete(recheck);
          },
        });
      return { waitFor: waitForSnapshot, unsubscribe };
    };
    let { waitFor, unsubscribe } = await boot();
    let control = queen!.control;

    try {
      const request = {
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        key_file: sshd.clientKeyPath,
        name: 'Lab Box',
      };
      const first = await control.addHive(request);
      expect(first).toMatchObject({
        status: 'needs_trust',
        fingerprint: sshd.hostFingerprint(),
        key_type: 'ssh-ed25519',
      });
      expect(sshd.log()).not.toMatch(/Accepted publickey/);
      expect((await control.listHives()).length).toBe(0);
      await expect(control.addHive({ ...request, trust_fingerprint: 'SHA256:wrong' })).rejects.toMatchObject({
        status: 409,
        details: { ssh_code: 'FINGERPRINT_MISMATCH' },
      });

      // The real add goes through the CLI → the queen's HTTP control API (as an operator would).
      const tokenFile = join(dir, 'queen-token');
      writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
      const cli = async (
        argv: string[],
        ask: ((q: string) => Promise<string>) | null = null,
      ): Promise<{ code: number; out: string; err: string }> => {
        let out = '';
        let err = '';
        const code = await runHiveCli([...argv, '--url', queen!.url, '--token-file', tokenFile], {
          out: (t) => (out += t),
          err: (t) => (err += t),
          ask,
        });
        return { code, out, err };
      };
      const addArgs = [
        'add',
        sshd.host,
        '--port',
        String(sshd.port),
        '--user',
        sshd.user,
        '--key',
        sshd.clientKeyPath,
        '--name',
        'Lab Box',
      ];
      const shown = await cli(addArgs); // no terminal, no --trust: shown, nothing trusted, exit 3
      expect(shown.code).toBe(3);
      expect(shown.err).toContain(`ssh-ed25519 ${sshd.hostFingerprint()}`);
      expect(shown.err).toContain(
        `rbee hive trust ${sshd.host} --port ${sshd.port} --fingerprint ${sshd.hostFingerprint()}`,
      );
      const refused = await cli(addArgs, async () => 'no');
      expect(refused.code).toBe(3);
      const added = await cli(addArgs, async () => sshd.hostFingerprint());
      expect(added.code).toBe(0);
      expect(added.out).toContain(`added lab-box (${sshd.user}@${sshd.host}:${sshd.port}) state=online`);
      expect(added.out).toMatch(/Linux x86_64|Linux aarch64/);
      await waitFor((snap) => snap.hives.some((h) => h.id === 'lab-box' && h.state === 'online'));
      expect((await cli(['list'])).out).toMatch(/lab-box\s+remote\s+online\s+/);
      expect((await cli(['status', 'lab-box'])).out).toContain('lab-box (remote) online');
      const remote = manager!.hive('lab-box')!;
      const hivePid = remote.pid!;
      // Real, separate process: started by sshd (setsid), not a child of this test process / the queen.
      expect(ppid(hivePid)).not.toBe(process.pid);
      await waitFor((s) => s.hives.some((h) => h.id === 'lab-box' && h.state === 'online'));

      // The model goes over SFTP too; the hive's catalog picks it up.
      await manager!.uploadModel('lab-box', await tinyModelPath(), { name: 'tiny.gguf' });
      await waitFor((s) => s.models.some((m) => m.hive === 'lab-box' && m.name === 'tiny.gguf'));

      const worker = await control.spawnWorker({
        hive_id: 'lab-box',
        model: 'tiny.gguf',
        device: 'cpu',
        slots: 1,
        threads: 1,
        ctx: 256,
      });
      const ready = (w: WorkerInfo): boolean =>
        w.id === worker.id && (w.state === 'idle' || w.state === 'busy');
      const snapshot = await waitFor((s) => s.workers.some(ready));
      const live = snapshot.workers.find(ready)!;
      expect(live.hive).toBe('lab-box');
      expect(ppid(live.pid!)).toBe(hivePid);

      const stream = await streamChat(queen!.url, {
        model: 'tiny.gguf',
        messages: [{ role: 'user', content: 'hello' }],
        max_tokens: 16,
        stream: true,
      });
      expect(stream.status).toBe(200);
      expect(stream.done).toBe(true);
      expect(stream.chunks).toBeGreaterThan(0);
      expect(stream.text).toMatch(/"finish_reason":"(length|stop)"/);

      // The remote hive audits on its own machine (mode and folder passed over SSH): its records reach
      // the queen's merged query through the tunnel, and the queen witnesses its head.
      await expect
        .poll(
          async () => {
            const records = (await control.queryAudit({ limit: 500 })).records;
            return (
              records.some((r) => r.service_id === 'hive:lab-box' && r.event.event_type === 'worker_spawned' && r.event.worker_id === worker.id) &&
              records.some((r) => r.service_id === 'queen' && r.event.event_type === 'witness' && r.event.details?.chain === 'hive:lab-box')
            );
          },
          { timeout: 30_000, interval: 250 },
        )
        .toBe(true);
      expect(existsSync(join(remoteData, 'audit', 'hive_lab-box'))).toBe(true);

      // The worker restart policy the remote hive itself applies, from its own API through the tunnel
      // (looked up each time: the queen restart below brings a new manager and RemoteHive).
      const remotePolicy = async (): Promise<RestartPolicyConfig> => {
        const res = await manager!.hive('lab-box')!.request(HiveRoutes.policy);
        if (res.status !== 200) throw new Error(`GET ${HiveRoutes.policy} on the remote hive answered ${res.status}: ${await res.text()}`);
        return RestartPolicySchema.parse(await res.json());
      };
      // Nothing puts a policy on the remote hive's command line: it runs the defaults (also what the
      // queen pushed at its first connect, with the settings untouched).
      expect(await remotePolicy()).toEqual(DEFAULT_RESTART_POLICY);

      // Acceptance 3 through the queen: partition → the cluster view shows the hive unreachable, found by
      // the SSH keepalive ((count + 1) × 500 ms, ssh2's rule) and not by TCP, which stays silent for minutes
      // on a dead link: the cause of the loss proves it without a wall clock. Heal → online again, same
      // worker pid, restart_count unchanged, tokens flow.
      const lostBy = new Promise<Error>((resolve) => remote.once('unreachable', resolve));
      const t0 = Date.now();
      sshd.partition();
      await waitFor((s) => s.hives.some((h) => h.id === 'lab-box' && h.state === 'unreachable'));
      const detectionMs = Date.now() - t0;
      expect((await lostBy).message).toMatch(/Keepalive timeout/);
      await new Promise<void>((resolve) => remote.connection.once('reconnect_failed', () => resolve()));
      // A settings change while the hive is cut off: the operator's PATCH succeeds (the queen cannot
      // push it there now, and does not wait for it).
      const patched = await fetch(`${queen!.url}/v1/control/settings`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ restart_policy: CHANGED_POLICY }),
      });
      expect(patched.status).toBe(200);
      const answered = (await patched.json()) as { restart_policy?: unknown };
      expect(RestartPolicySchema.parse(answered.restart_policy)).toMatchObject(CHANGED_POLICY);
      expect((await control.getSnapshot()).hives.find((h) => h.id === 'lab-box')?.state).toBe('unreachable');
      sshd.heal();
      const healed = await waitFor(
        (s) => s.hives.some((h) => h.id === 'lab-box' && h.state === 'online') && s.workers.some(ready),
      );
      // The hive process that missed the change adopts it: the queen pushes the policy when the hive's
      // event stream reconnects (asynchronously after it is online, so this waits for it, bounded).
      await waitForCondition(remotePolicy, hasChangedPolicy, {
        what: 'the remote hive to adopt the policy changed while it was unreachable',
        timeoutMs: 30_000,
        intervalMs: 200,
      });
      const again = healed.workers.find(ready)!;
      expect(again.pid).toBe(live.pid);
      expect(again.restart_count).toBe(live.restart_count);
      expect(remote.pid).toBe(hivePid);
      const after = await streamChat(queen!.url, {
        model: 'tiny.gguf',
        messages: [{ role: 'user', content: 'again' }],
        max_tokens: 8,
        stream: true,
      });
      expect(after).toMatchObject({ status: 200, done: true });
      console.log(
        `[queen+ssh] cluster view unreachable ${detectionMs} ms after the link went down (information only)`,
      );

      // Queen restart: SSH closed, the remote hive and its worker keep serving; the new queen's
      // manager restores the hive from its records and re-adopts it (no restarts).
      unsubscribe();
      await manager!.close();
      await queen!.close();
      expect(existsSync(`/proc/${hivePid}`)).toBe(true);
      expect(existsSync(`/proc/${live.pid}`)).toBe(true);
      ({ waitFor, unsubscribe } = await boot());
      control = queen!.control;
      await manager!.restore();
      const restored = await waitFor(
        (s) => s.hives.some((h) => h.id === 'lab-box' && h.state === 'online') && s.workers.some(ready),
      );
      expect(restored.workers.find(ready)).toMatchObject({
        pid: live.pid,
        restart_count: live.restart_count,
      });
      expect(manager!.hive('lab-box')!.pid).toBe(hivePid);
      expect(
        await streamChat(queen!.url, {
          model: 'tiny.gguf',
          messages: [{ role: 'user', content: 'after restart' }],
          max_tokens: 8,
          stream: true,
        }),
      ).toMatchObject({ status: 200, done: true });

      // The queen supervises the remote hive: killed (a crash) while SSH stays up → started again, counted.
      process.kill(hivePid, 'SIGKILL');
      await waitFor((s) =>
        s.hives.some((h) => h.id === 'lab-box' && h.state === 'online' && h.restart_count === 1),
      );
      const newPid = manager!.hive('lab-box')!.pid!;
      expect(newPid).not.toBe(hivePid);
      expect(existsSync(`/proc/${newPid}`)).toBe(true);
      // The new hive process started on the defaults; it adopts the settings (kept across the queen
      // restart) when its event stream connects.
      await waitForCondition(remotePolicy, hasChangedPolicy, {
        what: 'the restarted remote hive to adopt the settings policy',
        timeoutMs: 30_000,
        intervalMs: 200,
      });

      // Remove with stop: the remote hive's cascade ends its worker; the queen forgets the hive.
      const removed = await cli(['remove', 'lab-box', '--stop']);
      expect(removed).toMatchObject({ code: 0, out: 'removed lab-box (hive stopped)\n' });
      expect(existsSync(`/proc/${newPid}`)).toBe(false);
      expect(existsSync(`/proc/${hivePid}`)).toBe(false);
      expect(existsSync(`/proc/${live.pid}`)).toBe(false);
      expect((await control.listHives()).length).toBe(0);
    } finally {
      unsubscribe();
    }
  }, 180_000); // real SFTP, sshd and processes on a 2-core machine: generous, not a performance claim
});
