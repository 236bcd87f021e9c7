import { EventEmitter } from 'node:events';
import { statSync } from 'node:fs';
import { posix } from 'node:path';
import type { AuditSink } from '../../src-shared/audit/AuditEvent.js';
import { NOOP_AUDIT_SINK } from '../../src-shared/audit/AuditEvent.js';
import type { HiveState } from '../../src-shared/cluster/HiveInfo.js';
import { SshError } from '../ssh/errors.js';
import { bundleVersion, type BundleFile } from './deploy/bundleFiles.js';
import { deployBundle, type DeployProgress, type DeployResult } from './deploy/deployBundle.js';
import { localNodeLlamaVersion, nodeLlamaPlatformPackages } from './deploy/dependencyClosure.js';
import type { RuntimeDepsMode } from './deploy/installDeps.js';
import type { KnownHostsStore } from '../ssh/knownHosts.js';
import type { PreflightResult } from './preflight.js';
import { preflight } from './preflight.js';
import { isRemoteProcessAlive, remoteTail, startDetached, stopRemoteProcess } from '../ssh/remoteProcess.js';
import { shQuote, shScript } from '../ssh/shellQuote.js';
import type { SshConnectionOptions } from '../ssh/SshConnection.js';
import { SshConnection } from '../ssh/SshConnection.js';
import type { SshTarget } from '../ssh/SshTarget.js';
import { targetAddress, validateRemotePath } from '../ssh/SshTarget.js';
import type { TunnelRequestOptions, TunnelResponse } from '../ssh/SshTunnelAgent.js';
import { SshTunnelAgent, tunnelRequest } from '../ssh/SshTunnelAgent.js';
import { HiveRoutes } from '../../src-shared/hive/hiveApi.js';
import { verifyHiveProof } from '../auth/hiveHandshake.js';

export interface RemoteHiveEvents {
  /** HiveState for the cluster view: starting → online ⇄ unreachable; failed; stopped. */
  state: [state: HiveState, message: string | null];
  /** SSH link lost (keepalive/reset). The hive process keeps running on the remote. */
  unreachable: [error: Error];
  /** SSH link back; `adopted` = the same hive pid still answers (workers untouched). */
  reconnected: [info: { downMs: number; adopted: boolean; pid: number | null }];
  /** Gave up (host key changed): operator action needed. */
  failed: [error: Error];
}

export interface RemoteHiveLaunchContext {
  /** Absolute version folder on the remote (`<dataDir>/hive/<version>`). */
  dir: string;
  node: string;
  /** The hive's 0700 socket folder (`<dataDir>/sock/<hive id>`): its own socket and its workers'. */
  socketDir: string;
  /** Where the hive must listen: `<socketDir>/hive.sock`. */
  socketPath: string;
  hiveId: string;
  modelsDir: string;
  /** RemoteHiveOptions.hiveArgs. */
  extraArgs: string[];
}

