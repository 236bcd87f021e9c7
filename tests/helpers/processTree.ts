import { readdirSync, readFileSync } from 'node:fs';
import { waitFor } from './waitFor.js';

/** The direct children of `pid`, from /proc (Linux). */
export function childPidsOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Every process below `pid` (hive, workers, warm standby), depth first. */
export function descendantsOf(pid: number): number[] {
  return childPidsOf(pid).flatMap((child) => [child, ...descendantsOf(child)]);
}

/** A process's command line as its argv (NUL separated in /proc); empty when it is gone. */
export function commandLineOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * True while a process with this pid exists and is not a zombie: a zombie has exited and only waits
 * for its parent to reap it, so for a test it is gone. The one liveness check of the tests.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Polls until the pid is gone (no event exists for a foreign process's death); false when it outlives `timeoutMs`. */
export function waitForPidGone(pid: number, timeoutMs: number): Promise<boolean> {
  return waitFor(() => !isAlive(pid), { what: `pid ${pid} gone`, timeoutMs }).then(
    () => true,
    () => false,
  );
}
