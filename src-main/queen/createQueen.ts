import { mkdir } from 'node:fs/promises';
import { ApiError } from '../../src-shared/api/ApiError.js';
import { join, resolve } from 'node:path';
import type { AuditPage, AuditQuery, AuditVerifyResult } from '../../src-shared/audit/AuditEvent.js';
import { DEFAULT_DEADLINE_MS } from '../../src-shared/deadline/Deadline.js';
import type { RestartPolicyConfig, RestartPolicyPatch } from '../../src-shared/policy/RestartPolicyConfig.js';
import { Registry } from '../common/metrics/promClient.js';
import { AUDIT_ENV, createAuditSink, registerAuditMetrics } from '../audit/index.js';
import { readAuditKeyFile } from '../audit/readAuditKeyFile.js';
import { queryAuditSources } from '../../src-shared/audit/mergeAuditPages.js';
import { auditServiceDirName, queryAuditTree } from '../audit/auditTree.js';
import { verifyAuditTree } from '../audit/verifyAuditChains.js';
import { checkBindPolicy } from '../auth/bindPolicy.js';
import { ApiKeyStore } from '../auth/ApiKeyStore.js';
import { restrictToKeyModels } from '../auth/restrictToKeyModels.js';
import { secureTier, type TierSecurityOptions } from '../auth/secureTier.js';
import { API_KEYS_FILE, loadOrCreateTokenFile, QUEEN_TOKEN_FILE } from '../auth/tokenFile.js';
import { createHttpServer } from '../common/http/createHttpServer.js';
import { loadOrCreateTlsIdentity } from '../common/http/tlsIdentity.js';
import { createLogger, type Logger } from '../common/log/createLogger.js';
import { PROJECT_ROOT } from '../common/rbeeCommand.js';
import { DOWNLOAD_ALLOW_LOOPBACK_ENV, DOWNLOAD_ALLOW_PRIVATE_ENV } from '../hive/downloadNetworkPolicy.js';
import { demoModelPath, DEMO_MODEL_FILE, ensureTinyModel } from '../models/ensureTinyModel.js';
import { ClusterView } from './cluster/ClusterView.js';
import { QueenControl } from './control/QueenControl.js';
import { SettingsStore } from './control/SettingsStore.js';
import { HiveAuditWitnessing } from './hives/HiveAuditWitnessing.js';
import { HiveRegistry } from './hives/HiveRegistry.js';
import { LocalHiveProcess } from './hives/LocalHiveProcess.js';
import type { RemoteHiveManager, RemoteHiveManagerFactory } from './hives/RemoteHiveManager.js';
import { InferenceDispatcher } from './inference/InferenceDispatcher.js';
import type { InferenceServices } from './inference/serveInference.js';
import { QueenMetrics } from './metrics/QueenMetrics.js';
import type { Queen, QueenOptions } from './Queen.js';
import { controlRoutes } from './routes/controlRoutes.js';
import { inferenceRoutes } from './routes/inferenceRoute.js';
import { auditExportRoutes } from './routes/auditExportRoutes.js';
import { keyRoutes } from './routes/keyRoutes.js';
import { openAiRoutes } from './routes/openaiRoutes.js';
import { anthropicRoutes } from './routes/anthropicRoutes.js';
import { registerUiRoutes } from './routes/uiRoutes.js';
import { PoolForwarder } from './pools/PoolForwarder.js';
import { PoolMetrics } from './pools/PoolMetrics.js';
import { PoolRegistry } from './pools/PoolRegistry.js';
import { poolRoutes } from './pools/poolRoutes.js';
import { Scheduler } from './scheduling/Scheduler.js';
import { WorkerSpecs } from './specs/WorkerSpecs.js';
import { FileWorkerSpecStore, WORKER_SPECS_FILE } from './specs/WorkerSpecStore.js';

export const LOCAL_HIVE_ID = 'local';
/** A worker created on demand stops after this long without requests (and starts again on demand). */
export const ON_DEMAND_IDLE_TTL_MS = 10 * 60_000;
/** The id of the demo worker's spec (`--demo`, the desktop app's first run). */
export const DEMO_SPEC_ID = 'demo';

