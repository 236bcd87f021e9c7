import type { IncomingMessage } from 'node:http';
import type { RemoteHiveManager } from '../hives/RemoteHiveManager.js';
import type { HiveWorkerAction } from '../../../src-shared/hive/hiveApi.js';
import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { AuditPage, AuditQuery, AuditSink, AuditVerifyResult } from '../../../src-shared/audit/AuditEvent.js';
import type { ClusterEvent, ClusterSnapshot } from '../../../src-shared/cluster/ClusterEvent.js';
import type { HiveInfo, ModelInfo } from '../../../src-shared/cluster/HiveInfo.js';
import type { WorkerInfo } from '../../../src-shared/cluster/WorkerInfo.js';
import type {
  AddHiveRequest,
  AddHiveResult,
  ConnectionState,
  ControlApi,
  DownloadModelRequest,
  Settings,
  SettingsPatch,
  SpawnWorkerRequest,
  UploadModelRequest,
  UploadModelStarted,
} from '../../../src-shared/control/ControlApi.js';
import { CreateWorkerSpecRequestSchema, ReplaceWorkerSpecRequestSchema, type WorkerSpec } from '../../../src-shared/control/controlSchemas.js';
import type { CreateWorkerSpecRequest, ReplaceWorkerSpecRequest, WorkerEntry } from '../../../src-shared/control/workerSpecTypes.js';
import { parseBody } from '../../common/http/parseBody.js';
import { Deadline } from '../../../src-shared/deadline/Deadline.js';
import { InvalidRestartPolicyError, type RestartPolicyPatch } from '../../../src-shared/policy/RestartPolicyConfig.js';
import type { CancelSignal } from '../../../src-shared/util/CancelSignal.js';
import type { InferenceEvent, InferenceRequest } from '../../../src-shared/worker/inferenceWire.js';
import type { PoolInfo, PoolTestResult } from '../../../src-shared/control/poolSchemas.js';
import { WorkerLogsPageSchema, type WorkerLogsPage } from '../../../src-shared/control/workerLogs.js';
import { tokenFingerprint } from '../../auth/tokenFingerprint.js';
import type { ClusterView } from '../cluster/ClusterView.js';
import type { HiveClient } from '../hives/HiveClient.js';
import type { InferenceDispatcher } from '../inference/InferenceDispatcher.js';
import type { WorkerSpecs } from '../specs/WorkerSpecs.js';
import type { SettingsStore } from './SettingsStore.js';
import type { ApiKeyStore } from '../../auth/ApiKeyStore.js';
import type { ApiKeyInfo, CreateApiKeyRequest, CreatedApiKey } from '../../../src-shared/control/apiKeys.js';
import { createApiKey, revokeApiKey } from './keyOperations.js';
import { startModelUpload } from './modelUpload.js';

/** Remote hives (SSH) plug in here; without it, adding one answers a clear 501. */

export interface QueenControlOptions {
  view: ClusterView;
  dispatcher: InferenceDispatcher;
  hiveClient: (hiveId: string) => HiveClient | undefined;
  settings: SettingsStore;
  /** The worker restart policy hives run (the settings with the run's override on top). */
  workerPolicy: () => RestartPolicyPatch;
  audit: AuditSink;
  /** Merged audit query over the queen's own chain and its hives'. */
  queryAudit: (query: AuditQuery) => Promise<AuditPage>;
  verifyAudit: () => Promise<AuditVerifyResult>;
  apiToken: string;
  ports: { queen: number; hive: number };
  /** The fingerprint LAN clients pin when the queen serves HTTPS; null over plain HTTP. */
  tlsFingerprint?: string | null;
  modelsDir: string;
  remoteHives?: RemoteHiveManager;
  /** The declared worker specs (desired state) and their reconciler. */
  specs: WorkerSpecs;
  /** The queen's pools (PoolRegistry); without it the list is empty. */
  pools?: PoolControl;
  /** Who is acting, for audit records (`operator` in-process, `token:<fp6>` over HTTP). */
  actor?: string;
  /** The scoped API keys (hashed store). */
  keys: ApiKeyStore;
}

type WorkerAction = HiveWorkerAction;

/** What the control API needs of the pools: read them, check one, close a breaker. */
export interface PoolControl {
  list(): PoolInfo[];
  test(name: string): Promise<PoolTestResult>;
  resetBreaker(name: string, actor: string): PoolInfo;
}

