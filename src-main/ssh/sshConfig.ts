import { readFileSync } from 'node:fs';

/** The `~/.ssh/config` settings this app honours for an alias. */
export interface SshConfigEntry {
  hostName?: string;
  port?: number;
  user?: string;
  identityFiles: string[];
}

/**
 * Reads what OpenSSH would use for `alias` from an ssh_config file: `Host` blocks whose patterns
 * match (`*`, `?`, `!negation`), first value wins, `IdentityFile` accumulates. `Match` blocks and
 * `Include` are not evaluated (documented in docs/ssh-hives.md); their settings are ignored.
 * Returns null when no `Host` block matched (the alias is then a plain host name).
 */
export function lookupSshConfig(alias: string, configPath: string): SshConfigEntry | null {
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch {
    return null;
  }
  return lookupSshConfigText(alias, text);
}

export function lookupSshConfigText(alias: string, text: string): SshConfigEntry | null {
  const entry: SshConfigEntry = { identityFiles: [] };
  let matched = false;
  let active = true; // settings before the first Host apply to all hosts
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    const args = splitArgs(m[2]!);
    if (key === 'host') {
      active = hostMatches(alias, args);
      if (active) matched = true;
      continue;
    }
    if (key === 'match') {
      active = false;
      continue;
    }
    if (!active) continue;
    const value = args[0];
    if (value === undefined) continue;
    switch (key) {
      case 'hostname':
        entry.hostName ??= value;
        break;
      case 'port': {
        const port = Number(value);
        if (entry.port === undefined && Number.isInteger(port)) entry.port = port;
        break;
      }
      case 'user':
        entry.user ??= value;
        break;
      case 'identityfile':
        entry.identityFiles.push(value);
        break;
    }
  }
  return matched ? entry : null;
}

function hostMatches(alias: string, patterns: string[]): boolean {
  let positive = false;
  for (const pattern of patterns) {
    if (pattern.startsWith('!')) {
      if (globMatch(alias, pattern.slice(1))) return false;
    } else if (globMatch(alias, pattern)) {
      positive = true;
    }
  }
  return positive;
}

/** OpenSSH pattern: `*` any run, `?` one character, case-insensitive for host names. */
export function globMatch(value: string, pattern: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .split('')
        .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('') +
      '$',
    'i',
  );
  return re.test(value);
}

function splitArgs(rest: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rest)) !== null) out.push(m[1] ?? m[2]!);
  return out;
}
