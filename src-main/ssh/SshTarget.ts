import { existsSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { SshError, SshTargetError } from './errors.js';
import { lookupSshConfig } from './sshConfig.js';

/** What an operator types to add a hive (AddHiveRequest's SSH part). */
export interface SshTargetInput {
  /** Host name, IPv4/IPv6 address, or a `~/.ssh/config` alias. */
  host: string;
  /** Defaults to the alias's Port, else 22. */
  port?: number;
  /** Defaults to the alias's User, else the local user name. */
  user?: string;
  /** Private key path (`~` expanded). Defaults to the alias's IdentityFile, else the ssh-agent. */
  keyFile?: string;
}

/** A validated, fully resolved SSH destination. Every field is safe to use; none is ever executed. */
export interface SshTarget {
  /** What the operator typed (alias or host): the name known_hosts entries and the UI use. */
  readonly alias: string;
  /** The address actually dialled (HostName of the alias, or the host itself). */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Absolute path of the private key, or null to use the ssh-agent. */
  readonly keyFile: string | null;
  /** `SSH_AUTH_SOCK` at resolve time; used when keyFile is null (and as a fallback). */
  readonly agentSocket: string | null;
}

export interface ResolveSshTargetOptions {
  /** Defaults to `~/.ssh/config`. */
  sshConfigPath?: string;
  /** Defaults to `process.env.SSH_AUTH_SOCK`. */
  agentSocket?: string | null;
  /** Defaults to the local user name. */
  defaultUser?: string;
}

const HOSTNAME_RE =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const IPV4_RE = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6_RE = /^[0-9A-Fa-f:.]{2,45}$/;
/** POSIX portable user names (plus upper case, as some directories allow). */
const USER_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const ALIAS_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

export function validateHost(host: string): string {
  if (typeof host !== 'string' || host.length === 0) throw new SshTargetError('Host is empty.');
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (IPV4_RE.test(bare) || HOSTNAME_RE.test(bare)) return bare;
  if (bare.includes(':') && IPV6_RE.test(bare)) return bare;
  throw new SshTargetError(
    `Invalid host ${JSON.stringify(host)}: use a host name, an IP address or a ~/.ssh/config alias (letters, digits, '.', '-'; no leading '-').`,
  );
}

export function validateUser(user: string): string {
  if (typeof user !== 'string' || !USER_RE.test(user)) {
    throw new SshTargetError(
      `Invalid user ${JSON.stringify(user)}: letters, digits, '_', '.', '-', starting with a letter or '_', at most 32 characters.`,
    );
  }
  return user;
}

export function validatePort(port: unknown): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new SshTargetError(`Invalid port ${JSON.stringify(port)}: an integer from 1 to 65535.`);
  }
  return port;
}

/** Remote paths are always quoted when used; still refuse what no sane path contains. */
export function validateRemotePath(path: string, what = 'path'): string {
  if (typeof path !== 'string' || path.length === 0 || path.length > 4096)
    throw new SshTargetError(`Invalid ${what}: empty or too long.`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path))
    throw new SshTargetError(
      `Invalid ${what} ${JSON.stringify(path)}: control characters (newline, NUL…) are not allowed.`,
    );
  if (path.startsWith('-'))
    throw new SshTargetError(`Invalid ${what} ${JSON.stringify(path)}: must not start with '-'.`);
  return path;
}

export function expandHome(path: string, home = homedir()): string {
  if (path === '~') return home;
  if (path.startsWith('~/')) return join(home, path.slice(2));
  return path;
}

/**
 * Checks a private key file the way OpenSSH does before using it: it must exist, be a file, and not
 * be readable by group or others (OpenSSH refuses such keys; so do we, with the fix in the message).
 */
export function checkKeyFile(path: string): void {
  if (!existsSync(path)) throw new SshError('KEY_FILE', `Key file ${path} does not exist.`);
  const st = statSync(path);
  if (!st.isFile()) throw new SshError('KEY_FILE', `Key file ${path} is not a regular file.`);
  if ((st.mode & 0o077) !== 0) {
    throw new SshError(
      'KEY_FILE',
      `Key file ${path} is too open (mode ${(st.mode & 0o777).toString(8)}): other users can read it. Run: chmod 600 ${path}`,
    );
  }
}

/** Validates the operator's input and merges it with `~/.ssh/config` (explicit values win). */
export function resolveSshTarget(input: SshTargetInput, options: ResolveSshTargetOptions = {}): SshTarget {
  if (typeof input.host !== 'string' || input.host.length === 0) throw new SshTargetError('Host is empty.');
  const configPath = options.sshConfigPath ?? join(homedir(), '.ssh', 'config');
  const fromConfig = ALIAS_RE.test(input.host) ? lookupSshConfig(input.host, configPath) : null;
  const alias = fromConfig ? input.host : validateHost(input.host);
  const host = validateHost(fromConfig?.hostName?.replace(/%h/g, input.host) ?? alias);
  const port = validatePort(input.port ?? fromConfig?.port ?? 22);
  const user = validateUser(input.user ?? fromConfig?.user ?? options.defaultUser ?? userInfo().username);
  const agentSocket =
    options.agentSocket !== undefined ? options.agentSocket : (process.env.SSH_AUTH_SOCK ?? null);

  let keyFile: string | null = null;
  if (input.keyFile !== undefined) {
    keyFile = absoluteKeyPath(input.keyFile);
  } else if (fromConfig) {
    const candidates = fromConfig.identityFiles.map((f) =>
      absoluteKeyPath(
        f
          .replace(/%d/g, homedir())
          .replace(/%u/g, userInfo().username)
          .replace(/%r/g, user)
          .replace(/%h/g, host),
      ),
    );
    keyFile = candidates.find((f) => existsSync(f)) ?? null;
  }
  if (keyFile !== null) checkKeyFile(keyFile);
  else if (!agentSocket) {
    throw new SshTargetError(
      'No key file given and no ssh-agent (SSH_AUTH_SOCK is not set): pass a key file or start ssh-agent.',
    );
  }
  return { alias, host, port, user, keyFile, agentSocket };
}

function absoluteKeyPath(path: string): string {
  if (typeof path !== 'string' || path.length === 0) throw new SshTargetError('Key file path is empty.');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path))
    throw new SshTargetError('Key file path contains control characters.');
  const expanded = expandHome(path);
  return isAbsolute(expanded) ? expanded : resolve(expanded);
}

/** `user@host:port` as HiveInfo.address shows it. */
export function targetAddress(target: SshTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${target.user}@${host}:${target.port}`;
}
