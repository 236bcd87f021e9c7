/**
 * One error class per failure kind of the SSH layer. Each carries a stable `code` (what the control
 * API and the CLI map to a status or an exit code) and a message an operator can act on.
 */
export type SshErrorCode =
  | 'INVALID_TARGET'
  | 'HOST_KEY_UNKNOWN'
  | 'HOST_KEY_CHANGED'
  | 'HOST_KEY_REVOKED'
  | 'FINGERPRINT_MISMATCH'
  | 'AUTH_FAILED'
  | 'KEY_FILE'
  | 'UNREACHABLE'
  | 'REMOTE_COMMAND_FAILED'
  | 'NODE_MISSING'
  | 'DISK_FULL'
  | 'HIVE_START_FAILED'
  /** The process on the hive's socket failed the nonce handshake: refused, nothing sent to it. */
  | 'HIVE_IMPOSTOR'
  /** A request before the hive passed the handshake (or after the link dropped, until it passes again). */
  | 'HIVE_NOT_VERIFIED'
  | 'DISPOSED';

export class SshError extends Error {
  readonly code: SshErrorCode;
  constructor(code: SshErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SshError';
    this.code = code;
  }
}

/** A host, user, port, path or alias failed validation (nothing was sent anywhere). */
export class SshTargetError extends SshError {
  constructor(message: string) {
    super('INVALID_TARGET', message);
    this.name = 'SshTargetError';
  }
}

/** The server presented a key nobody trusted yet: show `fingerprint`, trust it once to go on. */
export class HostKeyUnknownError extends SshError {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly fingerprint: string,
    readonly keyType: string,
  ) {
    super(
      'HOST_KEY_UNKNOWN',
      `The host key of ${hostLabel(host, port)} is not known (${keyType} ${fingerprint}). Check it and trust it to continue.`,
    );
    this.name = 'HostKeyUnknownError';
  }
}

/** known_hosts holds a different key of the same type for this host: possible man-in-the-middle. */
export class HostKeyChangedError extends SshError {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly fingerprint: string,
    readonly keyType: string,
    readonly expected: readonly string[],
    readonly knownHostsFile: string,
  ) {
    super(
      'HOST_KEY_CHANGED',
      `REFUSED: the host key of ${hostLabel(host, port)} has CHANGED (now ${keyType} ${fingerprint}, known: ${expected.join(', ')} in ${knownHostsFile}). ` +
        'Someone could be intercepting the connection, or the server was reinstalled. Verify the new key out of band, then remove the old entry and trust again.',
    );
    this.name = 'HostKeyChangedError';
  }
}

export class HostKeyRevokedError extends SshError {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly fingerprint: string,
  ) {
    super(
      'HOST_KEY_REVOKED',
      `REFUSED: the host key of ${hostLabel(host, port)} (${fingerprint}) is marked @revoked in known_hosts.`,
    );
    this.name = 'HostKeyRevokedError';
  }
}

export function hostLabel(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}