/**
 * The queen's control operations, in-process. The HTTP control API and the Electron IPC bridge both
 * call this one implementation of `ControlApi`.
 */

export class QueenControl implements ControlApi {
  constructor(private readonly options: QueenControlOptions) {}

  /** The same operations attributed to another actor (the HTTP caller's token fingerprint). */
  as(actor: string): QueenControl {
    return new QueenControl({ ...this.options, actor });
  }

  private get actor(): string {
    return this.options.actor ?? 'operator';
  }

  private client(hiveId: string): HiveClient {
    const client = this.options.hiveClient(hiveId);
    if (!client) throw new ApiError(404, 'HIVE_NOT_FOUND', `No hive '${hiveId}'`);
    if (this.options.view.hive(hiveId)?.state !== 'online') {
      throw new ApiError(503, 'HIVE_UNREACHABLE', `Hive '${hiveId}' is ${this.options.view.hive(hiveId)?.state ?? 'unknown'}`, undefined, { 'retry-after': '2' });
    }
    return client;
  }

  async getSnapshot(): Promise<ClusterSnapshot> {
    return this.options.view.snapshot();
  }

  async listPools(): Promise<PoolInfo[]> {
    return this.options.pools?.list() ?? [];
  }

  async testPool(name: string): Promise<PoolTestResult> {
    return this.requirePools(name).test(name);
  }

  async resetPoolBreaker(name: string): Promise<PoolInfo> {
    return this.requirePools(name).resetBreaker(name, this.actor);
  }

  private requirePools(name: string): PoolControl {
    if (!this.options.pools) throw new ApiError(404, 'NOT_FOUND', `No pool named '${name}'`);
    return this.options.pools;
  }

  subscribe(onEvent: (event: ClusterEvent) => void, onConnection?: (state: ConnectionState) => void): () => void {
    onConnection?.('open');
    const unsubscribe = this.options.view.subscribe(onEvent);
    return () => {
      unsubscribe();
      onConnection?.('closed');
    };
  }

  /** Declares an enabled spec on an online hive and answers with its worker (the pre-spec shorthand). */
  async spawnWorker(request: SpawnWorkerRequest): Promise<WorkerInfo> {
    this.client(request.hive_id);
    const entry = await this.createWorkerSpec({ ...request, enabled: true });
    if (!entry.worker) throw new ApiError(503, 'HIVE_UNREACHABLE', `Hive '${request.hive_id}' went away before the worker started`, undefined, { 'retry-after': '2' });
    return entry.worker;
  }

  async listWorkerSpecs(): Promise<WorkerEntry[]> {
    return this.options.specs.entries();
  }

  async createWorkerSpec(request: CreateWorkerSpecRequest): Promise<WorkerEntry> {
    const { hive_id: hive, id, ...fields } = parseBody(CreateWorkerSpecRequestSchema, request);
    if (!this.options.view.hive(hive)) throw new ApiError(404, 'HIVE_NOT_FOUND', `No hive '${hive}'`);
    const spec: WorkerSpec = { ...fields, id: id ?? this.options.specs.freeId(hive, fields.model), hive, enabled: fields.enabled ?? true, ephemeral: false, hot_spare: fields.hot_spare ?? false };
    const worker = await this.options.specs.create(spec);
    return { hive, id: spec.id, spec, worker: worker ?? this.options.view.worker(hive, spec.id) ?? null };
  }

  async getWorkerSpec(hiveId: string, specId: string): Promise<WorkerEntry> {
    const entry = this.options.specs.entry(hiveId, specId);
    if (!entry) throw new ApiError(404, 'WORKER_NOT_FOUND', `No worker or spec '${specId}' on hive '${hiveId}'`);
    return entry;
  }

  async replaceWorkerSpec(hiveId: string, specId: string, request: ReplaceWorkerSpecRequest): Promise<WorkerEntry> {
    const { id, hive, ephemeral: _declared, ...fields } = parseBody(ReplaceWorkerSpecRequestSchema, request);
    if ((id !== undefined && id !== specId) || (hive !== undefined && hive !== hiveId)) {
      throw new ApiError(400, 'INVALID_REQUEST', 'id and hive come from the path; a spec cannot be moved or renamed (create a new one)');
    }
    if (!this.options.view.hive(hiveId)) throw new ApiError(404, 'HIVE_NOT_FOUND', `No hive '${hiveId}'`);
    if (!this.options.specs.entry(hiveId, specId)) throw new ApiError(404, 'WORKER_NOT_FOUND', `No worker or spec '${specId}' on hive '${hiveId}'`);
    const spec: WorkerSpec = { ...fields, id: specId, hive: hiveId, enabled: fields.enabled ?? true, ephemeral: false, hot_spare: fields.hot_spare ?? false };
    await this.options.specs.replace(spec);
    return this.getWorkerSpec(hiveId, specId);
  }

