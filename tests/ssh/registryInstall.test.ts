/**
 * A remote hive installed the way a real second machine gets it: a separate local user (its own
 * home, its own cold npm cache) behind a real sshd, dependencies from the npm registry (reachable from
 * these machines). The deploy uploads the built bundle and a generated package.json; the remote
 * installs only what that bundle imports plus node-llama-cpp's CPU package for its platform.
 * Prints the installed size; the goal for a CPU-only remote is ≤ 150 MB.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KnownHostsStore } from '../../src-main/ssh/knownHosts.js';
import { RemoteHive } from '../../src-main/remote-hive/RemoteHive.js';
import { resolveSshTarget } from '../../src-main/ssh/SshTarget.js';
import { createLocalUser, type LocalUser } from '../helpers/localUser.js';
import type { SshdHandle } from '../helpers/sshd.js';
import { startSshd } from '../helpers/sshd.js';

const SIZE_GOAL_BYTES = 150 * 1024 * 1024;

describe('registry-mode remote install, as a separate user behind a real sshd', () => {
  let sshd: SshdHandle;
  let user: LocalUser;
  let dir: string;

  beforeAll(async () => {
    sshd = await startSshd();
    user = createLocalUser();
    dir = mkdtempSync(join(tmpdir(), 'rbee-registry-'));
    writeFileSync(join(dir, 'known_hosts'), `${sshd.knownHostsLine()}\n`);
  });

  afterAll(async () => {
    user?.remove(); // stops that user's processes by pid first
    await sshd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs only the runtime closure and the CPU platform package, within the size goal; the hive starts from the built bundle and answers', async () => {
    const hive = await RemoteHive.connect({
      id: 'registry-remote',
      target: resolveSshTarget({ host: sshd.host, port: sshd.port, user: user.name, keyFile: sshd.clientKeyPath }, { agentSocket: null }),
      knownHosts: new KnownHostsStore({ appFile: join(dir, 'known_hosts') }),
      token: 'registry-remote-hive-token-0123',
      deps: { kind: 'registry' },
      hiveArgs: ['--gpu', 'off', '--threads', '1', '--standby', '0'],
      startTimeoutMs: 120_000,
    });
    try {
      const phases = new Set<string>();
      const deployed = await hive.deploy((p) => phases.add(p.phase));
      expect([...phases]).toEqual(['checking', 'uploading', 'dependencies', 'done']);
      expect(deployed.deps).toBe('installed');
      const size = deployed.depsBytes!;
      console.log(`registry install as ${user.name}: node_modules = ${(size / 1024 / 1024).toFixed(1)} MB (goal ≤ 150 MB)`);
      expect(size).toBeGreaterThan(0);
      expect(size).toBeLessThanOrEqual(SIZE_GOAL_BYTES);

      // What is there: runtime packages only, and only this platform's CPU binaries.
      const modules = join(deployed.dir, 'node_modules');
      expect(existsSync(join(modules, 'node-llama-cpp'))).toBe(true);
      expect(readdirSync(join(modules, '@node-llama-cpp'))).toEqual(['linux-x64']);
      for (const devOnly of ['tsx', 'typescript', 'electron', 'vitest', 'playwright-core', 'react']) expect(existsSync(join(modules, devOnly))).toBe(false);
      expect(readdirSync(deployed.dir).filter((f) => f.endsWith('.ts') || f === 'src-main')).toEqual([]);

      const started = await hive.start();
      const health = await hive.request('/v1/health');
      expect(health.status).toBe(200);
      const argv = readFileSync(`/proc/${started.pid}/cmdline`, 'utf8').split('\0').join(' ');
      expect(argv).toContain(`${deployed.dir}/out/main/cli.js hive`);
      expect(argv).not.toMatch(/tsx|\.ts\b/);
      expect(await hive.stop()).toBe(true);
    } finally {
      await hive.dispose();
    }
  }, 600_000);
});
