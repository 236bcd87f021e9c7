import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import { NOOP_AUDIT_SINK } from '../../src-shared/audit/AuditEvent.js';
import type { AddHiveRequest, AddHiveResult } from '../../src-shared/control/ControlApi.js';
import type { ErrorCode } from '../../src-shared/api/ApiError.js';
import { ApiError } from '../../src-shared/api/ApiError.js';
import type { RestartPolicyConfig } from '../../src-shared/policy/RestartPolicyConfig.js';
import { resolveRestartPolicy } from '../../src-shared/policy/RestartPolicyConfig.js';
import { ChildSupervisor } from '../common/supervision/ChildSupervisor.js';
import type { RemoteHiveHost, RemoteHiveManager } from '../queen/hives/RemoteHiveManager.js';
import type { HiveEndpoint } from '../queen/hives/HiveClient.js';
import { addRemoteHive } from './addRemoteHive.js';
import type { RuntimeDepsMode } from './deploy/installDeps.js';
import { SshError } from '../ssh/errors.js';
import { KnownHostsStore } from '../ssh/knownHosts.js';
import type { RemoteHiveOptions } from './RemoteHive.js';
import { RemoteHive } from './RemoteHive.js';
import { resolveSshTarget, targetAddress } from '../ssh/SshTarget.js';
import { HiveRoutes } from '../../src-shared/hive/hiveApi.js';
import { readRemoteHiveRecords, remoteHiveRecordsFile, writeRemoteHiveRecords, type RemoteHiveRecord } from './remoteHiveRecords.js';

export interface SshHiveManagerOptions {
  /** The queen's data folder: `ssh/known_hosts` and `ssh/remote-hives.json` live there. Defaults to the host's. */
  dataDir?: string;
  /** The user's known_hosts files, read only. Defaults to `~/.ssh/known_hosts`. */
  userKnownHosts?: string[];
  /** How runtime deps reach remotes. Defaults to `{ kind: 'registry' }`. */
  deps?: RuntimeDepsMode;
  /** Remote data dir override (absolute). Defaults to the remote's `~/.local/share/rbee`. */
  remoteDataDir?: string;
  /** Extra `rbee hive` arguments (e.g. `--threads 1`). */
  hiveArgs?: string[];
  connection?: RemoteHiveOptions['connection'];
  /** ssh_config / agent overrides. */
  resolve?: { sshConfigPath?: string; agentSocket?: string | null };
  /**
   * The queen supervises its remote hive daemons with the same restart policy as the local one
   * (the shared ChildSupervisor over RestartTracker: backoff, start limit, breaker): a hive that is down
   * while SSH is up (crashed, or gone after the machine rebooted) is started again. Defaults to the
   * default restart policy.
   */
  hivePolicy?: Partial<RestartPolicyConfig>;
  /** Host-key events (`host_key_*`, `hive_added`, `hive_removed`). Defaults to the queen's audit log. */
  audit?: AuditSink;
}

/** SshError.code → the control API's status and ErrorCode; the SSH code goes into `details.ssh_code`. */
const ERROR_MAP: Record<string, [number, ErrorCode]> = {
  INVALID_TARGET: [400, 'INVALID_REQUEST'],
  KEY_FILE: [400, 'INVALID_REQUEST'],
  FINGERPRINT_MISMATCH: [409, 'CONFLICT'],
  HOST_KEY_CHANGED: [409, 'CONFLICT'],
  HOST_KEY_REVOKED: [409, 'CONFLICT'],
  HOST_KEY_UNKNOWN: [409, 'CONFLICT'],
  NODE_MISSING: [422, 'INVALID_REQUEST'],
  DISK_FULL: [507, 'UPSTREAM_ERROR'],
  AUTH_FAILED: [502, 'HIVE_UNREACHABLE'],
  UNREACHABLE: [502, 'HIVE_UNREACHABLE'],
  HIVE_START_FAILED: [502, 'UPSTREAM_ERROR'],
  HIVE_IMPOSTOR: [502, 'UPSTREAM_ERROR'],
  HIVE_NOT_VERIFIED: [503, 'HIVE_UNREACHABLE'],
  REMOTE_COMMAND_FAILED: [502, 'UPSTREAM_ERROR'],
  DISPOSED: [503, 'HIVE_UNREACHABLE'],
};

/**
 * The queen's `RemoteHiveManager` over SSH: `createQueen({ remoteHives: sshRemoteHives(opts) })` (src-main/remote-hive/sshRemoteHives.ts, which loads this module on first use).
 * `add` runs `addRemoteHive` and links the hive into the cluster view (HiveLink follows its events
 * through the tunnel; worker inference uses the same agent). The SSH side drives the link: on
 * `reconnected` the link is woken at once to re-read the snapshot (catch-up); on `failed` (host
 * key changed) the hive is marked failed. Records persist so `restore()` re-adopts every hive
 * after a queen restart without restarting it. `close()` disposes SSH (hives keep serving) or
 * stops them with `{ stopRemote: true }`.
 */
