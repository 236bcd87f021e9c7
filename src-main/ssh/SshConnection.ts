import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import { Client } from 'ssh2';
import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import { NOOP_AUDIT_SINK } from '../../src-shared/audit/AuditEvent.js';
import {
  HostKeyChangedError,
  HostKeyRevokedError,
  HostKeyUnknownError,
  SshError,
  hostLabel,
} from './errors.js';
import type { HostKeyVerdict, KnownHostsStore } from './knownHosts.js';
import type { SshTarget } from './SshTarget.js';
import { targetAddress } from './SshTarget.js';
import { backoffDelayMs } from '../../src-shared/policy/backoffDelay.js';

export type SshConnectionState = 'idle' | 'connecting' | 'connected' | 'unreachable' | 'failed' | 'disposed';

export interface SshConnectionEvents {
  /** Every state change, with a human-readable reason. */
  state: [state: SshConnectionState, reason: string | null];
  /** First successful connection. */
  connected: [];
  /** An established connection was lost (keepalive timeout, reset, server gone); reconnecting. */
  unreachable: [error: Error];
  /** A reconnect attempt starts dialling (after its backoff). */
  reconnecting: [info: { attempt: number }];
  /** One reconnect attempt failed (the link is still down); the next follows after backoff. */
  reconnect_failed: [info: { attempt: number; error: Error }];
  /** Connected again after `unreachable`: a new ssh2 client, same target. */
  reconnected: [info: { attempts: number; downMs: number }];
  /** Gave up for good (host key changed or revoked): operator action needed. */
  failed: [error: Error];
}

export interface SshConnectionOptions {
  target: SshTarget;
  knownHosts: KnownHostsStore;
  /** host_key_changed / host_key_trusted go here. Defaults to a no-op sink. */
  audit?: AuditSink;
  /** Put into audit events. */
  hiveId?: string;
  /** SSH keepalive period. Defaults to 5000 ms. */
  keepaliveIntervalMs?: number;
  /** Unanswered keepalives before the link counts as lost. Defaults to 3 (loss seen within ~(n+1)·interval). */
  keepaliveCountMax?: number;
  /** TCP connect + handshake + auth limit per attempt. Defaults to 10000 ms. */
  readyTimeoutMs?: number;
  /** Attempts of the first connection before UNREACHABLE. Defaults to 3. */
  connectAttempts?: number;
  /** Reconnect backoff: `min(base · 2^(n-1), max)` ± 20 % jitter. Defaults to 1000 ms and 30000 ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Reconnect after a loss. Defaults to true. */
  reconnect?: boolean;
}

/** ssh2's default host-key algorithm order; the ones known_hosts has for the host go first. */
const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
] as const;
type HostKeyAlgorithm = (typeof HOST_KEY_ALGORITHMS)[number];

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Written to the command's stdin, then stdin is closed (secrets travel this way, never in argv). */
  stdin?: string | Buffer;
  /** Defaults to 60000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * One SSH connection to one machine, kept alive: keepalive probes detect a dead link, a lost link
 * is re-dialled with backoff, and every channel (exec, SFTP, `forwardOut` tunnels) is multiplexed on
 * it. Host keys are verified on every (re)connection; an unknown key never gets as far as
 * authentication.
 *
 * Lifetime: `await SshConnection.open(options)` (3 attempts, then `UNREACHABLE`), `dispose()`
 * (idempotent; also `Symbol.asyncDispose`).
 */
