import { readFileSync } from 'node:fs';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ApiError } from '../../src-shared/api/ApiError.js';
import { NOOP_AUDIT_SINK, type AuditSink } from '../../src-shared/audit/AuditEvent.js';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import type { DeviceInfo, HiveInfo, ModelInfo } from '../../src-shared/cluster/HiveInfo.js';
import type { RandomSource } from '../../src-shared/policy/backoffDelay.js';
import { resolveRestartPolicy, type RestartPolicyConfig } from '../../src-shared/policy/RestartPolicyConfig.js';
import type { PolicyClock } from '../../src-shared/policy/RestartTracker.js';
import { checkBindPolicy } from '../auth/bindPolicy.js';
import { answerHiveNonce } from '../auth/hiveHandshake.js';
import { secureTier } from '../auth/secureTier.js';
import { hiveSocketPath, prepareSocketDir, removeStaleSocket } from '../common/http/socketDir.js';
import { createHttpServer } from '../common/http/createHttpServer.js';
import { createLogger, type Logger } from '../common/log/createLogger.js';
import { PROJECT_ROOT, rbeeCommand } from '../common/rbeeCommand.js';
import { DeviceMemoryMonitor } from './admission/DeviceMemoryMonitor.js';
import type { MemoryEstimator } from './admission/MemoryEstimator.js';
import { HardwareProbe, type HardwareProbeOptions } from './HardwareProbe.js';
import { HiveEventHub } from './HiveEventHub.js';
import { HiveMetrics } from './HiveMetrics.js';
import type { Hive } from './Hive.js';

// The interface lives in ./Hive.ts (routes import it without importing the factory).
export type { Hive } from './Hive.js';
import { hiveAuditRoutes, type HiveAuditWitness } from './hiveAuditRoutes.js';
import { hivePublicRoutes, hiveRoutes } from './hiveRoutes.js';
import type { WorkerLauncher } from './ManagedWorker.js';
import { ModelCatalog, validateModelName } from './ModelCatalog.js';
import { ModelDownloader, type ModelDownloaderOptions } from './ModelDownloader.js';
import { splitGgufPartNames } from '../models/gguf/splitGgufName.js';
import { ModelFolderWatcher, type ModelFolderWatcherOptions } from './ModelFolderWatcher.js';
import { WorkerStandbyPool } from './WorkerStandbyPool.js';
import { WorkerLogs } from './WorkerLogs.js';
import { WorkerSupervisor } from './WorkerSupervisor.js';

