import { readdirSync, readFileSync } from 'node:fs';

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