export interface CreateQueenOptions extends QueenOptions {
  logger?: Logger;
  /** Restart policy of the local hive daemon (the queen supervises it). */
  hivePolicy?: Partial<RestartPolicyConfig>;
  /** Worker restart policy handed to the local hive (overrides settings for this run). */
  workerPolicy?: Partial<RestartPolicyConfig>;
  /** Worker threads default for the local hive. */
  workerThreads?: number;
  /** Bounded request queue. Defaults to 256. */
  queueLimit?: number;
  /** The longest deadline any request gets. Defaults to 10 minutes. */
  maxDeadlineMs?: number;
  /** Start a worker when a request names a model that is in a catalog but not served. Defaults to true. */
  startOnDemand?: boolean;
  /** Idle TTL of a worker created on demand. Defaults to 10 minutes. */
  onDemandIdleTtlMs?: number;
  /** Tuning of the auth-failure limiter (tests shorten its windows). */
  authFailureLimits?: TierSecurityOptions['failureLimits'];
  /**
   * Remote hives: the assembly point picks the implementation (`sshRemoteHives()` for SSH). Defaults to
   * none: adding a hive answers 501. `false` means the same.
   */
  remoteHives?: RemoteHiveManagerFactory | false;
}

/**
 * Builds and starts a queen: the public API, the control API, the dashboard at /ui, and the local
 * hive as a supervised child process. The Electron main process and `rbee queen` both call this.
 */