export class SshHiveManager implements RemoteHiveManager {
  private readonly hives = new Map<string, RemoteHive>();
  private restoring: Promise<void> | undefined;
  private readonly knownHosts: KnownHostsStore;
  private readonly recordsFile: string;
  private readonly audit: AuditSink;
  private readonly reviving = new Set<string>();
  /** One supervisor per remote hive (the shared core: backoff, start limit, breaker, half-open trial). */
  private readonly supervisors = new Map<string, ChildSupervisor>();
  private readonly tokens = new Map<string, string>();
  private readonly offView: () => void;

  constructor(
    private readonly queen: RemoteHiveHost,
    private readonly options: SshHiveManagerOptions,
  ) {
    const dataDir = options.dataDir ?? queen.dataDir;
    this.knownHosts = new KnownHostsStore({
      appFile: join(dataDir, 'ssh', 'known_hosts'),
      userFiles: options.userKnownHosts ?? [join(homedir(), '.ssh', 'known_hosts')],
    });
    this.recordsFile = remoteHiveRecordsFile(dataDir);
    this.audit = options.audit ?? queen.audit ?? NOOP_AUDIT_SINK;
    // HiveLink marks a hive unreachable when its event stream breaks. With SSH still up that means
    // the hive process itself may be gone: check, and restart it if so.
    this.offView = queen.view.onChange((event) => {
      if (event.type !== 'hive_updated' || event.hive.state !== 'unreachable') return;
      const hive = this.hives.get(event.hive.id);
      if (hive && hive.connection.state === 'connected') void this.revive(hive);
    });
  }

  /** The live RemoteHive (uploadModel, stop, agent …). */
  hive(id: string): RemoteHive | undefined {
    return this.hives.get(id);
  }

  /**
   * Copies a local GGUF to a remote hive's models folder by SFTP, then asks the hive to rescan its
   * catalog (`GET /v1/models`), which publishes `models_updated` into the cluster view.
   */
  async uploadModel(
    hiveId: string,
    localPath: string,
    options: { name?: string; onProgress?: (sent: number, total: number) => void } = {},
  ): Promise<{ path: string; skipped: boolean }> {
    const hive = this.hives.get(hiveId);
    if (!hive) throw new ApiError(404, 'HIVE_NOT_FOUND', `No connected remote hive '${hiveId}'`);
    try {
      const result = await hive.uploadModel(localPath, options);
      const res = await hive.request(HiveRoutes.models, { timeoutMs: 30_000 });
      await res.text();
      return result;
    } catch (error) {
      throw toApiError(error);
    }
  }

  records(): RemoteHiveRecord[] {
    return readRemoteHiveRecords(this.recordsFile);
  }

  async add(request: AddHiveRequest): Promise<AddHiveResult> {
    const id = this.newId(request.name ?? request.host);
    const token = randomBytes(24).toString('base64url');
    try {
      const outcome = await addRemoteHive(request, {
        ...this.remoteOptions(),
        hiveId: id,
        token,
        knownHosts: this.knownHosts,
        audit: this.audit,
        resolve: this.options.resolve,
        actor: 'operator',
      });
      if (outcome.hive === null) return outcome.result;
      const hive = outcome.hive;
      this.attach(hive, token);
      this.saveRecords([
        ...this.records().filter((r) => r.id !== id),
        {
          id,
          host: request.host,
          port: hive.target.port,
          user: hive.target.user,
          key_file: hive.target.keyFile,
          token,
          data_dir: hive.preflightReport?.data_dir ?? null,
          added_at: new Date().toISOString(),
        },
      ]);
      return outcome.result;
    } catch (error) {
      throw toApiError(error);
    }
  }

  async remove(hiveId: string, options: { stop: boolean }): Promise<void> {
    const hive = this.hives.get(hiveId);
    const known = this.records().some((r) => r.id === hiveId);
    if (!hive && !known) throw new ApiError(404, 'HIVE_NOT_FOUND', `No remote hive '${hiveId}'`);
    this.hives.delete(hiveId);
    this.supervisors.get(hiveId)?.stop();
    this.supervisors.delete(hiveId);
    await this.queen.hives.unlink(hiveId);
    if (hive) {
      if (options.stop && hive.connection.state === 'connected') await hive.stop().catch(() => false);
      await hive.dispose();
    }
    this.saveRecords(this.records().filter((r) => r.id !== hiveId));
    await this.audit
      .emit({
        event_type: 'hive_removed',
        actor: 'operator',
        hive_id: hiveId,
        details: { stopped: options.stop },
      })
      .catch(() => undefined);
  }