export interface HiveOptions {
  /** Folder of GGUF files this hive serves (created if missing). */
  modelsDir: string;
  /** Hive id. Defaults to 'local'. */
  id?: string;
  /** Defaults to 127.0.0.1. Anything but loopback needs a token of ≥ 16 characters. */
  host?: string;
  /** Defaults to 7835; 0 picks a free port. Ignored with `socketDir`. */
  port?: number;
  /**
   * Listen on `<socketDir>/hive.sock`, and start workers on `<socketDir>/w-<id>.sock`, instead of
   * TCP (a remote hive: it opens no port; the queen comes in through SSH streamlocal channels).
   * The folder is created 0700.
   */
  socketDir?: string;
  /** Bearer token of the hive API (there is no auth-off mode; `rbee hive` generates one into `--data-dir`). */
  token: string;
  /** Host names the API answers to besides loopback and the bound address. */
  allowedHosts?: readonly string[];
  /** Where lifecycle events go (worker_*, breaker_*). Defaults to the no-op sink. */
  audit?: AuditSink;
  /** Cross-witnessing (`GET /v1/audit/heads`, `POST /v1/audit/witness`); none = audit off: empty heads, pushes recorded nowhere. */
  auditWitness?: HiveAuditWitness | null;
  /** Defaults to a pino logger named 'hive' on stderr. */
  logger?: Logger;
  /** Hive-wide restart policy, merged over DEFAULT_RESTART_POLICY; rejected with a clear message when invalid. */
  policy?: Partial<RestartPolicyConfig>;
  /** Threads for a worker that does not ask. Defaults to half the cores, at least 1. */
  defaultThreads?: number;
  /** Stop workers idle this long; null (the default) = never. Per worker via `idle_ttl_ms`. */
  idleTtlMs?: number | null;
  /** Cap of the shutdown cascade and of an operator stop. Defaults to 30 000 ms. */
  shutdownTimeoutMs?: number;
  /** GPU probing for devices and admission: 'auto' (default) or false (CPU only). */
  gpu?: 'auto' | false;
  /** Memory the admission check keeps free for everything else. Defaults to 256 MiB. */
  memoryReserveBytes?: number;
  /** Skip the admission estimate entirely. Defaults to false. */
  skipAdmission?: boolean;
  /** Memory estimates per layer count. Defaults to the HardwareProbe (node-llama-cpp's GGUF insights, in a probe child). */
  estimator?: MemoryEstimator;
  /** Measures the devices. Defaults to the HardwareProbe; tests pass fake GPU reports (no GPU here). */
  readDevices?: () => Promise<DeviceInfo[]>;
  /** Options of the default HardwareProbe's child (how it starts, its timeout and linger); tests start broken ones. */
  probe?: Pick<HardwareProbeOptions, 'launch' | 'timeoutMs' | 'lingerMs' | 'retryMs'>;
  /** Periodic device memory refresh; 0 = only after spawns/exits and before admissions. Defaults to 15 s. */
  devicePeriodMs?: number;
  /** How to start a worker. Defaults to `rbeeCommand('worker', args)`. */
  launcher?: WorkerLauncher;
  /**
   * Pre-started worker processes kept warm, so a (re)start skips process start-up and module loading.
   * Defaults to 1; 0 disables. Ignored with a custom `launcher`.
   */
  standbyWorkers?: number;
  /** Delay before a used standby is replaced (keeps its start-up off the critical path). Defaults to 3000 ms. */
  standbyRefillDelayMs?: number;
  /** Called when a client asks `POST /v1/shutdown`. Defaults to `close()`. */
  onShutdownRequested?: () => void;
  clock?: PolicyClock;
  random?: RandomSource;
  /** Where each worker's output is kept (`<data>/logs`, rotated); none = the in-memory ring only. */
  logsDir?: string;
  /** Watching the models folder (fs.watch + periodic rescan); `false` turns it off. Defaults to on. */
  watchModels?: ModelFolderWatcherOptions | false;
  /** Options for the model downloader: retry pacing, SSRF network policy, size and space limits. */
  download?: Pick<ModelDownloaderOptions, 'maxAttempts' | 'retryBaseMs' | 'progressIntervalMs' | 'network' | 'maxBytes' | 'minFreeBytes' | 'maxConcurrent' | 'hfToken' | 'hfEndpoint'>;
}