export interface RemoteHiveOptions {
  /** Hive id (cluster view, audit). Letters, digits, `-`, `_`, `.`. */
  id: string;
  target: SshTarget;
  knownHosts: KnownHostsStore;
  /** The hive's own bearer token (queen → hive). Delivered over the SSH channel's stdin. */
  token: string;
  audit?: AuditSink;
  /** Absolute remote data dir. Defaults to what preflight finds (`$XDG_DATA_HOME/rbee` or `~/.local/share/rbee`). */
  dataDir?: string;
  /** Remote models folder. Defaults to `<dataDir>/models`. */
  modelsDir?: string;
  /** Defaults to package.json's version. */
  version?: string;
  /** Files to deploy. Defaults to `hiveBundleFiles()`. */
  files?: BundleFile[];
  /** How runtime deps get there. Defaults to `{ kind: 'registry' }`. */
  deps?: RuntimeDepsMode;
  /**
   * argv of the remote hive; must contain `ctx.dir` (pid checks look for it, against pid reuse) and
   * listen on `ctx.socketPath`. Defaults to `node <dir>/out/main/cli.js hive --socket-dir … --models-dir … --id …`. */
  command?: (ctx: RemoteHiveLaunchContext) => string[];
  /**
   * The remote hive's own audit log: `local` starts it with `--audit local --audit-dir <dataDir>/audit`
   * (its chain and its workers', on its machine; the queen queries and witnesses them over the
   * tunnel). Defaults to `disabled`.
   */
  remoteAudit?: 'local' | 'disabled';
  /** Extra arguments for the default hive command (e.g. `['--gpu', 'off', '--threads', '1']`). */
  hiveArgs?: string[];
  /**
   * Emit `hive_connected` / `hive_lost` audit events. Defaults to true; the queen's SshHiveManager
   * turns it off because its HiveLink audits those from the event stream.
   */
  auditHiveEvents?: boolean;
  /** Health path polled through the tunnel until the hive answers. Defaults to `/v1/health`. */
  healthPath?: string;
  /** Defaults to 60000 ms. */
  startTimeoutMs?: number;
  /** SSH connection tuning (keepalive, backoff, attempts). */
  connection?: Pick<
    SshConnectionOptions,
    | 'keepaliveIntervalMs'
    | 'keepaliveCountMax'
    | 'readyTimeoutMs'
    | 'connectAttempts'
    | 'backoffBaseMs'
    | 'backoffMaxMs'
  >;
}

const HIVE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * One remote hive over SSH: connect (host key verified) → preflight → deploy (SFTP, checksums) →
 * start detached (token over the channel) → prove it is our hive (nonce handshake) → talk HTTP
 * through `agent` (streamlocal channels to its Unix socket, on the one connection) → stop / dispose. Disposing closes the SSH connection only: the remote hive and
 * its workers keep running, and the next `RemoteHive` for the same id adopts them (`start()` finds
 * the pid file, checks the process and its health, and does not restart it).
 */
export class RemoteHive extends EventEmitter<RemoteHiveEvents> {
  readonly id: string;
  readonly connection: SshConnection;
  /**
   * http.Agent whose sockets are SSH channels (pass `socketPath`: the hive's, or a worker's). It opens
   * channels only while the hive has passed the handshake: nothing (no token, no request) reaches
   * an unproven peer; until then requests fail at once.
   */
  readonly agent: SshTunnelAgent;
  /** Ungated, no token ever: health and handshake only. */
  private readonly probeAgent: SshTunnelAgent;
  /** The hive on the socket answered our latest nonce (reset whenever the SSH link drops). */
  private verified = false;
  private readonly options: RemoteHiveOptions;
  private readonly audit: AuditSink;
  private readonly hiveAudit: AuditSink;
  private _state: HiveState = 'starting';
  private report: PreflightResult | null = null;
  private _pid: number | null = null;
  private disposed = false;

  private constructor(options: RemoteHiveOptions, connection: SshConnection) {
    super();
    this.options = options;
    this.id = options.id;
    this.connection = connection;
    this.audit = options.audit ?? NOOP_AUDIT_SINK;
    this.hiveAudit = options.auditHiveEvents === false ? NOOP_AUDIT_SINK : this.audit;
    this.agent = new SshTunnelAgent(connection, {
      gate: () => {
        // While the link is down the channel fails as UNREACHABLE by itself; once it is up, the
        // peer on the socket must prove itself again before anything is sent.
        if (!this.verified && this.connection.state === 'connected')
          throw new SshError('HIVE_NOT_VERIFIED', `The hive ${this.id} has not proved its identity (yet): nothing is sent to it.`);
      },
    });
    this.probeAgent = new SshTunnelAgent(connection, { keepAlive: false });
    connection.on('unreachable', (error) => {
      // Whoever answers on the socket after the link comes back proves itself again.
      this.verified = false;
      this.setState('unreachable', `SSH link lost: ${error.message}; reconnecting`);
      this.hiveAudit
        .emit({
          event_type: 'hive_lost',
          actor: 'system',
          hive_id: this.id,
          reason: error.message,
          details: { address: targetAddress(this.target) },
        })
        .catch(() => undefined);
      this.emit('unreachable', error);
    });
    connection.on('reconnected', ({ downMs }) => {
      void this.onReconnected(downMs);
    });
    connection.on('failed', (error) => {
      this.setState('failed', error.message);
      this.emit('failed', error);
    });
  }