  /**
   * Reconnects every remembered hive (after a queen restart): connect, adopt the running hive (or
   * start it if it is gone), link it. Failures leave the hive `unreachable` with the reason.
   */
  restore(): Promise<void> {
    // The queen restores at start; a second call while that runs joins it instead of racing it.
    this.restoring ??= this.restoreAll().finally(() => (this.restoring = undefined));
    return this.restoring;
  }

  private async restoreAll(): Promise<void> {
    await Promise.all(
      this.records().map(async (record) => {
        if (this.hives.has(record.id)) return; // already connected
        const stillWanted = (): boolean => this.records().some((r) => r.id === record.id);
        try {
          const target = resolveSshTarget(
            {
              host: record.host,
              port: record.port,
              user: record.user,
              keyFile: record.key_file ?? undefined,
            },
            this.options.resolve,
          );
          const hive = await RemoteHive.connect({
            ...this.remoteOptions(),
            id: record.id,
            target,
            knownHosts: this.knownHosts,
            token: record.token,
            dataDir: record.data_dir ?? this.options.remoteDataDir,
            audit: this.audit,
          });
          await hive.start();
          if (!stillWanted() || this.hives.has(record.id)) {
            await hive.dispose(); // removed, or attached by someone else, meanwhile
            return;
          }
          this.attach(hive, record.token);
        } catch (error) {
          if (!stillWanted()) return; // removed while we were trying: do not bring it back
          this.queen.view.upsertHive({
            id: record.id,
            kind: 'remote',
            // A changed/revoked key needs the operator; anything else may heal (the next restore retries).
            state: error instanceof SshError && (error.code.startsWith('HOST_KEY') || error.code === 'HIVE_IMPOSTOR') ? 'failed' : 'unreachable',
            address: `${record.user}@${record.host}:${record.port}`,
            version: null,
            os: null,
            arch: null,
            node_version: null,
            devices: [],
            last_seen: null,
            restart_count: 0,
            message: error instanceof Error ? error.message : String(error),
          });
        }
      }),
    );
  }

  /** Closes every SSH connection. Remote hives keep serving unless `stopRemote`. */
  async close(options: { stopRemote?: boolean } = {}): Promise<void> {
    this.offView();
    const all = [...this.hives.values()];
    this.hives.clear();
    for (const supervisor of this.supervisors.values()) supervisor.stop();
    this.supervisors.clear();
    await Promise.all(
      all.map(async (hive) => {
        if (options.stopRemote && hive.connection.state === 'connected') await hive.stop().catch(() => false);
        await hive.dispose();
      }),
    );
  }

  private remoteOptions(): Omit<RemoteHiveOptions, 'id' | 'target' | 'knownHosts' | 'token'> {
    return {
      deps: this.options.deps,
      dataDir: this.options.remoteDataDir,
      hiveArgs: this.options.hiveArgs,
      remoteAudit: this.queen.auditMode ?? 'disabled',
      connection: this.options.connection,
      // HiveLink audits hive_connected / hive_lost from the event stream; don't double them.
      auditHiveEvents: false,
    };
  }

  private attach(hive: RemoteHive, token: string): void {
    this.hives.set(hive.id, hive);
    this.tokens.set(hive.id, token);
    const endpoint = this.endpoint(hive, token);
    const address = targetAddress(hive.target);
    this.queen.hives.link(endpoint, 'remote', address);
    hive.on('unreachable', (error) => {
      if (this.queen.view.hive(hive.id))
        this.queen.view.patchHive(hive.id, {
          state: 'unreachable',
          message: `SSH link lost: ${error.message}; reconnecting`,
        });
    });
    // Wake the link now (retarget = reconnect immediately) so it re-reads the snapshot; a hive that
    // did not survive (the machine rebooted) is started again.
    hive.on('reconnected', ({ adopted }) => {
      // A hive removed meanwhile stays removed (its SSH link may still report in while it closes).
      if (this.hives.get(hive.id) !== hive) return;
      this.queen.hives.link(endpoint, 'remote', address);
      if (!adopted) void this.revive(hive);
    });
    hive.on('failed', (error) => {
      if (error instanceof SshError && error.code === 'HIVE_IMPOSTOR') {
        void this.refuseImpostor(hive, error);
        return;
      }
      if (this.queen.view.hive(hive.id))
        this.queen.view.patchHive(hive.id, { state: 'failed', message: error.message });
    });
  }

  /** How the queen's HiveLink and dispatcher reach the hive: its Unix socket, through the hive's gated agent. */
  private endpoint(hive: RemoteHive, token: string): HiveEndpoint {
    return { id: hive.id, baseUrl: hive.baseUrl, token, agent: hive.agent, socketPath: hive.socketPath ?? undefined };
  }