function packageVersion(): string | null {
  try {
    return (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

/** Creates and starts a hive (in-process; `rbee hive` wraps this). */
export async function createHive(options: HiveOptions): Promise<Hive> {
  const id = options.id ?? 'local';
  const host = options.host ?? '127.0.0.1';
  const refusal = checkBindPolicy(host, options.token);
  if (refusal) throw new Error(refusal);
  const policy = resolveRestartPolicy(options.policy ?? {});
  const logger = options.logger ?? createLogger('hive');
  const audit = options.audit ?? NOOP_AUDIT_SINK;
  const clock = options.clock ?? Date;
  await mkdir(options.modelsDir, { recursive: true });

  const catalog = new ModelCatalog(options.modelsDir, id);
  const metrics = new HiveMetrics(id);
  const probe = new HardwareProbe({ ...options.probe, gpu: options.gpu ?? 'auto' });
  let models: ModelInfo[] = [];
  const monitor = new DeviceMemoryMonitor({
    read: options.readDevices ?? ((context) => probe.devices(context)),
    // Subscribers (the queen, the dashboard's device bars) learn about devices found after start-up.
    onChange: (next) => {
      metrics.observeDevices(next);
      events.publish({ type: 'hive_updated', hive: info() });
    },
    onError: (error) => logger.warn({ err: error }, 'device probe failed'),
    periodMs: options.devicePeriodMs ?? 15_000,
  });
  let port = 0;
  const socketPath = options.socketDir === undefined ? null : hiveSocketPath(options.socketDir);
  let closing = false;
  let closed: Promise<void> | null = null;
  const version = packageVersion();

  const info = (): HiveInfo => ({
    id,
    kind: 'local',
    state: closing ? 'stopped' : 'online',
    address: socketPath === null ? `${host}:${port}` : `unix:${socketPath}`,
    version,
    os: process.platform,
    arch: process.arch,
    node_version: process.versions.node,
    devices: monitor.current,
    last_seen: clock.now(),
    restart_count: 0,
    // A failed device probe leaves a CPU-only view: say so where the dashboard shows the hive.
    message: probe.lastError && !options.readDevices ? `Device probe failed (${probe.lastError.code}), showing the CPU only: ${probe.lastError.message}` : null,
  });
  const snapshot = (): ClusterSnapshot => ({ hives: [info()], workers: supervisor.list(), models });
  const events = new HiveEventHub(snapshot, () => clock.now());

  const standbyCount = options.launcher ? 0 : (options.standbyWorkers ?? 1);
  const defaultThreads = options.defaultThreads ?? Math.max(1, Math.floor(availableParallelism() / 2));
  const standby =
    standbyCount > 0
      ? new WorkerStandbyPool(standbyCount, logger, undefined, options.standbyRefillDelayMs, {
          device: options.gpu === false ? 'cpu' : 'auto',
          threads: defaultThreads,
        })
      : null;
  const logs = new WorkerLogs({ dir: options.logsDir, secrets: () => [options.token] });
  const supervisor = new WorkerSupervisor({
    logs,
    standby,
    hiveId: id,
    catalog,
    hub: events,
    metrics,
    audit,
    logger,
    launcher: options.launcher ?? ((args) => rbeeCommand('worker', args)),
    estimator: options.estimator ?? probe,
    devices: monitor,
    policy,
    defaultThreads,
    idleTtlMs: options.idleTtlMs ?? null,
    memoryReserveBytes: options.memoryReserveBytes ?? 256 * 1024 * 1024,
    skipAdmission: options.skipAdmission ?? false,
    clock,
    random: options.random ?? Math.random,
    socketDir: options.socketDir ?? null,
  });
  supervisor.shutdownTimeoutMs = options.shutdownTimeoutMs ?? 30_000;

  let reportedPending = '';
  const refreshModels = async (): Promise<ModelInfo[]> => {
    const next = await catalog.list();
    if (JSON.stringify(next) !== JSON.stringify(models)) {
      models = next;
      events.publish({ type: 'models_updated', hive_id: id, models });
    }
    const pending = JSON.stringify([...catalog.pending]);
    if (pending !== reportedPending) {
      reportedPending = pending;
      // Said once per change, not once per rescan: a copy in progress, or a file that will never load.
      if (catalog.pending.size > 0) logger.info({ hive_id: id, pending: Object.fromEntries(catalog.pending) }, 'models not served yet');
    }
    return models;
  };
  const watcher =
    options.watchModels === false
      ? null
      : new ModelFolderWatcher(
          options.modelsDir,
          async () => {
            await refreshModels();
            return { pending: catalog.pending.size };
          },
          { ...options.watchModels, onWatchError: (error) => logger.warn({ err: error, models_dir: options.modelsDir }, 'watching the models folder failed; rescanning periodically') },
        );
  const refreshDevices = (): Promise<DeviceInfo[]> => monitor.refresh();
  /** The explicit refresh: a new probe child, then the monitor's view (subscribers hear of a change). */
  const reprobeDevices = async (): Promise<DeviceInfo[]> => {
    await probe.reprobe();
    const devices = await monitor.refresh();
    // Published even when the figures are the same: the hive's message (a probe failure) may have changed.
    events.publish({ type: 'hive_updated', hive: info() });
    return devices;
  };

  /**
   * Removes a model's file (every shard of a split model). The name is validated as a file name (no path, no traversal) before any
   * filesystem call; a model one of this hive's workers uses (in any state: a crashed one comes back)
   * is refused, so nothing running or expected back loses its file.
   */
  const deleteModel = async (raw: string, actor: string): Promise<void> => {
    const name = validateModelName(raw);
    const users = supervisor.list().filter((w) => w.model === name);
    if (users.length > 0) {
      throw new ApiError(409, 'CONFLICT', `Model ${name} is used by worker${users.length > 1 ? 's' : ''} ${users.map((w) => w.id).join(', ')} on hive ${id}: remove ${users.length > 1 ? 'them' : 'it'} first`);
    }
    if (!(await catalog.list()).some((m) => m.name === name) && !catalog.pending.has(name)) throw new ApiError(404, 'MODEL_NOT_FOUND', `Hive ${id} has no model '${name}'`);
    // A split model goes as a whole: first shard first (it names the model), then the others.
    for (const file of splitGgufPartNames(name)) await rm(join(options.modelsDir, file), { force: true });
    await audit.emit({ event_type: 'model_deleted', actor, hive_id: id, details: { model: name } }).catch(() => undefined);
    logger.info({ hive_id: id, model: name, actor }, 'model deleted');
    await refreshModels();
  };

  const downloader = new ModelDownloader({
    dir: options.modelsDir,
    hiveId: id,
    hub: events,
    audit,
    logger,
    onDownloaded: () => void refreshModels().catch(() => undefined),
    ...options.download,
  });

  const app = createHttpServer({ logger });
  const security = secureTier(app, { boundHost: host, port: () => port, token: options.token, audit, allowedHosts: () => options.allowedHosts ?? [] });

  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      watcher?.dispose();
      events.publish({ type: 'hive_updated', hive: info() });
      await downloader.dispose();
      await supervisor.shutdown();
      await app.close();
      monitor.dispose();
      await probe.dispose();
    })();
    return closed;
  };

  const hive: Hive = {
    id,
    get url() {
      return socketPath === null ? `http://${host.includes(':') ? `[${host}]` : host}:${port}` : 'http://localhost';
    },
    socketPath,
    get port() {
      return port;
    },
    app,
    supervisor,
    events,
    metrics,
    catalog,
    logs,
    downloader,
    get closing() {
      return closing;
    },
    info,
    devices: refreshDevices,
    reprobeDevices,
    refreshModels,
    deleteModel,
    snapshot,
    requestShutdown: () => (options.onShutdownRequested ? options.onShutdownRequested() : void close()),
    close,
  };
  void app.register(hivePublicRoutes, { hive, answerNonce: (nonce: string) => answerHiveNonce(options.token, nonce) });
  security.protect((scope) => {
    void scope.register(hiveRoutes, { hive });
    void scope.register(hiveAuditRoutes, { witness: options.auditWitness ?? null });
  });

  await refreshModels();
  watcher?.start();
  // The device probe starts a probe child (~1 s until the binding answers): not on the start-up path.
  void refreshDevices().catch((error: unknown) => logger.warn({ err: error }, 'device probe failed'));
  try {
    if (options.socketDir !== undefined && socketPath !== null) {
      await prepareSocketDir(options.socketDir);
      await removeStaleSocket(socketPath);
      await app.listen({ path: socketPath });
      await chmod(socketPath, 0o600);
    } else {
      const address = await app.listen({ host, port: options.port ?? 7835 });
      port = Number(new URL(address).port);
    }
  } catch (error) {
    watcher?.dispose();
    standby?.dispose();
    monitor.dispose();
    await probe.dispose();
    throw error;
  }
  logger.info({ hive_id: id, url: hive.url, ...(socketPath === null ? {} : { socket: socketPath }), models_dir: options.modelsDir }, 'hive listening');
  return hive;
}