export class SshConnection extends EventEmitter<SshConnectionEvents> {
  readonly target: SshTarget;
  private readonly options: SshConnectionOptions;
  private readonly audit: AuditSink;
  private client: Client | null = null;
  private sftpPromise: Promise<SFTPWrapper> | null = null;
  private _state: SshConnectionState = 'idle';
  private readonly disposeController = new AbortController();
  private reconnecting: Promise<void> | null = null;
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];

  private constructor(options: SshConnectionOptions) {
    super();
    this.options = options;
    this.target = options.target;
    this.audit = options.audit ?? NOOP_AUDIT_SINK;
  }

  static async open(options: SshConnectionOptions): Promise<SshConnection> {
    const connection = new SshConnection(options);
    try {
      await connection.connectWithRetry(options.connectAttempts ?? 3);
    } catch (error) {
      connection.setState('failed', error instanceof Error ? error.message : String(error));
      throw error;
    }
    connection.emit('connected');
    return connection;
  }

  /**
   * Dials once, only to read the server's host key (no authentication), and classifies it. Used for
   * "add hive": an unknown key is shown to the operator before anything else happens.
   */
  static async probeHostKey(
    target: SshTarget,
    knownHosts: KnownHostsStore,
    options: { readyTimeoutMs?: number } = {},
  ): Promise<HostKeyVerdict & { key: Buffer }> {
    return new Promise((resolve, reject) => {
      const client = new Client();
      let settled = false;
      const done = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        client.end();
        client.destroy();
        fn();
      };
      client.on('error', (error) => done(() => reject(mapConnectError(error, target))));
      client.on('close', () =>
        done(() =>
          reject(
            new SshError(
              'UNREACHABLE',
              `${hostLabel(target.host, target.port)} closed the connection before showing its host key.`,
            ),
          ),
        ),
      );
      client.connect({
        host: target.host,
        port: target.port,
        username: target.user,
        readyTimeout: options.readyTimeoutMs ?? 10_000,
        algorithms: {
          serverHostKey: preferredHostKeyAlgorithms(knownHosts.knownKeyTypes(target.host, target.port)),
        },
        hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
          const verdict = knownHosts.check(target.host, target.port, key);
          // Settle first: refusing the key makes ssh2 emit an error synchronously.
          done(() => resolve({ ...verdict, key }));
          verify(false);
        },
      });
    });
  }

  get state(): SshConnectionState {
    return this._state;
  }

  get disposed(): boolean {
    return this._state === 'disposed';
  }

  /** Resolves when connected (at once if it is); rejects on dispose, failure or `signal`. */
  whenConnected(signal?: AbortSignal): Promise<void> {
    if (this._state === 'connected') return Promise.resolve();
    if (this._state === 'disposed' || this._state === 'failed')
      return Promise.reject(
        new SshError('DISPOSED', `SSH connection to ${targetAddress(this.target)} is ${this._state}.`),
      );
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(signal?.reason);
      };
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Runs a command (a string the caller built with shQuote/shCommand) and collects its output. */
  async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const client = this.requireClient();
    const channel = await new Promise<ClientChannel>((resolve, reject) => {
      client.exec(command, (error, ch) => (error ? reject(error) : resolve(ch)));
    });
    return new Promise<ExecResult>((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let code: number | null = null;
      let signal: string | null = null;
      const timer = setTimeout(() => {
        channel.close();
        reject(
          new SshError(
            'REMOTE_COMMAND_FAILED',
            `Remote command timed out after ${options.timeoutMs ?? 60_000} ms on ${targetAddress(this.target)}.`,
          ),
        );
      }, options.timeoutMs ?? 60_000);
      const onAbort = (): void => {
        clearTimeout(timer);
        channel.close();
        reject(options.signal?.reason);
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      channel.on('data', (d: Buffer) => stdout.push(d));
      channel.stderr.on('data', (d: Buffer) => stderr.push(d));
      channel.on('exit', (c: number | null, s?: string) => {
        code = c;
        signal = s ?? null;
      });
      channel.on('close', () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        resolve({
          code,
          signal,
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
        });
      });
      if (options.stdin !== undefined) channel.end(options.stdin);
      else channel.end();
    });
  }

  /** The SFTP session of the current connection (opened once per connection). */
  sftp(): Promise<SFTPWrapper> {
    const client = this.requireClient();
    this.sftpPromise ??= new Promise<SFTPWrapper>((resolve, reject) => {
      client.sftp((error, sftp) => (error ? reject(error) : resolve(sftp)));
    });
    const p = this.sftpPromise;
    p.catch(() => {
      if (this.sftpPromise === p) this.sftpPromise = null;
    });
    return p;
  }

  /** A TCP stream to `host:port` as seen from the remote machine (default its loopback). */
  forwardOut(port: number, host = '127.0.0.1'): Promise<ClientChannel> {
    const client = this.requireClient();
    return new Promise((resolve, reject) => {
      client.forwardOut('127.0.0.1', 0, host, port, (error, channel) =>
        error ? reject(error) : resolve(channel),
      );
    });
  }

  /**
   * A streamlocal channel (`direct-streamlocal@openssh.com`) to a Unix socket on the remote:
   * how the queen reaches a remote hive and its workers without any TCP port there. sshd allows it
   * unless `AllowStreamLocalForwarding no`; it connects as the logged-in user, so the socket's 0700
   * folder keeps everybody else out.
   */
  forwardOutStreamLocal(socketPath: string): Promise<ClientChannel> {
    const client = this.requireClient();
    return new Promise((resolve, reject) => {
      client.openssh_forwardOutStreamLocal(socketPath, (error, channel) => (error ? reject(error) : resolve(channel)));
    });
  }

  async dispose(): Promise<void> {
    if (this._state === 'disposed') return;
    this.disposeController.abort(new SshError('DISPOSED', 'SSH connection disposed.'));
    const client = this.client;
    this.client = null;
    this.sftpPromise = null;
    this.setState('disposed', null);
    if (client) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          client.destroy();
          resolve();
        }, 2000);
        client.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        client.end();
      });
    }
    for (const w of this.waiters.splice(0)) w.reject(new SshError('DISPOSED', 'SSH connection disposed.'));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  private requireClient(): Client {
    if (this._state !== 'connected' || !this.client) {
      throw new SshError(
        'UNREACHABLE',
        `SSH connection to ${targetAddress(this.target)} is ${this._state}${this._state === 'unreachable' ? ' (reconnecting)' : ''}.`,
      );
    }
    return this.client;
  }

  private setState(state: SshConnectionState, reason: string | null): void {
    if (this._state === state) return;
    this._state = state;
    this.emit('state', state, reason);
    if (state === 'connected') for (const w of this.waiters.splice(0)) w.resolve();
    if (state === 'failed' || state === 'disposed') {
      const error = new SshError('DISPOSED', `SSH connection to ${targetAddress(this.target)} is ${state}.`);
      for (const w of this.waiters.splice(0)) w.reject(error);
    }
  }

  private backoff(attempt: number): number {
    return backoffDelayMs(attempt, { backoff_base_ms: this.options.backoffBaseMs ?? 1000, backoff_max_ms: this.options.backoffMaxMs ?? 30_000, jitter_ratio: 0.2 }, Math.random);
  }

  /** First connection: `attempts` tries with backoff; host-key and auth errors are not retried. */
  private async connectWithRetry(attempts: number): Promise<void> {
    this.setState('connecting', null);
    let last: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await this.dialOnce();
        return;
      } catch (error) {
        last = error;
        if (!isRetryable(error)) throw error;
        if (attempt < attempts) await sleep(this.backoff(attempt), this.disposeController.signal);
      }
    }
    const reason = last instanceof Error ? last.message : String(last);
    throw new SshError(
      'UNREACHABLE',
      `${targetAddress(this.target)} is unreachable after ${attempts} attempts (${reason}). Check that the machine is on, the address and port are right, and sshd is running.`,
      { cause: last },
    );
  }

  private dialOnce(): Promise<void> {
    const { target, knownHosts } = this.options;
    return new Promise<void>((resolve, reject) => {
      const client = new Client();
      // A dial still in flight when the connection is disposed is abandoned at once.
      const onDispose = (): void => settle(new SshError('DISPOSED', 'SSH connection disposed.'));
      this.disposeController.signal.addEventListener('abort', onDispose, { once: true });
      let hostKeyError: Error | null = null;
      let ready = false;
      let settled = false;
      const settle = (error: Error | null): void => {
        if (settled) return;
        settled = true;
        this.disposeController.signal.removeEventListener('abort', onDispose);
        if (error) {
          client.destroy();
          reject(error);
        } else resolve();
      };
      let lastError: Error | null = null;
      client.on('error', (error: Error) => {
        lastError = error;
        if (!ready) settle(hostKeyError ?? mapConnectError(error, target));
      });
      client.on('ready', () => {
        if (this.disposed) {
          settle(new SshError('DISPOSED', 'SSH connection disposed.'));
          return;
        }
        ready = true;
        this.client = client;
        this.sftpPromise = null;
        this.setState('connected', null);
        settle(null);
      });
      client.on('close', () => {
        if (!ready) {
          settle(
            hostKeyError ??
              new SshError(
                'UNREACHABLE',
                `Connection to ${hostLabel(target.host, target.port)} closed during the handshake.`,
              ),
          );
          return;
        }
        if (this.client === client) this.onLost(lastError ?? new Error('connection closed by the server'));
      });

      let config: ConnectConfig;
      try {
        config = {
          host: target.host,
          port: target.port,
          username: target.user,
          readyTimeout: this.options.readyTimeoutMs ?? 10_000,
          keepaliveInterval: this.options.keepaliveIntervalMs ?? 5000,
          keepaliveCountMax: this.options.keepaliveCountMax ?? 3,
          algorithms: {
            serverHostKey: preferredHostKeyAlgorithms(knownHosts.knownKeyTypes(target.host, target.port)),
          },
          hostVerifier: (key: Buffer, verify: (ok: boolean) => void) => {
            const verdict = knownHosts.check(target.host, target.port, key);
            if (verdict.status === 'trusted') return verify(true);
            hostKeyError = verdictError(verdict, target);
            if (verdict.status === 'changed' || verdict.status === 'revoked') {
              this.audit
                .emit({
                  event_type: 'host_key_changed',
                  actor: 'system',
                  ...(this.options.hiveId ? { hive_id: this.options.hiveId } : {}),
                  reason:
                    verdict.status === 'changed'
                      ? 'host key changed; connection refused'
                      : 'host key revoked; connection refused',
                  details: {
                    host: target.host,
                    port: target.port,
                    key_type: verdict.keyType,
                    fingerprint: verdict.fingerprint,
                    expected: verdict.status === 'changed' ? verdict.expected.join(',') : null,
                    known_hosts: verdict.file,
                  },
                })
                .catch(() => undefined);
            }
            verify(false);
          },
        };
        if (target.keyFile) config.privateKey = readFileSync(target.keyFile);
        else if (target.agentSocket) config.agent = target.agentSocket;
        client.connect(config);
      } catch (error) {
        settle(mapConnectError(error instanceof Error ? error : new Error(String(error)), target));
      }
    });
  }

  private onLost(error: Error): void {
    this.client = null;
    this.sftpPromise = null;
    if (this._state === 'disposed') return;
    this.setState('unreachable', error.message);
    this.emit('unreachable', error);
    if (this.options.reconnect === false) return;
    this.reconnecting ??= this.reconnectLoop().finally(() => {
      this.reconnecting = null;
    });
  }

  private async reconnectLoop(): Promise<void> {
    const since = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await sleep(this.backoff(attempt), this.disposeController.signal);
      } catch {
        return; // disposed
      }
      if (this._state === 'disposed') return;
      try {
        this.emit('reconnecting', { attempt });
        await this.dialOnce();
        this.emit('reconnected', { attempts: attempt, downMs: Date.now() - since });
        return;
      } catch (error) {
        if (this.disposed) return;
        if (
          error instanceof HostKeyChangedError ||
          error instanceof HostKeyRevokedError ||
          error instanceof HostKeyUnknownError
        ) {
          this.setState('failed', error.message);
          this.emit('failed', error);
          return;
        }
        const err = error instanceof Error ? error : new Error(String(error));
        this.setState('unreachable', err.message);
        this.emit('reconnect_failed', { attempt, error: err });
      }
    }
  }
}