export async function createQueen(options: CreateQueenOptions): Promise<Queen> {
  const host = options.host ?? '127.0.0.1';
  const refusal = checkBindPolicy(host, options.apiToken ?? 'a token generated below, 43 characters');
  if (refusal) throw new Error(refusal);

  const dataDir = resolve(options.dataDir);
  const modelsDir = options.modelsDir ? resolve(options.modelsDir) : join(dataDir, 'models');
  await mkdir(modelsDir, { recursive: true });
  const logger = options.logger ?? createLogger('queen');
  // There is no auth-off mode: without a configured token the queen keeps one in <data>/api-token,
  // which the CLI reads by default.
  let apiToken = options.apiToken;
  if (apiToken === undefined) {
    const tokenPath = join(dataDir, QUEEN_TOKEN_FILE);
    const generated = await loadOrCreateTokenFile(tokenPath);
    apiToken = generated.token;
    logger.info({ token_file: tokenPath, created: generated.created }, `API token ${generated.created ? 'generated in' : 'read from'} ${tokenPath}`);
  }
  // Pool keys (external engines) are redacted by the audit writer; the pools load once the sink exists.
  let poolSecrets = (): string[] => [];
  const settings = await SettingsStore.open(join(dataDir, 'settings.json'), { audit_mode: options.auditMode ?? 'disabled' });
  const auditMode = options.auditMode ?? settings.auditMode;
  const auditRoot = options.auditDir ?? join(dataDir, 'audit');
  const auditKeyFile = auditMode === 'local' && options.auditKeyFile ? resolve(options.auditKeyFile) : undefined;
  const sealKey = auditKeyFile ? await readAuditKeyFile(auditKeyFile) : undefined;
  // One registry for /metrics, made first so the audit writer's metrics (incl. rbee_audit_degraded) join it.
  const registry = new Registry();
  const audit = await createAuditSink(
    auditMode === 'local'
      ? { mode: 'local', serviceId: 'queen', metrics: registerAuditMetrics(registry), onError: (error) => logger.warn({ err: error }, 'audit write failed'), dir: join(auditRoot, auditServiceDirName('queen')), secrets: () => [apiToken, ...poolSecrets()], ...(sealKey ? { sealKey } : {}), retention: settings.auditRetention }
      : { mode: 'disabled', serviceId: 'queen' },
  );

  // A retention change applies to the queen's chain at once; hives started afterwards get it too.
  settings.onChange(() => audit.setRetention(settings.auditRetention));

  const view = new ClusterView();
  // A writer that cannot write shows in the snapshot (the dashboard's banner) and, with
  // audit_fail_closed, stops inference (below).
  view.setAuditDegraded(audit.health());
  audit.onHealthChange((degraded) => {
    if (degraded) logger.error({ audit_degraded: degraded }, 'the audit log cannot write');
    else logger.info('the audit log writes again');
    view.setAuditDegraded(degraded);
  });
  const pools = new PoolRegistry({ dataDir, audit, logger, ...(options.poolKeyStore ? { keys: options.poolKeyStore } : {}) });
  poolSecrets = () => pools.secrets();
  await pools.start();
  const witnessing: HiveAuditWitnessing = new HiveAuditWitnessing({
    audit,
    // Only hives that answer now: an unreachable one would hold up shutdown or a removal for the request timeout.
    hiveIds: (): string[] => hives.ids().filter((id) => view.hive(id)?.state === 'online'),
    client: (id) => hives.client(id),
    logger,
    intervalMs: options.auditWitnessIntervalMs,
  });
  /**
   * The worker restart policy every hive runs: the settings, with this run's `--policy` on top. It is
   * handed to the local hive at each start and pushed to every hive whose event stream (re)connects,
   * so a hive that was unreachable during a settings change, or restarted since, adopts it too.
   */
  const workerPolicy = (): RestartPolicyPatch => ({ ...settings.restartPolicy, ...options.workerPolicy });
  const pushWorkerPolicy = (id: string): void => {
    hives
      .client(id)
      ?.updatePolicy(workerPolicy())
      .catch((error: unknown) => logger.warn({ hive: id, err: error instanceof Error ? error.message : String(error) }, 'hive refused the worker restart policy'));
  };
  const hives: HiveRegistry = new HiveRegistry({
    view,
    audit,
    logger,
    onConnected: (id) => {
      pushWorkerPolicy(id);
      void witnessing.exchange(id);
    },
    beforeUnlink: (id): Promise<void> => (view.hive(id)?.state === 'online' ? witnessing.exchange(id) : Promise.resolve()),
  });
  witnessing.start();
  audit.onRecord((record) => view.publish({ type: 'audit', record }));

  const specs = await WorkerSpecs.open({
    store: options.workerSpecStore ?? new FileWorkerSpecStore(join(dataDir, WORKER_SPECS_FILE)),
    view,
    hiveClient: (id) => hives.client(id),
    logger,
    onDemandIdleTtlMs: options.onDemandIdleTtlMs ?? ON_DEMAND_IDLE_TTL_MS,
  });
  if (options.demo && options.localHive !== false && !specs.list().some((s) => s.hive === LOCAL_HIVE_ID && s.model === DEMO_MODEL_FILE)) {
    // The demo worker is one declared spec: an operator may stop or delete it like any other
    // (`--demo` declares it again at the next start when it is gone).
    await specs.create({ id: DEMO_SPEC_ID, hive: LOCAL_HIVE_ID, model: DEMO_MODEL_FILE, slots: 2, enabled: true, ephemeral: false, hot_spare: false });
  }
  const startOnDemand = (target: { hive: string; model: string; workerId: string | null }): Promise<void> => specs.startForRequest(target);
  const scheduler = new Scheduler(view, { queueLimit: options.queueLimit, startOnDemand: options.startOnDemand === false ? undefined : startOnDemand, specs: () => specs.list() });
  const metrics = new QueenMetrics(view, scheduler, registry);
  const poolForwarder = new PoolForwarder({ metrics: new PoolMetrics(metrics.registry, () => pools.all()), audit, logger, maxDeadlineMs: options.maxDeadlineMs ?? 10 * DEFAULT_DEADLINE_MS });
  const dispatcher = new InferenceDispatcher(scheduler, (id) => hives.client(id), logger);


  // The merged query (docs/audit.md "Query"): this machine's chains (queen, local hive, its workers)
  // and each online remote hive's, one k-way newest-first merge; a hive that fails is `unavailable`.
  const queryAudit = async (query: AuditQuery): Promise<AuditPage> => {
    if (auditMode !== 'local') return { records: [], next_cursor: null };
    const remote = view
      .snapshot()
      .hives.filter((h) => h.kind === 'remote' && h.state === 'online')
      .map((h) => h.id);
    if (remote.length === 0) return queryAuditTree(auditRoot, query);
    return queryAuditSources(
      [
        { id: '.', query: (q: AuditQuery) => queryAuditTree(auditRoot, q) },
        ...remote.map((id) => ({
          id: `hive:${id}`,
          query: (q: AuditQuery) => {
            const client = hives.client(id);
            if (!client) throw new Error(`hive ${id} is not linked`);
            return client.auditQuery(q);
          },
        })),
      ],
      query,
    );
  };
  const verifyAudit = async (): Promise<AuditVerifyResult> =>
    auditMode === 'local' ? verifyAuditTree(auditRoot, { allowPartialTail: true, ...(sealKey ? { key: sealKey } : {}) }) : { ok: true, entries: 0, files: 0 };

  const remoteHives: RemoteHiveManager | undefined = options.remoteHives ? options.remoteHives({ dataDir, hives, view, audit, auditMode, logger }) : undefined;

  const keys = await ApiKeyStore.open(join(dataDir, API_KEYS_FILE), { registry: metrics.registry });
  // LAN exposure over TLS: a self-signed certificate made once and kept, so a pinned fingerprint lasts.
  const tls = options.tls ? await loadOrCreateTlsIdentity(join(dataDir, 'tls')) : undefined;
  let boundPort = 0;
  let localHivePort = 0;
  const control = new QueenControl({
    view,
    dispatcher,
    hiveClient: (id) => hives.client(id),
    settings,
    workerPolicy,
    audit,
    queryAudit,
    verifyAudit,
    apiToken,
    ports: {
      get queen() {
        return boundPort;
      },
      get hive() {
        return localHivePort;
      },
    },
    modelsDir,
    remoteHives,
    specs,
    pools,
    keys,
    tlsFingerprint: tls?.fingerprint ?? null,
  });

  const app = createHttpServer({ logger, ...(tls ? { tls } : {}) });
  const security = secureTier(app, {
    boundHost: host,
    port: () => boundPort,
    token: apiToken,
    keys,
    audit,
    allowedHosts: () => [...(options.allowedHosts ?? []), ...settings.allowedHosts],
    allowedOrigins: () => [...(options.allowedOrigins ?? []), ...settings.allowedOrigins],
    failureLimits: options.authFailureLimits,
  });
  app.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode === 401) metrics.authFailures.inc();
    metrics.requests.inc({ route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) });
  });
  app.get('/health', async () => {
    const snapshot = view.snapshot();
    return {
      status: 'ok',
      hives: snapshot.hives.map((h) => ({ id: h.id, state: h.state })),
      workers: { total: snapshot.workers.length, ready: snapshot.workers.filter((w) => w.state === 'idle' || w.state === 'busy').length },
    };
  });
  await registerUiRoutes(app, options.uiDir ?? join(PROJECT_ROOT, 'out', 'renderer'));
  const services: InferenceServices = {
    dispatcher,
    metrics,
    audit,
    maxDeadlineMs: options.maxDeadlineMs ?? 10 * DEFAULT_DEADLINE_MS,
    jobOwners: new Map(),
    onUsage: (request, tokensIn, tokensOut) => {
      if (request.principal?.keyId) keys.recordTokens(request.principal.keyId, tokensIn, tokensOut);
    },
  };
  // Everything above is public (health, the dashboard's static files); below, one protected scope per
  // route group, each needing its key scope (admin satisfies all; docs/api.md "API keys and scopes").
  security.protect((scope) => {
    // audit_fail_closed (off by default): no inference while the audit log cannot record it.
    scope.addHook('preHandler', async () => {
      const degraded = audit.health();
      if (degraded && settings.auditFailClosed) {
        throw new ApiError(503, 'AUDIT_UNAVAILABLE', `The audit log cannot write (${degraded.reason}) and audit_fail_closed is on`, undefined, { 'retry-after': '30' });
      }
    });
    restrictToKeyModels(scope);
    void scope.register(inferenceRoutes, { services });
    void scope.register(openAiRoutes, { services, view, pools: { registry: pools, forwarder: poolForwarder } });
    void scope.register(anthropicRoutes, { services });
  }, 'inference');
  security.protect((scope) => {
    scope.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  }, 'metrics');
  security.protect((scope) => {
    void scope.register(controlRoutes, { control });
    void scope.register(keyRoutes, { keys, audit });
    void scope.register(auditExportRoutes, { client: (id: string) => hives.client(id) });
    void scope.register(poolRoutes, { pools });
  }, 'admin');

  // Bind first: a port already in use must fail before any hive process exists (a second `npm start`
  // would otherwise leave a hive behind and the process hanging on it).
  let address: string;
  try {
    address = await app.listen({ host, port: options.port ?? 7833 });
  } catch (error) {
    scheduler.dispose();
    pools.dispose();
    witnessing.dispose();
    await remoteHives?.close?.({ stopRemote: false }).catch(() => undefined);
    await audit.close();
    throw error;
  }
  boundPort = Number(new URL(address).port);

  if (options.demo) await ensureTinyModel(demoModelPath(modelsDir), { name: 'rbee demo (tiny, random weights)' });
  let localHive: LocalHiveProcess | undefined;
  if (options.localHive !== false) {
    localHive = new LocalHiveProcess({
      id: LOCAL_HIVE_ID,
      modelsDir,
      dataDir: join(dataDir, 'hive'),
      port: options.hivePort,
      policy: options.hivePolicy,
      workerPolicy,
      threads: options.workerThreads,
      ...(options.localHiveStandby !== undefined ? { standby: options.localHiveStandby } : {}),
      env: {
        ...(auditMode === 'local' ? { LLORCH_AUDIT_MODE: 'local', LLORCH_AUDIT_DIR: auditRoot } : { LLORCH_AUDIT_MODE: 'disabled' }),
        // The path, not the key: the hive and its workers read the same 0400 file.
        ...(auditKeyFile ? { [AUDIT_ENV.keyFile]: auditKeyFile } : {}),
        ...(settings.auditRetention.days !== null ? { [AUDIT_ENV.retentionDays]: String(settings.auditRetention.days) } : {}),
        ...(settings.auditRetention.maxBytes !== null ? { [AUDIT_ENV.maxBytes]: String(settings.auditRetention.maxBytes) } : {}),
        [DOWNLOAD_ALLOW_LOOPBACK_ENV]: settings.downloadNetwork.allowLoopback ? '1' : '0',
        [DOWNLOAD_ALLOW_PRIVATE_ENV]: settings.downloadNetwork.allowPrivate ? '1' : '0',
      },
      audit,
      logger,
      onListening: ({ baseUrl, token }) => {
        localHivePort = Number(new URL(baseUrl).port);
        hives.link({ id: LOCAL_HIVE_ID, baseUrl, token }, 'local', new URL(baseUrl).host);
        view.patchHive(LOCAL_HIVE_ID, { restart_count: localHive?.restartCount ?? 0 });
      },
      onDown: ({ reason, restartAt, restartCount }) => {
        if (!view.hive(LOCAL_HIVE_ID)) return;
        view.patchHive(LOCAL_HIVE_ID, { state: restartAt === null ? 'failed' : 'unreachable', message: reason, restart_count: restartCount });
      },
    });
    localHive.start();
  }

  // Every enabled spec gets its worker whenever its hive (re)connects (and now, for hives already up).
  specs.start();

  const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
  logger.info({ url, data_dir: dataDir, audit: auditMode }, 'queen listening');
  // Remembered remote hives come back in the background: one unreachable host must not hold up start.
  void remoteHives?.restore?.().catch((error: unknown) => logger.warn({ err: error }, 'restoring remote hives failed'));

  let closing: Promise<void> | undefined;
  return {
    url,
    port: boundPort,
    tlsFingerprint: tls?.fingerprint ?? null,
    control,
    localHivePid: () => localHive?.pid ?? null,
    close: (closeOptions = {}) => {
      closing ??= (async () => {
        scheduler.dispose();
        specs.dispose();
        pools.dispose();
        await app.close();
        // The last exchange: each hive's final heads go into the queen's chain (and the queen's into
        // theirs) before they stop, so a cut made after shutdown is still seen.
        witnessing.dispose();
        await witnessing.exchangeAll();
        await localHive?.stop();
        await remoteHives?.close?.({ stopRemote: closeOptions.stopRemote === true });
        await hives.dispose();
        await audit.close();
      })();
      return closing;
    },
  };
}