  async deleteWorkerSpec(hiveId: string, specId: string): Promise<void> {
    await this.options.specs.remove(hiveId, specId);
  }

  /**
   * An operator's action on a worker. Stop disables its spec (it stays stopped across restarts and its
   * model answers MODEL_STOPPED); start and restart enable it, and start a spec that has no worker yet.
   */
  private async workerAction(hiveId: string, workerId: string, action: WorkerAction): Promise<void> {
    const { specs, view } = this.options;
    const spec = specs.get(hiveId, workerId);
    if (!view.worker(hiveId, workerId) && !spec) throw new ApiError(404, 'WORKER_NOT_FOUND', `No worker '${workerId}' on hive '${hiveId}'`);
    const client = this.client(hiveId);
    if (action === 'stop') await specs.setEnabled(hiveId, workerId, false);
    if (action === 'start' || action === 'restart') {
      const enabled = await specs.setEnabled(hiveId, workerId, true);
      if (enabled && !view.worker(hiveId, workerId)) {
        await specs.replace(enabled);
        return;
      }
    }
    if (!view.worker(hiveId, workerId)) throw new ApiError(404, 'WORKER_NOT_FOUND', `Spec '${workerId}' on hive '${hiveId}' has no worker`);
    await client.workerAction(workerId, action);
  }

  /** The last `tail` lines a worker wrote (redacted by its hive). */
  async getWorkerLogs(hiveId: string, workerId: string, tail: number): Promise<WorkerLogsPage> {
    if (!this.options.view.worker(hiveId, workerId)) throw new ApiError(404, 'WORKER_NOT_FOUND', `No worker '${workerId}' on hive '${hiveId}'`);
    const body = await this.client(hiveId).request<unknown>('GET', `/v1/workers/${encodeURIComponent(workerId)}/logs?tail=${tail}`);
    const page = WorkerLogsPageSchema.safeParse(body);
    if (!page.success) throw new ApiError(502, 'UPSTREAM_ERROR', `Hive '${hiveId}' sent malformed worker logs`);
    return page.data;
  }

  /** The hive's SSE stream of a worker's lines (the tail first), for the route to relay; ends with `signal`. */
  followWorkerLogs(hiveId: string, workerId: string, tail: number, signal: AbortSignal): Promise<IncomingMessage> {
    if (!this.options.view.worker(hiveId, workerId)) throw new ApiError(404, 'WORKER_NOT_FOUND', `No worker '${workerId}' on hive '${hiveId}'`);
    return this.client(hiveId).openStream(`/v1/workers/${encodeURIComponent(workerId)}/logs?tail=${tail}&follow=1`, signal);
  }

  stopWorker(hiveId: string, workerId: string): Promise<void> {
    return this.workerAction(hiveId, workerId, 'stop');
  }
  startWorker(hiveId: string, workerId: string): Promise<void> {
    return this.workerAction(hiveId, workerId, 'start');
  }
  restartWorker(hiveId: string, workerId: string): Promise<void> {
    return this.workerAction(hiveId, workerId, 'restart');
  }
  resetBreaker(hiveId: string, workerId: string): Promise<void> {
    return this.workerAction(hiveId, workerId, 'reset-breaker');
  }

  async listModels(): Promise<ModelInfo[]> {
    return this.options.view.allModels();
  }

  /**
   * A declared spec naming the model keeps it (its worker would be started again on a file that is
   * gone); the hive itself refuses while one of its workers uses it, and validates the name.
   */
  async deleteModel(hiveId: string, name: string): Promise<void> {
    const declared = this.options.specs.list().filter((s) => s.hive === hiveId && s.model === name && !s.ephemeral);
    if (declared.length > 0) {
      throw new ApiError(409, 'CONFLICT', `Model ${name} is declared by worker spec${declared.length > 1 ? 's' : ''} ${declared.map((s) => `${s.hive}/${s.id}`).join(', ')}: remove ${declared.length > 1 ? 'them' : 'it'} first`);
    }
    await this.client(hiveId).deleteModel(name);
  }

