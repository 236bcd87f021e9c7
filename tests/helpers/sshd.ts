/**
 * A real OpenSSH server for tests (BUILD-FACTS "A real sshd for tests"): `sshd -D -e -f CONFIG` on
 * 127.0.0.1 and a free port, temporary ed25519 host and client keys, stopped by PID. Optionally
 * inside a network namespace joined to the host by a veth pair, so a test can cut the link
 * (`partition()`) and restore it (`heal()`). Needs root (sshd, ip netns); the harness says so.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
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

export interface NetnsInfo {
  name: string;
  hostVeth: string;
  nsVeth: string;
  hostAddress: string;
  nsAddress: string;
}

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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
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

  let netns: NetnsInfo | null = null;
  let host = '127.0.0.1';
  let port: number;
  if (options.netns) {
    const tag = randomBytes(3).toString('hex');
    // A /30 in 10.0.0.0/8 that no interface on this machine uses yet (parallel tests pick their own).
    const inUse = sh('ip', ['-4', '-o', 'addr', 'show']);
    let a = 0;
    let c = 0;
    do {
      a = randomInt(16, 250);
      c = randomInt(0, 256);
    } while (inUse.includes(` 10.${a}.${c}.`));
    netns = {
      name: `rbee-ssh-${tag}`,
      hostVeth: `rbh${tag}`,
      nsVeth: `rbn${tag}`,
      hostAddress: `10.${a}.${c}.1`,
      nsAddress: `10.${a}.${c}.2`,
    };
    try {
      sh('ip', ['netns', 'add', netns.name]);
      sh('ip', ['link', 'add', netns.hostVeth, 'type', 'veth', 'peer', 'name', netns.nsVeth]);
      sh('ip', ['link', 'set', netns.nsVeth, 'netns', netns.name]);
      sh('ip', ['addr', 'add', `${netns.hostAddress}/30`, 'dev', netns.hostVeth]);
      sh('ip', ['link', 'set', netns.hostVeth, 'up']);
      sh('ip', ['-n', netns.name, 'addr', 'add', `${netns.nsAddress}/30`, 'dev', netns.nsVeth]);
      sh('ip', ['-n', netns.name, 'link', 'set', netns.nsVeth, 'up']);
      sh('ip', ['-n', netns.name, 'link', 'set', 'lo', 'up']);
    } catch (error) {
      cleanupNetns(netns);
      rmSync(dir, { recursive: true, force: true });
      const detail =
        error instanceof Error
          ? ((error as Error & { stderr?: string }).stderr ?? error.message)
          : String(error);
      throw new Error(
        `NETWORK NAMESPACES UNAVAILABLE: could not create a netns + veth pair (${detail.trim()}). The partition test needs root and iproute2 with netns support; it fails rather than skips.`,
      );
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
  const launch = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const argv = ['/usr/sbin/sshd', '-D', '-e', '-f', configPath];
      const proc = netns
        ? spawn('ip', ['netns', 'exec', netns.name, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] })
        : spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
      child = proc;
      let buffered = '';
      const onData = (d: Buffer): void => {
        buffered += d.toString();
        log += d.toString();
        if (log.length > 200_000) log = log.slice(-100_000);
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
    for (const s of sessions) if (alive(s)) process.kill(s, 'SIGTERM');
  };

  try {
    await launch();
  } catch (error) {
    if (netns) cleanupNetns(netns);
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
    swapHostKey: async () => {
      await kill();
      rmSync(hostKeyPath, { force: true });
      rmSync(`${hostKeyPath}.pub`, { force: true });
      keygen(hostKeyPath);
      await launch();
    },
    partition: () => {
      if (!netns) throw new Error('partition() needs { netns: true }');
      sh('ip', ['link', 'set', netns.hostVeth, 'down']);
    },
    heal: () => {
      if (!netns) throw new Error('heal() needs { netns: true }');
      sh('ip', ['link', 'set', netns.hostVeth, 'up']);
    },
    execInside: (argv: string[]) =>
      netns ? sh('ip', ['netns', 'exec', netns.name, ...argv]) : sh(argv[0]!, argv.slice(1)),
    stop: async () => {
      await kill();
      if (netns) cleanupNetns(netns);
      rmSync(dir, { recursive: true, force: true });
      if (log.includes('fatal')) process.stderr.write(`[sshd log]\n${log}\n`);
    },
  };
  return handle;
}

function cleanupNetns(netns: NetnsInfo): void {
  // Whatever a test started inside the namespace (and failed to stop) is ended by PID first.
  try {
    const pids = sh('ip', ['netns', 'pids', netns.name]).split(/\s+/).filter(Boolean).map(Number);
    for (const pid of pids) if (pid !== process.pid && alive(pid)) process.kill(pid, 'SIGKILL');
  } catch {
    // namespace already gone
  }
  try {
    sh('ip', ['link', 'del', netns.hostVeth]);
  } catch {
    // already gone (deleting the namespace removes the peer too)
  }
  try {
    sh('ip', ['netns', 'del', netns.name]);
  } catch {
    // already gone
  }
}
