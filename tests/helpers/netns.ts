/**
 * A network namespace joined to the host by a veth pair, for tests that need a real network link they
 * can cut (`partition()`: the host end goes down) and restore (`heal()`). Needs root and iproute2;
 * without them `createNetns` throws with the reason, so the test fails rather than skips.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { isAlive } from './processTree.js';

export interface NetnsInfo {
  name: string;
  hostVeth: string;
  nsVeth: string;
  /** The host's end of the link. */
  hostAddress: string;
  /** The address of the namespace's end: what the host dials. */
  nsAddress: string;
}

export interface Netns extends NetnsInfo {
  /** Runs a command inside the namespace and returns its stdout. */
  exec(argv: string[]): string;
  /** Starts a process inside the namespace (`ip netns exec NAME …`). */
  spawn(argv: string[], options?: SpawnOptions): ChildProcess;
  partition(): void;
  heal(): void;
  /** Ends whatever still runs inside (by PID), then removes the link and the namespace. */
  dispose(): void;
}

function sh(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function createNetns(prefix = 'rbee'): Netns {
  if (process.getuid?.() !== 0) throw new Error('NETWORK NAMESPACES UNAVAILABLE: creating a netns needs root; this test fails rather than skips.');
  const tag = randomBytes(3).toString('hex');
  // A /30 in 10.0.0.0/8 that no interface on this machine uses yet (parallel tests pick their own).
  const inUse = sh('ip', ['-4', '-o', 'addr', 'show']);
  let a = 0;
  let c = 0;
  do {
    a = randomInt(16, 250);
    c = randomInt(0, 256);
  } while (inUse.includes(` 10.${a}.${c}.`));
  const info: NetnsInfo = { name: `${prefix}-${tag}`, hostVeth: `rbh${tag}`, nsVeth: `rbn${tag}`, hostAddress: `10.${a}.${c}.1`, nsAddress: `10.${a}.${c}.2` };
  const dispose = (): void => {
    try {
      const pids = sh('ip', ['netns', 'pids', info.name]).split(/\s+/).filter(Boolean).map(Number);
      for (const pid of pids) if (pid !== process.pid && isAlive(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      // namespace already gone
    }
    try {
      sh('ip', ['link', 'del', info.hostVeth]);
    } catch {
      // already gone (deleting the namespace removes the peer too)
    }
    try {
      sh('ip', ['netns', 'del', info.name]);
    } catch {
      // already gone
    }
  };
  try {
    sh('ip', ['netns', 'add', info.name]);
    sh('ip', ['link', 'add', info.hostVeth, 'type', 'veth', 'peer', 'name', info.nsVeth]);
    sh('ip', ['link', 'set', info.nsVeth, 'netns', info.name]);
    sh('ip', ['addr', 'add', `${info.hostAddress}/30`, 'dev', info.hostVeth]);
    sh('ip', ['link', 'set', info.hostVeth, 'up']);
    sh('ip', ['-n', info.name, 'addr', 'add', `${info.nsAddress}/30`, 'dev', info.nsVeth]);
    sh('ip', ['-n', info.name, 'link', 'set', info.nsVeth, 'up']);
    sh('ip', ['-n', info.name, 'link', 'set', 'lo', 'up']);
  } catch (error) {
    dispose();
    const detail = error instanceof Error ? ((error as Error & { stderr?: string }).stderr ?? error.message) : String(error);
    throw new Error(`NETWORK NAMESPACES UNAVAILABLE: could not create a netns + veth pair (${detail.trim()}). This test needs root and iproute2 with netns support; it fails rather than skips.`);
  }
  return {
    ...info,
    exec: (argv) => sh('ip', ['netns', 'exec', info.name, ...argv]),
    spawn: (argv, options = {}) => spawn('ip', ['netns', 'exec', info.name, ...argv], options),
    partition: () => void sh('ip', ['link', 'set', info.hostVeth, 'down']),
    heal: () => void sh('ip', ['link', 'set', info.hostVeth, 'up']),
    dispose,
  };
}
