/**
 * The SSH layer against a real OpenSSH server on 127.0.0.1 (tests/helpers/sshd.ts): quoting and
 * injection, preflight, SFTP deploy with checksums, detached start with the token over the
 * channel, HTTP through forwardOut tunnels, adoption, stop, and the errors operators hit.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  mkdirSync,
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployProgress } from '../../src-main/remote-hive/deploy/deployBundle.js';
import { deployBundle } from '../../src-main/remote-hive/deploy/deployBundle.js';
import { hiveBundleFiles } from '../../src-main/remote-hive/deploy/bundleFiles.js';
import { SshError } from '../../src-main/ssh/errors.js';
import { KnownHostsStore } from '../../src-main/ssh/knownHosts.js';
import { preflight } from '../../src-main/remote-hive/preflight.js';
import { startDetached } from '../../src-main/ssh/remoteProcess.js';
import { RemoteHive } from '../../src-main/remote-hive/RemoteHive.js';
import { shCommand, shQuote, shScript } from '../../src-main/ssh/shellQuote.js';
import { SshConnection } from '../../src-main/ssh/SshConnection.js';
import type { SshTarget } from '../../src-main/ssh/SshTarget.js';
import { resolveSshTarget } from '../../src-main/ssh/SshTarget.js';
import { tunnelRequest } from '../../src-main/ssh/SshTunnelAgent.js';
import { FAKE_HIVE_JS } from '../helpers/fakeHive.js';
import type { SshdHandle } from '../helpers/sshd.js';
import { freePort, startSshd } from '../helpers/sshd.js';
import { createRecordingAuditSink } from '../helpers/recordingAuditSink.js';

const PROJECT_NODE_MODULES = join(process.cwd(), 'node_modules');

describe('SSH layer against a real sshd', () => {
  let sshd: SshdHandle;
  let dir: string;
  let store: KnownHostsStore;
  let target: SshTarget;
  let connection: SshConnection;
  const canary = join(tmpdir(), `rbee-canary-${randomBytes(4).toString('hex')}`);

  beforeAll(async () => {
    sshd = await startSshd();
    dir = mkdtempSync(join(tmpdir(), 'rbee-ssh-remote-'));
    writeFileSync(join(dir, 'known_hosts'), `${sshd.knownHostsLine()}\n`);
    store = new KnownHostsStore({ appFile: join(dir, 'known_hosts') });
    target = resolveSshTarget(
      { host: sshd.host, port: sshd.port, user: sshd.user, keyFile: sshd.clientKeyPath },
      { agentSocket: null },
    );
    connection = await SshConnection.open({ target, knownHosts: store });
  });
  afterAll(async () => {
    await connection?.dispose();
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(canary, { force: true });
  });

  const HOSTILE = [
    `$(touch ${canary})`,
    `\`touch ${canary}\``,
    `x; touch ${canary}`,
    `x' ; touch ${canary} ; '`,
    `"$(touch ${canary})"`,
    `x\ntouch ${canary}`,
    `x && touch ${canary}`,
    `x || touch ${canary} | cat`,
    `> ${canary}`,
    `-oProxyCommand=touch ${canary}`,
    `$HOME * ? [a] ~ !`,
    `it's \\ "quoted" $'\\x41'`,
  ];

  it('shQuote: hostile strings reach a real remote shell as literal data, nothing runs', async () => {
    const script = HOSTILE.map((v) => `printf '%s\\0' ${shQuote(v)}`).join('\n');
    const result = await connection.exec(shScript(script));
    expect(result.code).toBe(0);
    expect(result.stdout.split('\0').slice(0, -1)).toEqual(HOSTILE);
    const argv = await connection.exec(shCommand(['printf', '%s|', ...HOSTILE]));
    expect(argv.stdout).toBe(HOSTILE.map((v) => `${v}|`).join(''));
    expect(() => shQuote('a\0b')).toThrow(/NUL/);
    expect(existsSync(canary)).toBe(false);
  });

  it('injection table: hostile host/user/port/key/alias/path values are rejected before anything is dialled, or stay harmless', async () => {
    const config = join(dir, 'ssh_config');
    writeFileSync(
      config,
      `Host evil-alias\n  HostName x;touch ${canary}\nHost evil-user\n  HostName 127.0.0.1\n  User $(touch ${canary})\n`,
    );
    const base = { host: sshd.host, port: sshd.port, user: sshd.user, keyFile: sshd.clientKeyPath };
    const rejected: Array<[string, () => unknown]> = [
      ['host with ;', () => resolveSshTarget({ ...base, host: `h; touch ${canary}` }, { agentSocket: null })],
      [
        'host with $()',
        () => resolveSshTarget({ ...base, host: `$(touch ${canary})` }, { agentSocket: null }),
      ],
      [
        'host with backticks',
        () => resolveSshTarget({ ...base, host: `\`touch ${canary}\`` }, { agentSocket: null }),
      ],
      [
        'host with newline',
        () => resolveSshTarget({ ...base, host: `h\ntouch ${canary}` }, { agentSocket: null }),
      ],
      [
        'host starting with -',
        () => resolveSshTarget({ ...base, host: `-oProxyCommand=touch ${canary}` }, { agentSocket: null }),
      ],
      [
        'user with ;',
        () => resolveSshTarget({ ...base, user: `root;touch ${canary}` }, { agentSocket: null }),
      ],
      [
        'user with $()',
        () => resolveSshTarget({ ...base, user: `$(touch ${canary})` }, { agentSocket: null }),
      ],
      [
        'user starting with -',
        () => resolveSshTarget({ ...base, user: '-oProxyCommand=x' }, { agentSocket: null }),
      ],
      [
        'port as a string',
        () => resolveSshTarget({ ...base, port: '22; touch x' as unknown as number }, { agentSocket: null }),
      ],
      [
        'key path with newline',
        () => resolveSshTarget({ ...base, keyFile: `/tmp/k\ntouch ${canary}` }, { agentSocket: null }),
      ],
      [
        'alias whose HostName is hostile',
        () =>
          resolveSshTarget(
            { host: 'evil-alias', keyFile: sshd.clientKeyPath },
            { sshConfigPath: config, agentSocket: null },
          ),
      ],
      [
        'alias whose User is hostile',
        () =>
          resolveSshTarget(
            { host: 'evil-user', keyFile: sshd.clientKeyPath },
            { sshConfigPath: config, agentSocket: null },
          ),
      ],
    ];
    for (const [label, attempt] of rejected) {
      let error: unknown = null;
      try {
        attempt();
      } catch (e) {
        error = e;
      }
      expect(error, label).toBeInstanceOf(SshError);
      expect((error as SshError).code, label).toBe('INVALID_TARGET');
    }
    // Remote paths with newlines or a leading '-' are refused; the rest are quoted and stay literal.
    const files = [
      {
        path: 'hello.txt',
        localPath: join(dir, 'hello.txt'),
        size: 5,
        sha256: createHash('sha256').update('hello').digest('hex'),
      },
    ];
    writeFileSync(files[0]!.localPath, 'hello');
    for (const bad of [`${dir}/x\ntouch ${canary}`, `-rf`, '']) {
      await expect(deployBundle(connection, { dataDir: bad, files, version: '1' })).rejects.toMatchObject({
        code: 'INVALID_TARGET',
      });
    }
    await expect(
      deployBundle(connection, { dataDir: dir, files, version: `1;touch ${canary}` }),
    ).rejects.toMatchObject({ code: 'INVALID_TARGET' });
    await expect(
      startDetached(connection, {
        argv: ['true'],
        cwd: dir,
        logFile: join(dir, 'l'),
        pidFile: join(dir, 'p'),
        secretEnv: { 'X;touch': 'v' },
      }),
    ).rejects.toMatchObject({ code: 'INVALID_TARGET' });
    const hostileDir = join(dir, `$(touch ${canary})`, `\`touch ${canary}\``, `'; touch ${canary}; '`);
    const deployed = await deployBundle(connection, { dataDir: hostileDir, files, version: '1' });
    expect(readFileSync(join(hostileDir, 'hive', '1', 'hello.txt'), 'utf8')).toBe('hello');
    expect(deployed.uploaded).toEqual(['hello.txt']);
    // The alias itself (a valid name) resolves with HostName/Port/User/IdentityFile from the config.
    writeFileSync(
      config,
      `Host lab-box\n  HostName ${sshd.host}\n  Port ${sshd.port}\n  User ${sshd.user}\n  IdentityFile ${sshd.clientKeyPath}\n`,
    );
    const viaAlias = resolveSshTarget({ host: 'lab-box' }, { sshConfigPath: config, agentSocket: null });
    expect(viaAlias).toMatchObject({
      alias: 'lab-box',
      host: sshd.host,
      port: sshd.port,
      user: sshd.user,
      keyFile: sshd.clientKeyPath,
    });
    const aliasConnection = await SshConnection.open({ target: viaAlias, knownHosts: store });
    expect((await aliasConnection.exec('echo ok')).stdout).toBe('ok\n');
    await aliasConnection.dispose();
    expect(existsSync(canary)).toBe(false);
  });

  it('preflight reports OS/arch, Node, disk, GPUs and installed versions; a too-old or missing Node is a problem', async () => {
    const dataDir = join(dir, 'pf-data');
    const report = await preflight(connection, { dataDir, version: '0.1.0' });
    expect(report.os).toBe('Linux');
    expect(report.arch).toBe(arch() === 'x64' ? 'x86_64' : report.arch);
    expect(report.node_version).toBe(process.version);
    expect(report.node_ok).toBe(true);
    expect(report.node_path).toMatch(/\/node$/);
    expect(report.free_disk_bytes).toBeGreaterThan(0);
    expect(report.gpus).toEqual(existsSync('/usr/bin/nvidia-smi') ? expect.any(Array) : []);
    expect(report.installed_version).toBeNull();
    expect(report.data_dir).toBe(dataDir);
    expect(report.problems).toEqual([]);

    const future = await preflight(connection, { dataDir, minNodeMajor: 99 });
    expect(future.node_ok).toBe(false);
    expect(future.problems.join()).toMatch(/too old: the hive needs Node 99/);
    const missing = await preflight(connection, { dataDir, nodePath: '/nonexistent/bin/node' });
    expect(missing.node_version).toBeNull();
    expect(missing.problems.join()).toMatch(/Node.js is not installed/);
    const full = await preflight(connection, { dataDir, minFreeBytes: Number.MAX_SAFE_INTEGER });
    expect(full.problems.join()).toMatch(/MiB free on the remote's disk/);
  });

  it('deploys the real hive bundle by SFTP into a versioned folder, skips unchanged files by checksum, reports progress', async () => {
    const dataDir = join(dir, 'deploy-data');
    const files = hiveBundleFiles();
    // The built bundle, never sources: the CLI entry, the standby entry, their chunks, a package.json.
    expect(files.some((f) => f.path === 'out/main/cli.js')).toBe(true);
    expect(files.some((f) => f.path === 'out/main/workerStandby.js')).toBe(true);
    expect(files.filter((f) => /\.ts$/.test(f.path) || f.path.startsWith('src-'))).toEqual([]);
    expect(files.some((f) => f.path === 'out/main/index.js')).toBe(false);
    const remotePkg = JSON.parse(files.find((f) => f.path === 'package.json')!.content!.toString()) as { dependencies: Record<string, string> };
    expect(remotePkg.dependencies['node-llama-cpp']).toBe('3.21.1');
    expect(Object.keys(remotePkg.dependencies)).not.toContain('tsx');
    expect(Object.keys(remotePkg.dependencies)).not.toContain('react');
    const seen: DeployProgress[] = [];
    const first = await deployBundle(connection, {
      dataDir,
      version: '0.1.0',
      files,
      deps: { kind: 'link', path: PROJECT_NODE_MODULES },
      onProgress: (p) => seen.push(p),
    });
    expect(first.dir).toBe(join(dataDir, 'hive', '0.1.0'));
    expect(first.uploaded.length).toBe(files.length);
    expect(first.deps).toBe('linked');
    expect(readFileSync(join(first.dir, 'out/main/cli.js'), 'utf8')).toBe(readFileSync('out/main/cli.js', 'utf8'));
    expect(readlinkSync(join(first.dir, 'node_modules'))).toBe(PROJECT_NODE_MODULES);
    const uploads = seen.filter((p) => p.phase === 'uploading');
    expect(uploads.length).toBe(files.length);
    expect(uploads.at(-1)).toMatchObject({ filesDone: files.length, bytesDone: uploads.at(-1)!.bytesTotal });
    expect(seen.at(-1)!.phase).toBe('done');

    const second = await deployBundle(connection, {
      dataDir,
      version: '0.1.0',
      files,
      deps: { kind: 'link', path: PROJECT_NODE_MODULES },
    });
    expect(second.uploaded).toEqual([]);
    expect(second.skipped).toBe(files.length);

    writeFileSync(join(first.dir, 'package.json'), 'tampered');
    const third = await deployBundle(connection, {
      dataDir,
      version: '0.1.0',
      files,
      deps: { kind: 'none' },
    });
    expect(third.uploaded).toEqual(['package.json']);
    expect(readFileSync(join(first.dir, 'package.json'), 'utf8')).toBe(files.find((f) => f.path === 'package.json')!.content!.toString());
    expect((await preflight(connection, { dataDir, version: '0.1.0' })).installed_version).toBe('0.1.0');

    // Offline mode: the dependency closure from this machine's node_modules, packed, uploaded, unpacked; skipped when unchanged.
    const up = await deployBundle(connection, {
      dataDir,
      version: '0.1.0-up',
      files: files.slice(0, 2),
      deps: { kind: 'upload', packages: ['zod'] },
    });
    expect(up.deps).toBe('installed');
    expect(lstatSync(join(up.dir, 'node_modules', 'zod')).isDirectory()).toBe(true);
    expect(
      JSON.parse(readFileSync(join(up.dir, 'node_modules', 'zod', 'package.json'), 'utf8')).version,
    ).toBe('4.6.7');
    const again = await deployBundle(connection, {
      dataDir,
      version: '0.1.0-up',
      files: files.slice(0, 2),
      deps: { kind: 'upload', packages: ['zod'] },
    });
    expect(again.deps).toBe('skipped');
  }, 180_000); // real SFTP, sshd and processes on a 2-core machine: generous, not a performance claim

  it('RemoteHive: starts detached with the token over the channel, HTTP and SSE through tunnels on one connection, adopts, stops', async () => {
    const dataDir = join(dir, 'hive-data');
    const token = `tok-${randomBytes(12).toString('hex')}`;
    const audit = createRecordingAuditSink();
    const options = {
      id: 'remote-1',
      target,
      knownHosts: store,
      token,
      dataDir,
      version: '0.1.0',
      deps: { kind: 'link', path: PROJECT_NODE_MODULES } as const,
      // The version folder appears in the command line (as in the real hive's): pid checks look for it.
      command: (ctx: { node: string; dir: string; socketPath: string }) => [
        ctx.node,
        '-e',
        FAKE_HIVE_JS,
        ctx.dir,
        ctx.socketPath,
      ],
      audit,
    };
    const hive = await RemoteHive.connect(options);
    let pid = 0;
    try {
      await hive.deploy();
      const started = await hive.start();
      pid = started.pid;
      expect(started.adopted).toBe(false);
      expect(hive.state).toBe('online');

      // The token works, and never appeared in any argv.
      const who = await (await hive.request('/whoami')).json<{ pid: number; token_fp: string }>();
      expect(who.pid).toBe(pid);
      expect(who.token_fp).toBe(createHash('sha256').update(token).digest('hex').slice(0, 6));
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(token);
      expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).toContain(`RBEE_HIVE_TOKEN=${token}`);
      expect((await tunnelRequest(hive.agent, `${hive.baseUrl}/whoami`, { socketPath: hive.socketPath ?? undefined })).status).toBe(401);

      // Many requests multiplexed as channels over the ONE SSH connection.
      const many = await Promise.all(
        Array.from({ length: 40 }, () => hive.request('/whoami').then((r) => r.json<{ pid: number }>())),
      );
      expect(new Set(many.map((m) => m.pid))).toEqual(new Set([pid]));
      // SSE through the tunnel, every event arrives.
      const sse = await hive.request('/sse?n=500');
      const text = await sse.text();
      expect(text.match(/event: token/g)?.length).toBe(500);
      expect(text.endsWith('data: [DONE]\n\n')).toBe(true);

      // Disposing closes SSH only; a new RemoteHive adopts the same process.
      await hive.dispose();
      const again = await RemoteHive.connect(options);
      try {
        expect(await again.start()).toEqual({ pid, adopted: true });
      } finally {
        await again.dispose();
      }
      // A new version replaces the running one (upgrade): old pid stopped, new one serving.
      const upgraded = await RemoteHive.connect({ ...options, version: '0.1.1' });
      try {
        await upgraded.deploy();
        const next = await upgraded.start();
        expect(next).toMatchObject({ adopted: false, replaced: pid });
        expect(existsSync(`/proc/${pid}`)).toBe(false);
        expect((await (await upgraded.request('/whoami')).json<{ pid: number }>()).pid).toBe(next.pid);
        pid = next.pid;
        expect(await upgraded.stop(5000)).toBe(true);
        expect(existsSync(`/proc/${pid}`)).toBe(false);
        expect(upgraded.state).toBe('stopped');
        expect(await upgraded.isRunning()).toBe(false);
      } finally {
        await upgraded.dispose();
      }
      expect(audit.events.filter((e) => e.event_type === 'hive_connected').length).toBe(3);
    } finally {
      await hive.dispose();
      if (pid > 0 && existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
    }
  }, 180_000); // real SFTP, sshd and processes on a 2-core machine: generous, not a performance claim

  it('a hive that dies on start fails with its log tail', async () => {
    const hive = await RemoteHive.connect({
      id: 'broken',
      target,
      knownHosts: store,
      token: 't',
      dataDir: join(dir, 'broken-data'),
      version: '0.1.0',
      deps: { kind: 'none' },
      command: (ctx) => [ctx.node, '-e', 'console.error("boom: model dir missing"); process.exit(3)'],
      startTimeoutMs: 20_000,
    });
    try {
      await hive.deploy();
      await expect(hive.start()).rejects.toMatchObject({
        code: 'HIVE_START_FAILED',
        message: expect.stringContaining('boom: model dir missing'),
      });
    } finally {
      await hive.dispose();
    }
  });

  it('disk full: preflight flags it before deploying; a write that hits ENOSPC is reported as DISK_FULL', async () => {
    const small = join(dir, 'small-disk');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128k', 'tmpfs', small]);
    try {
      const hive = await RemoteHive.connect({
        id: 'full',
        target,
        knownHosts: store,
        token: 't',
        dataDir: small,
        deps: { kind: 'none' },
      });
      try {
        await expect(hive.deploy()).rejects.toMatchObject({
          code: 'DISK_FULL',
          message: expect.stringMatching(/MiB free on the remote's disk/),
        });
      } finally {
        await hive.dispose();
      }
      // Past preflight (a race with another writer): the failed SFTP write is diagnosed with df.
      const files = hiveBundleFiles();
      expect(files.reduce((n, f) => n + f.size, 0)).toBeGreaterThan(128 * 1024);
      await expect(
        deployBundle(connection, { dataDir: small, version: '0.1.0', files }),
      ).rejects.toMatchObject({
        code: 'DISK_FULL',
        message: expect.stringMatching(/The remote disk is full: \d+ KiB free/),
      });
    } finally {
      execFileSync('umount', [small]);
    }
  });

  it('authenticates through a real ssh-agent (SSH_AUTH_SOCK) when no key file is given; a passphrase key file points to the agent', async () => {
    const sock = join(dir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve, reject) => {
        agent.stdout.on('data', (d: Buffer) => d.toString().includes('SSH_AUTH_SOCK') && resolve());
        agent.once('exit', (code) => reject(new Error(`ssh-agent exited ${code}`)));
      });
      execFileSync('ssh-add', ['-q', sshd.clientKeyPath], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
      const viaAgent = resolveSshTarget(
        { host: sshd.host, port: sshd.port, user: sshd.user },
        { agentSocket: sock },
      );
      expect(viaAgent.keyFile).toBeNull();
      const c = await SshConnection.open({ target: viaAgent, knownHosts: store });
      expect((await c.exec('echo agent')).stdout).toBe('agent\n');
      await c.dispose();
    } finally {
      const exited = new Promise((resolve) => agent.once('exit', resolve));
      agent.kill('SIGTERM');
      await exited;
    }
    const locked = join(dir, 'locked_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret-pass', '-f', locked]);
    const target2 = resolveSshTarget(
      { host: sshd.host, port: sshd.port, user: sshd.user, keyFile: locked },
      { agentSocket: null },
    );
    await expect(SshConnection.open({ target: target2, knownHosts: store })).rejects.toMatchObject({
      code: 'KEY_FILE',
      message: expect.stringContaining('ssh-agent'),
    });
  });

  it('actionable errors: unreachable after 3 attempts, auth failure, key file too open', async () => {
    const closed = resolveSshTarget(
      { host: '127.0.0.1', port: await freePort(), user: sshd.user, keyFile: sshd.clientKeyPath },
      { agentSocket: null },
    );
    const t0 = Date.now();
    const unreachable = await SshConnection.open({
      target: closed,
      knownHosts: store,
      backoffBaseMs: 100,
    }).catch((e: unknown) => e);
    expect(unreachable).toMatchObject({
      code: 'UNREACHABLE',
      message: expect.stringMatching(/unreachable after 3 attempts.*ECONNREFUSED/),
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(0.8 * (100 + 200));

    const strangerKey = join(dir, 'stranger');
    copyFileSync(sshd.clientKeyPath, strangerKey);
    writeFileSync(join(sshd.dir, 'authorized_keys.bak'), readFileSync(join(sshd.dir, 'authorized_keys')));
    writeFileSync(join(sshd.dir, 'authorized_keys'), '');
    try {
      const denied = await SshConnection.open({ target, knownHosts: store, backoffBaseMs: 100 }).catch(
        (e: unknown) => e,
      );
      expect(denied).toMatchObject({ code: 'AUTH_FAILED', message: expect.stringContaining('chmod 600') });
    } finally {
      writeFileSync(join(sshd.dir, 'authorized_keys'), readFileSync(join(sshd.dir, 'authorized_keys.bak')));
    }

    chmodSync(strangerKey, 0o644);
    expect(() =>
      resolveSshTarget(
        { host: sshd.host, port: sshd.port, user: sshd.user, keyFile: strangerKey },
        { agentSocket: null },
      ),
    ).toThrow(/too open.*chmod 600/);
    expect(() =>
      resolveSshTarget({ host: sshd.host, port: sshd.port, user: sshd.user }, { agentSocket: null }),
    ).toThrow(/no ssh-agent/);
  });
});
