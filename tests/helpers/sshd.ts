/**
 * A real OpenSSH server for tests (BUILD-FACTS "A real sshd for tests"): `sshd -D -e -f CONFIG` on
 * 127.0.0.1 and a free port, temporary ed25519 host and client keys, stopped by PID. Optionally
 * inside a network namespace joined to the host by a veth pair, so a test can cut the link
 * (`partition()`) and restore it (`heal()`). Needs root (sshd, ip netns); the harness says so.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { createNetns, type Netns, type NetnsInfo } from './netns.js';
import { isAlive } from './processTree.js';

export type { NetnsInfo } from './netns.js';

export interface SshdHandle {
  /** Address clients dial: 127.0.0.1, or the namespace's veth address. */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly dir: string;
  readonly clientKeyPath: string;
  /** `host_key.pub` content: `ssh-ed25519 AAAA… comment`. */
  hostPublicKey(): string;
  /** SHA256 fingerprint as `ssh-keygen -lf` prints it. */
  hostFingerprint(): string;
  /** A known_hosts line for the current host key. */
  knownHostsLine(): string;
  pid(): number;
  /** sshd's stderr so far (`-e`): 'Accepted publickey for …' marks each authenticated session. */
  log(): string;
  /**
   * Resolves once sshd's log matches `pattern` (checked as each chunk of its stderr arrives). sshd's
   * lines reach us through a pipe, so one can arrive after the client already sees its session open.
   */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
  readonly netns: NetnsInfo | null;
  /** Stops sshd, generates a new host key, starts it again on the same port. */
  swapHostKey(): Promise<void>;
  /** `ip link set <host veth> down` (namespace mode only). */
  partition(): void;
  heal(): void;
  /** Runs a command inside the namespace (or on the host without one); returns stdout. */
  execInside(argv: string[]): string;
  stop(): Promise<void>;
}

export interface StartSshdOptions {
  /** Run sshd in a new network namespace reached through a veth pair. Defaults to false. */
  netns?: boolean;
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function keygen(path: string): void {
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rbee-test', '-f', path]);
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // process went away
    }
  }
  return out;
}

export async function startSshd(options: StartSshdOptions = {}): Promise<SshdHandle> {
  if (process.getuid?.() !== 0)
    throw new Error('The sshd test harness needs root (sshd privilege separation, ip netns).');
  if (!existsSync('/usr/sbin/sshd'))
    throw new Error('openssh-server is not installed (apt-get install -y openssh-server).');
  const dir = mkdtempSync(join(tmpdir(), 'rbee-sshd-'));
  chmodSync(dir, 0o755);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKeyPath = join(dir, 'host_key');
  const clientKeyPath = join(dir, 'client_key');
  keygen(hostKeyPath);
  keygen(clientKeyPath);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${clientKeyPath}.pub`));

  let netns: Netns | null = null;
  let host = '127.0.0.1';
  let port: number;
  if (options.netns) {
    try {
      netns = createNetns('rbee-ssh');
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    host = netns.nsAddress;
    port = 2222;
  } else {
    port = await freePort();
  }

  const configPath = join(dir, 'sshd_config');
  writeFileSync(
    configPath,
    [
      `Port ${port}`,
      `ListenAddress ${host}`,
      `HostKey ${hostKeyPath}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'Subsystem sftp internal-sftp',
      'AllowTcpForwarding yes',
      'MaxSessions 64',
      'MaxStartups 64',
      'LogLevel INFO',
      '',
    ].join('\n'),
  );
  sh('/usr/sbin/sshd', ['-t', '-f', configPath]);

  let child: ChildProcess | null = null;
  let log = '';
  const logWaiters = new Set<() => void>();
  const launch = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const argv = ['/usr/sbin/sshd', '-D', '-e', '-f', configPath];
      const proc = netns ? netns.spawn(argv, { stdio: ['ignore', 'ignore', 'pipe'] }) : spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
      child = proc;
      let buffered = '';
      const onData = (d: Buffer): void => {
        buffered += d.toString();
        log += d.toString();
        if (log.length > 200_000) log = log.slice(-100_000);
        for (const check of logWaiters) check();
        if (/Server listening on/.test(buffered)) {
          buffered = '';
          resolve();
        }
      };
      proc.stderr!.on('data', onData);
      proc.once('exit', (code, signal) =>
        reject(new Error(`sshd exited before listening (code ${code}, signal ${signal}):\n${log}`)),
      );
      proc.once('error', reject);
    });
  const kill = async (): Promise<void> => {
    const proc: ChildProcess | null = child;
    child = null;
    if (!proc || proc.exitCode !== null || proc.pid === undefined) return;
    const pid = proc.pid;
    const sessions = childPids(pid);
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    process.kill(pid, 'SIGTERM');
    await exited;
    // Per-connection sshd processes outlive the listener; end them too, by PID.
    for (const s of sessions) if (isAlive(s)) process.kill(s, 'SIGTERM');
  };

  try {
    await launch();
  } catch (error) {
    netns?.dispose();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  const hostPublicKey = (): string => readFileSync(`${hostKeyPath}.pub`, 'utf8').trim();
  const handle: SshdHandle = {
    host,
    port,
    user: userInfo().username,
    dir,
    clientKeyPath,
    netns,
    hostPublicKey,
    hostFingerprint: () => sh('ssh-keygen', ['-lf', `${hostKeyPath}.pub`]).split(/\s+/)[1]!,
    knownHostsLine: () => {
      const [type, key] = hostPublicKey().split(/\s+/);
      return `[${host}]:${port} ${type} ${key}`;
    },
    pid: () => (child as ChildProcess | null)?.pid ?? -1,
    log: () => log,
    waitForLog: (pattern, timeoutMs = 10_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          logWaiters.delete(check);
          reject(new Error(`sshd's log did not match ${pattern} within ${timeoutMs} ms:\n${log.slice(-2_000)}`));
        }, timeoutMs);
        const check = (): void => {
          if (!pattern.test(log)) return;
          clearTimeout(timer);
          logWaiters.delete(check);
          resolve();
        };
        logWaiters.add(check);
        check();
      }),
    swapHostKey: async () => {
      await kill();
      rmSync(hostKeyPath, { force: true });
      rmSync(`${hostKeyPath}.pub`, { force: true });
      keygen(hostKeyPath);
      await launch();
    },
    partition: () => {
      if (!netns) throw new Error('partition() needs { netns: true }');
      netns.partition();
    },
    heal: () => {
      if (!netns) throw new Error('heal() needs { netns: true }');
      netns.heal();
    },
    execInside: (argv: string[]) => (netns ? netns.exec(argv) : sh(argv[0]!, argv.slice(1))),
    stop: async () => {
      await kill();
      netns?.dispose();
      rmSync(dir, { recursive: true, force: true });
      if (log.includes('fatal')) process.stderr.write(`[sshd log]\n${log}\n`);
    },
  };
  return handle;
}