function preferredHostKeyAlgorithms(knownTypes: string[]): HostKeyAlgorithm[] {
  const preferred = new Set<HostKeyAlgorithm>();
  for (const type of knownTypes) {
    if (type === 'ssh-rsa') {
      preferred.add('rsa-sha2-512');
      preferred.add('rsa-sha2-256');
      preferred.add('ssh-rsa');
    } else if ((HOST_KEY_ALGORITHMS as readonly string[]).includes(type))
      preferred.add(type as HostKeyAlgorithm);
  }
  return [...preferred, ...HOST_KEY_ALGORITHMS.filter((a) => !preferred.has(a))];
}

function verdictError(verdict: HostKeyVerdict, target: SshTarget): Error {
  switch (verdict.status) {
    case 'unknown':
      return new HostKeyUnknownError(target.host, target.port, verdict.fingerprint, verdict.keyType);
    case 'changed':
      return new HostKeyChangedError(
        target.host,
        target.port,
        verdict.fingerprint,
        verdict.keyType,
        verdict.expected,
        verdict.file,
      );
    case 'revoked':
      return new HostKeyRevokedError(target.host, target.port, verdict.fingerprint);
    case 'trusted':
      return new Error('trusted');
  }
}

function isRetryable(error: unknown): boolean {
  return error instanceof SshError && error.code === 'UNREACHABLE';
}