  /** Opens the SSH connection (host key must already be trusted: see checkHostKey/trustHostKey). */
  static async connect(options: RemoteHiveOptions): Promise<RemoteHive> {
    if (!HIVE_ID_RE.test(options.id))
      throw new SshError('INVALID_TARGET', `Invalid hive id ${JSON.stringify(options.id)}.`);
    if (typeof options.token !== 'string' || options.token.length === 0 || /[\n\r\0]/.test(options.token))
      throw new SshError('INVALID_TARGET', 'The hive token must be a non-empty single line.');
    if (options.dataDir !== undefined) validateRemotePath(options.dataDir, 'remote data dir');
    if (options.modelsDir !== undefined) validateRemotePath(options.modelsDir, 'remote models dir');
    const connection = await SshConnection.open({
      target: options.target,
      knownHosts: options.knownHosts,
      audit: options.audit,
      hiveId: options.id,
      ...options.connection,
    });
    const hive = new RemoteHive(options, connection);
    await hive.hiveAudit
      .emit({
        event_type: 'hive_connected',
        actor: 'system',
        hive_id: hive.id,
        details: { address: targetAddress(options.target) },
      })
      .catch(() => undefined);
    return hive;
  }

  get target(): SshTarget {
    return this.options.target;
  }
  get state(): HiveState {
    return this._state;
  }
  get pid(): number | null {
    return this._pid;
  }
  /** The origin of the hive's requests (a loopback name its Host check accepts); they go to `socketPath`. */
  get baseUrl(): string {
    return 'http://localhost';
  }
  /** The hive's Unix socket on the remote; null before preflight found the data dir. */
  get socketPath(): string | null {
    return this.report ? this.launchContext(this.report).socketPath : null;
  }
  get preflightReport(): PreflightResult | null {
    return this.report;
  }

  async preflight(): Promise<PreflightResult> {
    this.report = await preflight(this.connection, { dataDir: this.options.dataDir, version: this.version });
    return this.report;
  }

  /** Uploads the bundle (skipping unchanged files) and installs runtime deps. Fails on preflight problems (Node missing/old, disk). */
  async deploy(onProgress?: (p: DeployProgress) => void, signal?: AbortSignal): Promise<DeployResult> {
    const report = this.report ?? (await this.preflight());
    if (!report.node_ok)
      throw new SshError(
        'NODE_MISSING',
        report.problems.find((p) => /Node/.test(p)) ?? 'Node.js 20+ is missing on the remote.',
      );
    const disk = report.problems.find((p) => /disk/.test(p));
    if (disk) throw new SshError('DISK_FULL', disk);
    const result = await deployBundle(this.connection, {
      dataDir: report.data_dir,
      nodePath: report.node_path ?? 'node',
      version: this.version,
      ...(this.options.files ? { files: this.options.files } : {}),
      deps: withPlatformPackages(this.options.deps ?? { kind: 'registry' }, report),
      onProgress,
      signal,
    });
    this.report = {
      ...report,
      installed_version: this.version,
      installed_versions: [...new Set([...report.installed_versions, this.version])],
    };
    return result;
  }

