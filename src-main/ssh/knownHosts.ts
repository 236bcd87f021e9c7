import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { hostLabel } from './errors.js';
import { globMatch } from './sshConfig.js';

/** OpenSSH's `SHA256:<base64 of sha256(key blob) without padding>`. */
export function sshFingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type is the first string of the SSH wire-format key blob (`ssh-ed25519`, `ssh-rsa`, …). */
export function sshKeyType(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown';
  const len = keyBlob.readUInt32BE(0);
  if (len <= 0 || len > 64 || 4 + len > keyBlob.length) return 'unknown';
  return keyBlob.subarray(4, 4 + len).toString('latin1');
}

export interface KnownHostEntry {
  file: string;
  line: number;
  marker: '@revoked' | '@cert-authority' | null;
  /** Comma-separated patterns, or one `|1|salt|hash` hashed name. */
  hostField: string;
  keyType: string;
  key: Buffer;
}

export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const parts = line.split(/\s+/);
    let marker: KnownHostEntry['marker'] = null;
    if (parts[0] === '@revoked' || parts[0] === '@cert-authority')
      marker = parts.shift() as '@revoked' | '@cert-authority';
    const [hostField, keyType, keyB64] = parts;
    if (!hostField || !keyType || !keyB64) return;
    const key = Buffer.from(keyB64, 'base64');
    if (key.length === 0) return;
    out.push({ file, line: index + 1, marker, hostField, keyType, key });
  });
  return out;
}

/** The names OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
function lookupName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** Does a known_hosts host field name this host? Supports hashed (`|1|`), patterns and negation. */
export function hostFieldMatches(hostField: string, host: string, port: number): boolean {
  const name = lookupName(host, port);
  if (hostField.startsWith('|1|')) {
    const [, , salt64, hash64] = hostField.split('|');
    if (!salt64 || !hash64) return false;
    const mac = createHmac('sha1', Buffer.from(salt64, 'base64')).update(name).digest('base64');
    return mac === hash64;
  }
  let positive = false;
  for (const pattern of hostField.split(',')) {
    if (pattern.startsWith('!')) {
      if (globMatch(name, pattern.slice(1))) return false;
    } else if (globMatch(name, pattern)) {
      positive = true;
    }
  }
  return positive;
}

/** `|1|salt|hash` for a name, as `ssh-keygen -H` writes it. */
export function hashHostName(host: string, port: number, salt: Buffer = randomBytes(20)): string {
  const mac = createHmac('sha1', salt).update(lookupName(host, port)).digest('base64');
  return `|1|${salt.toString('base64')}|${mac}`;
}

export type HostKeyVerdict =
  | { status: 'trusted'; fingerprint: string; keyType: string; file: string }
  | { status: 'unknown'; fingerprint: string; keyType: string }
  | { status: 'changed'; fingerprint: string; keyType: string; expected: string[]; file: string }
  | { status: 'revoked'; fingerprint: string; keyType: string; file: string };

export interface KnownHostsStoreOptions {
  /** The user's files, read only. Defaults to none; callers pass `~/.ssh/known_hosts`. */
  userFiles?: string[];
  /** The app's own file: read, and where `trust()` appends (mode 0600). */
  appFile: string;
  /** Write hashed host names when trusting. Defaults to false (readable file, like OpenSSH's default). */
  hashHosts?: boolean;
}

/**
 * Host-key verification against OpenSSH known_hosts files: the user's (read only) and the app's own
 * (appended when the operator trusts a key). A key matching any entry for the host is trusted; a
 * `@revoked` key is refused; a different key of the same type as a known one is "changed" (refused);
 * otherwise "unknown" (the operator is shown the fingerprint). `@cert-authority` lines are ignored
 * (host certificates are not supported).
 */
export class KnownHostsStore {
  readonly appFile: string;
  private readonly userFiles: string[];
  private readonly hashHosts: boolean;

  constructor(options: KnownHostsStoreOptions) {
    this.appFile = options.appFile;
    this.userFiles = options.userFiles ?? [];
    this.hashHosts = options.hashHosts ?? false;
  }

  entriesFor(host: string, port: number): KnownHostEntry[] {
    const out: KnownHostEntry[] = [];
    for (const file of [...this.userFiles, this.appFile]) {
      if (!existsSync(file)) continue;
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      for (const entry of parseKnownHosts(text, file)) {
        if (entry.marker !== '@cert-authority' && hostFieldMatches(entry.hostField, host, port))
          out.push(entry);
      }
    }
    return out;
  }

  /** Key types known for this host, to offer them first in the key exchange (as OpenSSH does). */
  knownKeyTypes(host: string, port: number): string[] {
    return [
      ...new Set(
        this.entriesFor(host, port)
          .filter((e) => e.marker === null)
          .map((e) => e.keyType),
      ),
    ];
  }

  check(host: string, port: number, keyBlob: Buffer): HostKeyVerdict {
    const fingerprint = sshFingerprint(keyBlob);
    const keyType = sshKeyType(keyBlob);
    const entries = this.entriesFor(host, port);
    const revoked = entries.find((e) => e.marker === '@revoked' && e.key.equals(keyBlob));
    if (revoked) return { status: 'revoked', fingerprint, keyType, file: revoked.file };
    const plain = entries.filter((e) => e.marker === null);
    const match = plain.find((e) => e.key.equals(keyBlob));
    if (match) return { status: 'trusted', fingerprint, keyType, file: match.file };
    const sameType = plain.filter((e) => e.keyType === keyType);
    if (sameType.length > 0) {
      return {
        status: 'changed',
        fingerprint,
        keyType,
        expected: sameType.map((e) => sshFingerprint(e.key)),
        file: `${sameType[0]!.file}:${sameType[0]!.line}`,
      };
    }
    return { status: 'unknown', fingerprint, keyType };
  }

  /** Appends the key to the app's file (created 0600). The caller checked the fingerprint. */
  trust(host: string, port: number, keyBlob: Buffer): void {
    mkdirSync(dirname(this.appFile), { recursive: true, mode: 0o700 });
    const name = this.hashHosts ? hashHostName(host, port) : lookupName(host, port);
    appendFileSync(this.appFile, `${name} ${sshKeyType(keyBlob)} ${keyBlob.toString('base64')}\n`, {
      mode: 0o600,
    });
    chmodSync(this.appFile, 0o600);
  }

  describe(host: string, port: number): string {
    return hostLabel(host, port);
  }
}