/** Turns ssh2/socket errors into actionable SshErrors. */
export function mapConnectError(error: Error, target: SshTarget): Error {
  if (error instanceof SshError) return error;
  const level = (error as Error & { level?: string }).level;
  const code = (error as NodeJS.ErrnoException).code;
  const where = targetAddress(target);
  if (level === 'client-authentication') {
    const how = target.keyFile
      ? `key ${target.keyFile}`
      : `the ssh-agent at ${target.agentSocket ?? '(none)'}`;
    return new SshError(
      'AUTH_FAILED',
      `Authentication failed for ${where} with ${how}. Add the public key to ~/.ssh/authorized_keys of '${target.user}' on the remote ` +
        `(on the remote: chmod 700 ~/.ssh && chmod 600 ~/.ssh/authorized_keys — sshd ignores keys in files that are too open; locally: chmod 600 on the private key).`,
      { cause: error },
    );
  }
  if (/Cannot parse privateKey|Encrypted private|passphrase/i.test(error.message)) {
    return new SshError(
      'KEY_FILE',
      `Cannot use key ${target.keyFile ?? ''}: ${error.message}. Passphrase-protected keys are used through ssh-agent (ssh-add the key, leave the key file empty).`,
      { cause: error },
    );
  }
  if (
    level === 'client-timeout' ||
    level === 'client-socket' ||
    level === 'client-dns' ||
    level === 'protocol' ||
    code !== undefined
  ) {
    return new SshError('UNREACHABLE', `Cannot reach ${where}: ${code ?? error.message}.`, { cause: error });
  }
  return new SshError('UNREACHABLE', `SSH to ${where} failed: ${error.message}.`, { cause: error });
}