  /**
   * Starts the hive detached on the remote loopback, or adopts the one already running (pid file,
   * process alive with this version's folder in its command line; waits for its health). A running
   * hive of ANOTHER version (same data dir) is stopped first: an upgrade (`replaced` = its pid).
   * Resolves once `/v1/health` answers through the tunnel.
   */
  async start(): Promise<{ pid: number; adopted: boolean; replaced?: number }> {
    const report = this.report ?? (await this.preflight());
    const ctx = this.launchContext(report);
    const existing = await this.readPid();
    let replaced: number | undefined;
    if (existing !== null) {
      if (await isRemoteProcessAlive(this.connection, existing, ctx.dir)) {
        // This version's hive is running: adopt it (waiting for health if it is still starting).
        this._pid = existing;
        await this.waitHealthy(existing, ctx.dir, report);
        this.setState('online', null);
        return { pid: existing, adopted: true };
      }
      const anyVersion = `${posix.join(report.data_dir, 'hive')}/`;
      if (await isRemoteProcessAlive(this.connection, existing, anyVersion)) {
        // Another version of our hive holds the port: an upgrade. Its graceful stop ends its workers.
        await stopRemoteProcess(this.connection, existing, anyVersion, 30_000);
        replaced = existing;
      }
    }
    const argv = (this.options.command ?? defaultHiveCommand)(ctx);
    const pid = await startDetached(this.connection, {
      argv,
      cwd: ctx.dir,
      secretEnv: { RBEE_HIVE_TOKEN: this.options.token },
      logFile: this.logFile(report),
      pidFile: this.pidFile(report),
    });
    this._pid = pid;
    await this.waitHealthy(pid, ctx.dir, report);
    this.setState('online', null);
    return replaced === undefined ? { pid, adopted: false } : { pid, adopted: false, replaced };
  }