  /**
   * Something else answered on the socket after a reconnect: the link is dropped (no more event
   * stream, no requests: the hive's agent already refuses channels) and the entry says why.
   */
  private async refuseImpostor(hive: RemoteHive, error: SshError): Promise<void> {
    if (this.hives.get(hive.id) !== hive) return;
    const info = this.queen.view.hive(hive.id);
    await this.queen.hives.unlink(hive.id);
    if (this.hives.get(hive.id) !== hive) return;
    this.queen.view.upsertHive({
      id: hive.id,
      kind: 'remote',
      address: targetAddress(hive.target),
      version: info?.version ?? null,
      os: info?.os ?? null,
      arch: info?.arch ?? null,
      node_version: info?.node_version ?? null,
      devices: [],
      last_seen: info?.last_seen ?? null,
      restart_count: info?.restart_count ?? 0,
      state: 'failed',
      message: error.message,
    });
  }

  /**
   * A remote hive whose process is gone (SSH up) is a failure for its supervisor: restart after the
   * policy's backoff, give up (`failed`), or wait for the breaker's half-open trial, as the policy
   * decides; attempts come back after the stability window.
   */
  private async revive(hive: RemoteHive): Promise<void> {
    if (this.reviving.has(hive.id)) return;
    this.reviving.add(hive.id);
    try {
      if (!this.isCurrent(hive)) return;
      // Already restarting, waiting for its backoff or breaker, or given up: the supervisor has it.
      if (this.supervisors.get(hive.id) && this.supervisors.get(hive.id)?.status().state !== 'running') return;
      if (await hive.isRunning().catch(() => true)) return; // alive: a link problem, HiveLink retries
      if (!this.isCurrent(hive)) return;
      this.supervisor(hive).exited('the remote hive process is gone');
    } finally {
      this.reviving.delete(hive.id);
    }
  }

  private isCurrent(hive: RemoteHive): boolean {
    return this.hives.get(hive.id) === hive && hive.connection.state === 'connected';
  }

  /** The hive's supervisor; created on first use around the instance that is running now. */
  private supervisor(hive: RemoteHive): ChildSupervisor {
    let supervisor = this.supervisors.get(hive.id);
    if (supervisor) return supervisor;
    supervisor = new ChildSupervisor(
      {
        id: hive.id,
        start: async () => {
          if (!this.isCurrent(hive)) throw new Error('the SSH connection is down');
          const { pid } = await hive.start();
          if (!this.isCurrent(hive)) return; // removed while it was starting
          const restarts = (this.queen.view.hive(hive.id)?.restart_count ?? 0) + 1;
          this.queen.view.patchHive(hive.id, { restart_count: restarts });
          this.queen.logger.warn({ hive: hive.id, pid, restarts }, 'remote hive restarted');
          this.queen.hives.link(this.endpoint(hive, this.tokens.get(hive.id) ?? ''), 'remote', targetAddress(hive.target));
        },
      },
      {
        policy: resolveRestartPolicy(this.options.hivePolicy ?? {}),
        onFailure: ({ reason, decision }) => {
          if (!this.queen.view.hive(hive.id)) return;
          if (decision.kind === 'restart') {
            this.queen.view.patchHive(hive.id, { message: `${reason}; restart ${decision.attempt} in ${decision.delay_ms} ms` });
            return;
          }
          const message =
            decision.kind === 'give_up'
              ? `${reason}; ${decision.attempts} restart attempts are used up; start it again by removing and re-adding it`
              : `${reason}; circuit breaker open until ${new Date(decision.until).toISOString()} (then one trial start)`;
          this.queen.logger.error({ hive: hive.id, reason }, 'remote hive supervision');
          this.queen.view.patchHive(hive.id, { state: 'failed', message });
        },
        onTransition: (transition) => this.queen.logger.info({ hive: hive.id, transition: transition.type }, 'remote hive supervision'),
      },
    );
    supervisor.adopt();
    this.supervisors.set(hive.id, supervisor);
    return supervisor;
  }

  private newId(name: string): string {
    const base =
      name
        .toLowerCase()
        .replace(/[^a-z0-9._-]+/g, '-')
        .replace(/^[^a-z0-9]+/, '')
        .slice(0, 48) || 'remote';
    const taken = new Set([
      ...this.hives.keys(),
      ...this.records().map((r) => r.id),
      ...this.queen.view.snapshot().hives.map((h) => h.id),
    ]);
    if (!taken.has(base)) return base;
    for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
  }

  private saveRecords(records: RemoteHiveRecord[]): void {
    writeRemoteHiveRecords(this.recordsFile, records);
  }
}

/** SshError → the ApiError the control API answers with (code kept, status by kind). */
export function toApiError(error: unknown): unknown {
  if (!(error instanceof SshError)) return error;
  const [status, code] = ERROR_MAP[error.code] ?? [502, 'UPSTREAM_ERROR'];
  return new ApiError(status, code, error.message, { ssh_code: error.code });
}