  async downloadModel(request: DownloadModelRequest): Promise<{ download_id: string; name?: string }> {
    return this.client(request.hive_id).downloadModel({ source: request.source, ...(request.name ? { name: request.name } : {}) });
  }

  uploadModel(request: UploadModelRequest): Promise<UploadModelStarted> {
    return startModelUpload({ view: this.options.view, remoteHives: this.options.remoteHives, modelsDir: this.options.modelsDir, audit: this.options.audit, actor: this.actor }, request);
  }

  async listHives(): Promise<HiveInfo[]> {
    return this.options.view.snapshot().hives;
  }

  async addHive(request: AddHiveRequest): Promise<AddHiveResult> {
    if (!this.options.remoteHives) throw new ApiError(501, 'INVALID_REQUEST', 'Remote hives are not enabled on this queen');
    return this.options.remoteHives.add(request);
  }

  async removeHive(hiveId: string, options: { stop: boolean }): Promise<void> {
    const hive = this.options.view.hive(hiveId);
    if (!hive) throw new ApiError(404, 'HIVE_NOT_FOUND', `No hive '${hiveId}'`);
    if (hive.kind === 'local') throw new ApiError(409, 'CONFLICT', 'The local hive cannot be removed; quit the app to stop it');
    if (!this.options.remoteHives) throw new ApiError(501, 'INVALID_REQUEST', 'Remote hives are not enabled on this queen');
    await this.options.remoteHives.remove(hiveId, options);
  }

  queryAudit(query: AuditQuery): Promise<AuditPage> {
    return this.options.queryAudit(query);
  }

  verifyAudit(): Promise<AuditVerifyResult> {
    return this.options.verifyAudit();
  }

  async getSettings(): Promise<Settings> {
    return this.options.settings.view({
      queen_port: this.options.ports.queen,
      hive_port: this.options.ports.hive,
      api_token_fingerprint: tokenFingerprint(this.options.apiToken),
      models_dir: this.options.modelsDir,
      tls_fingerprint: this.options.tlsFingerprint ?? null,
    });
  }

  async listKeys(): Promise<ApiKeyInfo[]> {
    return this.options.keys.list();
  }

  createKey(request: CreateApiKeyRequest): Promise<CreatedApiKey> {
    return createApiKey(this.options.keys, this.options.audit, request, { actor: this.actor });
  }

  revokeKey(id: string): Promise<ApiKeyInfo> {
    return revokeApiKey(this.options.keys, this.options.audit, id, { actor: this.actor });
  }

  async revealAdminToken(): Promise<string> {
    return this.options.apiToken;
  }

  async updateSettings(patch: SettingsPatch): Promise<Settings> {
    try {
      await this.options.settings.update(patch);
    } catch (error) {
      if (error instanceof InvalidRestartPolicyError) throw new ApiError(400, 'INVALID_REQUEST', error.message);
      throw error;
    }
    if (patch.restart_policy) {
      // Every reachable hive adopts the new worker policy; unreachable ones get it when they reconnect
      // (createQueen pushes it on every connect).
      const policy = this.options.workerPolicy();
      await Promise.all(
        this.options.view
          .snapshot()
          .hives.filter((h) => h.state === 'online')
          .map((h) => this.options.hiveClient(h.id)?.updatePolicy(policy).catch(() => undefined)),
      );
    }
    const changed = Object.keys(patch).join(',');
    await this.options.audit.emit({ event_type: 'settings_changed', actor: this.actor, details: { changed } }).catch(() => undefined);
    return this.getSettings();
  }

  async infer(request: InferenceRequest & { model: string }, onEvent: (event: InferenceEvent) => void, signal?: CancelSignal): Promise<void> {
    const abort = new AbortController();
    const onAbort = (): void => abort.abort();
    signal?.addEventListener('abort', onAbort);
    if (signal?.aborted) abort.abort();
    try {
      await this.options.dispatcher.dispatch(
        request,
        { deadline: Deadline.in(120_000), requestId: `ipc-${Date.now().toString(36)}`, signal: abort.signal },
        { started: (started, worker) => onEvent({ ...started, worker: `${worker.hive}/${worker.id}` }), event: (event) => onEvent(event) },
      );
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