  /**
   * Copies a local GGUF into the remote models folder by SFTP (`<name>.rbee-part`, then renamed).
   * Skipped when a file of the same size is there. Resolves with the remote path.
   */
  async uploadModel(
    localPath: string,
    options: { name?: string; onProgress?: (sent: number, total: number) => void } = {},
  ): Promise<{ path: string; skipped: boolean }> {
    const report = this.report ?? (await this.preflight());
    const name = options.name ?? posix.basename(localPath.split('\\').join('/'));
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/.test(name))
      throw new SshError('INVALID_TARGET', `Invalid model file name ${JSON.stringify(name)}.`);
    const modelsDir = this.launchContext(report).modelsDir;
    const remotePath = posix.join(modelsDir, name);
    const size = statSync(localPath).size;
    const sftp = await this.connection.sftp();
    const existing = await new Promise<number | null>((resolve) =>
      sftp.stat(remotePath, (error, st) => resolve(error ? null : st.size)),
    );
    if (existing === size) return { path: remotePath, skipped: true };
    const mk = await this.connection.exec(shScript(`mkdir -p ${shQuote(modelsDir)}`));
    if (mk.code !== 0)
      throw new SshError(
        'REMOTE_COMMAND_FAILED',
        `Cannot create ${modelsDir} on the remote: ${mk.stderr.trim()}`,
      );
    await new Promise<void>((resolve, reject) =>
      sftp.fastPut(
        localPath,
        `${remotePath}.rbee-part`,
        { step: (sent, _chunk, total) => options.onProgress?.(sent, total) },
        (error) =>
          error
            ? reject(
                new SshError(
                  /space/i.test(error.message) ? 'DISK_FULL' : 'REMOTE_COMMAND_FAILED',
                  `Uploading ${name} failed: ${error.message}`,
                  { cause: error },
                ),
              )
            : resolve(),
      ),
    );
    await new Promise<void>((resolve, reject) =>
      sftp.ext_openssh_rename(`${remotePath}.rbee-part`, remotePath, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
    return { path: remotePath, skipped: false };
  }

  /**
   * HTTP to the remote hive (or to another socket of it with `socketPath`), bearer token added.
   * Fails with `HIVE_NOT_VERIFIED` until the hive has passed the handshake (`start()`).
   */
  request(path: string, options: TunnelRequestOptions = {}): Promise<TunnelResponse> {
    const socketPath = options.socketPath ?? this.socketPath;
    if (socketPath === null) return Promise.reject(new SshError('HIVE_NOT_VERIFIED', `The hive ${this.id} has not been started or adopted yet.`));
    return tunnelRequest(this.agent, `${this.baseUrl}${path}`, {
      ...options,
      socketPath,
      headers: { authorization: `Bearer ${this.options.token}`, ...options.headers },
    });
  }

  /** Whether the hive process is running (pid file + process check). */
  async isRunning(): Promise<boolean> {
    const report = this.report ?? (await this.preflight());
    const pid = this._pid ?? (await this.readPid());
    return pid !== null && isRemoteProcessAlive(this.connection, pid, this.launchContext(report).dir);
  }

  /** Stops the remote hive (SIGTERM, grace, SIGKILL). Its workers are its children: the hive's own shutdown stops them. */
  async stop(graceMs = 30_000): Promise<boolean> {
    const report = this.report ?? (await this.preflight());
    const pid = this._pid ?? (await this.readPid());
    if (pid === null) return false;
    const stopped = await stopRemoteProcess(this.connection, pid, this.launchContext(report).dir, graceMs);
    await this.connection.exec(shScript(`rm -f ${shQuote(this.pidFile(report))}`)).catch(() => undefined);
    this._pid = null;
    this.setState('stopped', null);
    return stopped;
  }

  /** Closes the tunnels and the SSH connection. The remote hive keeps running. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.agent.destroy();
    this.probeAgent.destroy();
    await this.connection.dispose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  private get version(): string {
    return this.options.version ?? bundleVersion();
  }

  private launchContext(report: PreflightResult): RemoteHiveLaunchContext {
    const dir = posix.join(report.data_dir, 'hive', this.version);
    const socketDir = posix.join(report.data_dir, 'sock', this.id);
    return {
      dir,
      node: report.node_path ?? 'node',
      socketDir,
      socketPath: posix.join(socketDir, 'hive.sock'),
      hiveId: this.id,
      modelsDir: this.options.modelsDir ?? posix.join(report.data_dir, 'models'),
      extraArgs: [
        ...(this.options.remoteAudit === 'local' ? ['--audit', 'local', '--audit-dir', posix.join(report.data_dir, 'audit')] : []),
        ...(this.options.hiveArgs ?? []),
      ],
    };
  }

  private runDir(report: PreflightResult): string {
    return posix.join(report.data_dir, 'run', this.id);
  }
  private pidFile(report: PreflightResult): string {
    return posix.join(this.runDir(report), 'hive.pid');
  }
  private logFile(report: PreflightResult): string {
    return posix.join(this.runDir(report), 'hive.log');
  }

  private async readPid(): Promise<number | null> {
    const report = this.report ?? (await this.preflight());
    const result = await this.connection.exec(
      shScript(`cat ${shQuote(this.pidFile(report))} 2>/dev/null || true`),
    );
    const pid = Number(result.stdout.trim());
    return Number.isInteger(pid) && pid > 1 ? pid : null;
  }

  /** The public health route through the ungated probe agent, without a token (the peer is not proven yet). */
  private async healthy(): Promise<boolean> {
    const socketPath = this.socketPath;
    if (socketPath === null) return false;
    try {
      const res = await tunnelRequest(this.probeAgent, `${this.baseUrl}${this.options.healthPath ?? HiveRoutes.health}`, { socketPath, timeoutMs: 5000 });
      await res.text();
      return res.status === 200;
    } catch {
      return false;
    }
  }

  /**
   * The handshake: a fresh nonce, answered with HMAC-SHA256(hive token, nonce). Only then does
   * `agent` open channels. A wrong (or no) answer: `hive_impostor` audited, the hive `failed`,
   * HIVE_IMPOSTOR thrown; nothing was sent to the peer but the nonce.
   */
  private async authenticate(): Promise<void> {
    const socketPath = this.socketPath;
    const verdict = await verifyHiveProof(
      this.options.token,
      (path) => tunnelRequest(this.probeAgent, `${this.baseUrl}${path}`, { socketPath: socketPath ?? undefined, timeoutMs: 10_000 }),
      HiveRoutes.hello,
    );
    if (verdict.ok) {
      this.verified = true;
      return;
    }
    this.verified = false;
    const message = `REFUSED: the process answering on ${socketPath ?? 'the hive socket'} at ${targetAddress(this.target)} is not hive ${this.id}: ${verdict.detail}. Nothing was sent to it. Stop whatever listens there (another program, or a hive started with another token), then restart or re-add the hive.`;
    await this.audit
      .emit({
        event_type: 'hive_impostor',
        actor: 'system',
        hive_id: this.id,
        reason: verdict.reason,
        details: { address: targetAddress(this.target), socket: socketPath, detail: verdict.detail },
      })
      .catch(() => undefined);
    this.setState('failed', message);
    throw new SshError('HIVE_IMPOSTOR', message);
  }

  /**
   * Dead only when two checks 300 ms apart say so (and it did not answer meanwhile): each check is an
   * SSH exec of its own, and one that fails on a loaded machine must not read as a hive that exited.
   */
  private async exitedDuringStart(pid: number, dir: string): Promise<boolean> {
    if (await isRemoteProcessAlive(this.connection, pid, dir)) return false;
    await new Promise((resolve) => setTimeout(resolve, 300));
    if (await this.healthy()) return false;
    return !(await isRemoteProcessAlive(this.connection, pid, dir));
  }

  /** Readiness probe through the tunnel; fails fast (with the log's tail) if the process exits. */
  private async waitHealthy(pid: number, dir: string, report: PreflightResult): Promise<void> {
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 60_000);
    let delay = 50;
    while (Date.now() < deadline) {
      if (await this.healthy()) return this.authenticate();
      if (await this.exitedDuringStart(pid, dir)) {
        const tail = await remoteTail(this.connection, this.logFile(report));
        throw new SshError(
          'HIVE_START_FAILED',
          `The hive on ${targetAddress(this.target)} exited during start. Log tail:\n${tail}`,
        );
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 1000);
    }
    const tail = await remoteTail(this.connection, this.logFile(report));
    throw new SshError(
      'HIVE_START_FAILED',
      `The hive on ${targetAddress(this.target)} did not answer ${this.options.healthPath ?? HiveRoutes.health} within ${this.options.startTimeoutMs ?? 60_000} ms. Log tail:\n${tail}`,
    );
  }

