import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecordingAuditSink } from '../helpers/recordingAuditSink.js';
import type { SshError } from '../../src-main/ssh/errors.js';
import { HostKeyChangedError, HostKeyUnknownError } from '../../src-main/ssh/errors.js';
import { KnownHostsStore, hashHostName, sshFingerprint } from '../../src-main/ssh/knownHosts.js';
import { SshConnection } from '../../src-main/ssh/SshConnection.js';
import { resolveSshTarget } from '../../src-main/ssh/SshTarget.js';
import { checkHostKey, trustHostKey } from '../../src-main/ssh/trustHostKey.js';
import { addRemoteHive } from '../../src-main/remote-hive/addRemoteHive.js';
import { FAKE_HIVE_JS } from '../helpers/fakeHive.js';
import type { SshdHandle } from '../helpers/sshd.js';
import { startSshd } from '../helpers/sshd.js';

describe('host keys against a real sshd', () => {
  let sshd: SshdHandle;
  let dir: string;
  beforeAll(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), 'rbee-kh-'));
  });
  afterAll(async () => {
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('unknown key → fingerprint as OpenSSH prints it, no connection until trusted; trusted → connects; changed → refused + audited', async () => {
    const audit = createRecordingAuditSink();
    const store = new KnownHostsStore({
      appFile: join(dir, 'known_hosts'),
      userFiles: [join(dir, 'user_known_hosts')],
    });
    const target = resolveSshTarget(
      { host: sshd.host, port: sshd.port, user: sshd.user, keyFile: sshd.clientKeyPath },
      { agentSocket: null },
    );

    const check = await checkHostKey(target, store, { audit });
    expect(check).toEqual({
      status: 'needs_trust',
      fingerprint: sshd.hostFingerprint(),
      keyType: 'ssh-ed25519',
    });

    // Not trusted yet: opening the connection is refused before authentication, never retried. A retry
    // would first sleep its backoff, here 10 minutes: returning at all (inside the test's timeout) proves none.
    const tenMinutes = 10 * 60_000;
    const refused = await SshConnection.open({ target, knownHosts: store, audit, backoffBaseMs: tenMinutes, backoffMaxMs: tenMinutes }).catch(
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(HostKeyUnknownError);
    expect((refused as HostKeyUnknownError).fingerprint).toBe(sshd.hostFingerprint());
    // sshd saw key exchanges but not one authentication: nothing got in before the operator trusted the key.
    expect(sshd.log()).not.toMatch(/Accepted publickey/);

    // A wrong fingerprint trusts nothing.
    const mismatch = await trustHostKey(target, store, 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', {
      audit,
    }).catch((e: unknown) => e);
    expect((mismatch as SshError).code).toBe('FINGERPRINT_MISMATCH');

    await trustHostKey(target, store, check.fingerprint, { audit, hiveId: 'h1' });
    expect(audit.events.map((e) => e.event_type)).toEqual(['host_key_trusted']);
    expect((await checkHostKey(target, store)).status).toBe('trusted');

    const connection = await SshConnection.open({ target, knownHosts: store, audit, hiveId: 'h1' });
    await sshd.waitForLog(/Accepted publickey for \S+ from 127\.0\.0\.1/);
    const result = await connection.exec('echo hello');
    expect(result).toMatchObject({ code: 0, stdout: 'hello\n' });
    await connection.dispose();

    // The server gets a new host key: the next connection fails with key-changed and an audit event.
    const oldFingerprint = sshd.hostFingerprint();
    await sshd.swapHostKey();
    expect(sshd.hostFingerprint()).not.toBe(oldFingerprint);
    const changed = await SshConnection.open({
      target,
      knownHosts: store,
      audit,
      hiveId: 'h1',
      backoffBaseMs: 50,
    }).catch((e: unknown) => e);
    expect(changed).toBeInstanceOf(HostKeyChangedError);
    expect((changed as HostKeyChangedError).message).toMatch(/CHANGED/);
    expect((changed as HostKeyChangedError).expected).toEqual([oldFingerprint]);
    const lastEvent = audit.events.at(-1)!;
    expect(lastEvent).toMatchObject({
      event_type: 'host_key_changed',
      hive_id: 'h1',
      details: { fingerprint: sshd.hostFingerprint(), expected: oldFingerprint },
    });
    // And it cannot be trusted over.
    await expect(trustHostKey(target, store, sshd.hostFingerprint())).rejects.toBeInstanceOf(
      HostKeyChangedError,
    );
  });

  it("honours the user's known_hosts, hashed entries included", async () => {
    const userFile = join(dir, 'hashed_known_hosts');
    const [type, key] = sshd.hostPublicKey().split(/\s+/);
    writeFileSync(userFile, `# comment\n${hashHostName(sshd.host, sshd.port)} ${type} ${key}\n`);
    const store = new KnownHostsStore({ appFile: join(dir, 'empty_app_known_hosts'), userFiles: [userFile] });
    const target = resolveSshTarget(
      { host: sshd.host, port: sshd.port, user: sshd.user, keyFile: sshd.clientKeyPath },
      { agentSocket: null },
    );
    const verdict = await SshConnection.probeHostKey(target, store);
    expect(verdict.status).toBe('trusted');
    expect(sshFingerprint(verdict.key)).toBe(sshd.hostFingerprint());
    // The same hashed entry does not match another port.
    const other = store.check(sshd.host, sshd.port + 1, verdict.key);
    expect(other.status).toBe('unknown');
  });

  it('addRemoteHive: needs_trust first (nothing authenticated), then added with the accepted fingerprint', async () => {
    const audit = createRecordingAuditSink();
    const store = new KnownHostsStore({ appFile: join(dir, 'add_known_hosts') });
    const accepted = (sshd.log().match(/Accepted publickey/g) ?? []).length;
    const options = {
      hiveId: 'lab-2',
      token: 'hive-token-for-add-test',
      knownHosts: store,
      audit,
      resolve: { agentSocket: null },
      dataDir: join(dir, 'add-data'),
      version: 'add',
      files: [],
      deps: { kind: 'none' } as const,
      command: (ctx: { node: string; dir: string; socketPath: string }) => [
        ctx.node,
        '-e',
        FAKE_HIVE_JS,
        ctx.dir,
        ctx.socketPath,
      ],
    };
    const request = {
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      key_file: sshd.clientKeyPath,
      name: 'lab two',
    };
    const first = await addRemoteHive(request, options);
    expect(first.result).toEqual({
      status: 'needs_trust',
      fingerprint: sshd.hostFingerprint(),
      key_type: 'ssh-ed25519',
      host: `${sshd.user}@${sshd.host}:${sshd.port}`,
    });
    expect(first.hive).toBeNull();
    expect((sshd.log().match(/Accepted publickey/g) ?? []).length).toBe(accepted);

    await expect(
      addRemoteHive({ ...request, trust_fingerprint: 'SHA256:not-it' }, options),
    ).rejects.toMatchObject({ code: 'FINGERPRINT_MISMATCH' });
    const added = await addRemoteHive(
      {
        ...request,
        trust_fingerprint: first.result.status === 'needs_trust' ? first.result.fingerprint : '',
      },
      options,
    );
    try {
      expect(added.result.status).toBe('added');
      if (added.result.status !== 'added') return;
      expect(added.result.hive).toMatchObject({
        id: 'lab-2',
        kind: 'remote',
        state: 'online',
        address: `${sshd.user}@${sshd.host}:${sshd.port}`,
        os: 'Linux',
      });
      expect(added.result.preflight.node_ok).toBe(true);
      expect(audit.events.map((e) => e.event_type)).toEqual([
        'host_key_trusted',
        'hive_connected',
        'hive_added',
      ]);
    } finally {
      await added.hive?.stop(3000);
      await added.hive?.dispose();
    }
  });
});