  private async onReconnected(downMs: number): Promise<void> {
    let adopted = false;
    try {
      adopted = this._pid !== null && (await this.healthy());
      if (adopted) await this.authenticate();
    } catch (error) {
      if (error instanceof SshError && error.code === 'HIVE_IMPOSTOR') {
        this.emit('failed', error);
        return;
      }
      adopted = false;
    }
    this.setState(
      adopted || this._pid === null ? 'online' : 'failed',
      adopted || this._pid === null ? null : 'reconnected, but the hive does not answer',
    );
    this.hiveAudit
      .emit({
        event_type: 'hive_connected',
        actor: 'system',
        hive_id: this.id,
        reason: 'reconnected',
        details: { down_ms: downMs, adopted },
      })
      .catch(() => undefined);
    this.emit('reconnected', { downMs, adopted, pid: this._pid });
  }

  private setState(state: HiveState, message: string | null): void {
    if (this._state === state) return;
    this._state = state;
    this.emit('state', state, message);
  }
}

export function defaultHiveCommand(ctx: RemoteHiveLaunchContext): string[] {
  return [
    ctx.node,
    // The built bundle the deploy uploaded (hiveBundleManifest): no TypeScript loader on the remote.
    posix.join(ctx.dir, 'out', 'main', 'cli.js'),
    'hive',
    // A Unix socket in a 0700 folder, not a TCP port: no other user of the machine can reach or
    // squat it (a fixed port could be bound first by anyone and receive the hive's token).
    '--socket-dir',
    ctx.socketDir,
    '--models-dir',
    ctx.modelsDir,
    '--id',
    ctx.hiveId,
    ...ctx.extraArgs,
  ];
}

/** Fills in node-llama-cpp's platform packages for the remote (registry: pinned `name@version`). */
function withPlatformPackages(deps: RuntimeDepsMode, report: PreflightResult): RuntimeDepsMode {
  if (deps.kind === 'registry' && deps.platformPackages === undefined) {
    return { ...deps, platformPackages: nodeLlamaPlatformPackages(report, localNodeLlamaVersion()) };
  }
  if (deps.kind === 'upload' && deps.platformPackages === undefined) {
    return { ...deps, platformPackages: nodeLlamaPlatformPackages(report) };
  }
  return deps;
}
