import type { AuditPage, AuditQuery, AuditVerifyResult } from '../audit/AuditEvent.js';
import type { ClusterEvent, ClusterSnapshot } from '../cluster/ClusterEvent.js';
import type { HiveInfo, ModelInfo } from '../cluster/HiveInfo.js';
import type { WorkerInfo } from '../cluster/WorkerInfo.js';
import type { RestartPolicyConfig } from '../policy/RestartPolicyConfig.js';
import type { GpuLaunchOptions } from '../worker/gpuOptions.js';
import type { CancelSignal } from '../util/CancelSignal.js';
import type { CreateWorkerSpecRequest, ReplaceWorkerSpecRequest, WorkerEntry } from './workerSpecTypes.js';
import type { ChatMessage, InferenceEvent, InferenceRequest } from '../worker/inferenceWire.js';
import type { PoolInfo, PoolTestResult } from './poolSchemas.js';
import type { z } from 'zod';
import type { UploadModelRequestSchema } from './controlSchemas.js';
import type { ApiKeyInfo, CreateApiKeyRequest, CreatedApiKey } from './apiKeys.js';
import type { WorkerLogsPage, WorkerLogsStreamEvent } from './workerLogs.js';
import type { DesktopPreferences, DesktopPreferencesPatch } from '../desktop/desktopPreferences.js';

/**
 * The one contract between the dashboard and its host. Two implementations carry it:
 * an HTTP/SSE bridge (web mode, the queen's `/v1/control/*`) and the Electron preload bridge (IPC).
 * Every method either resolves or rejects with an `ApiError`.
 */
export interface ControlApi {
  getSnapshot(): Promise<ClusterSnapshot>;
  /**
   * Streams `ClusterEvent`s, a snapshot first (also after every reconnect). Returns the unsubscribe
   * function. `onConnection` reports the stream's health so the UI can show a disconnection.
   */
  subscribe(onEvent: (event: ClusterEvent) => void, onConnection?: (state: ConnectionState) => void): () => void;

  /** Declares an enabled worker spec and returns its worker (the spec-less shorthand of `createWorkerSpec`). */
  spawnWorker(request: SpawnWorkerRequest): Promise<WorkerInfo>;
  /** Every declared spec joined with its worker, plus workers no spec declares (`spec: null`). */
  listWorkerSpecs(): Promise<WorkerEntry[]>;
  /** Declares a worker (desired state, persisted); starts it when enabled. */
  createWorkerSpec(request: CreateWorkerSpecRequest): Promise<WorkerEntry>;
  getWorkerSpec(hiveId: string, specId: string): Promise<WorkerEntry>;
  /** Replaces a spec; its worker is replaced when a launch field changed. */
  replaceWorkerSpec(hiveId: string, specId: string, request: ReplaceWorkerSpecRequest): Promise<WorkerEntry>;
  /** Stops the worker and removes its entry and its spec (also for a failed entry no spec declares). */
  deleteWorkerSpec(hiveId: string, specId: string): Promise<void>;
  stopWorker(hiveId: string, workerId: string): Promise<void>;
  startWorker(hiveId: string, workerId: string): Promise<void>;
  restartWorker(hiveId: string, workerId: string): Promise<void>;
  resetBreaker(hiveId: string, workerId: string): Promise<void>;
  /** The last `tail` lines a worker wrote (stdout and stderr, redacted by its hive). */
  getWorkerLogs(hiveId: string, workerId: string, tail: number): Promise<WorkerLogsPage>;
  /**
   * Follows a worker's output: a `reset` then the tail, then every new line, reconnecting after a
   * drop (another `reset` and tail). Returns the stop function. Optional: a bridge that cannot carry
   * the stream (the Electron IPC bridge) leaves it out and the dashboard polls `getWorkerLogs`.
   */
  watchWorkerLogs?(hiveId: string, workerId: string, tail: number, onEvent: (event: WorkerLogsStreamEvent) => void): () => void;

  listModels(): Promise<ModelInfo[]>;
  downloadModel(request: DownloadModelRequest): Promise<{ download_id: string; name?: string }>;
  /**
   * Copies a model of this machine's models folder to a remote hive (SFTP). Answers at once; the
   * transfer reports as `download_progress` events (`source` = `upload:<model>`) and ends `done` once
   * the remote hive lists the model, or `failed` with the reason.
   */
  uploadModel(request: UploadModelRequest): Promise<UploadModelStarted>;
  /** Deletes a model file on a hive: 409 while one of its workers or a declared spec uses it. */
  deleteModel(hiveId: string, name: string): Promise<void>;

  listHives(): Promise<HiveInfo[]>;
  /** First call for an unknown host key returns `needs_trust`; call again with `trust_fingerprint`. */
  addHive(request: AddHiveRequest): Promise<AddHiveResult>;
  removeHive(hiveId: string, options: { stop: boolean }): Promise<void>;

  /** External engines behind the queen (docs/pools.md); added and removed with `rbee pools`. */
  listPools(): Promise<PoolInfo[]>;
  /** One health check (`GET {base}/models`), now. */
  testPool(name: string): Promise<PoolTestResult>;
  /** Closes the pool's circuit breaker (audited as `breaker_reset`). */
  resetPoolBreaker(name: string): Promise<PoolInfo>;

  queryAudit(query: AuditQuery): Promise<AuditPage>;
  verifyAudit(): Promise<AuditVerifyResult>;

  getSettings(): Promise<Settings>;
  updateSettings(patch: SettingsPatch): Promise<Settings>;

  /** Scoped API keys (docs/api.md "API keys and scopes"). The secret appears once, in `createKey`'s answer. */
  listKeys(): Promise<ApiKeyInfo[]>;
  createKey(request: CreateApiKeyRequest): Promise<CreatedApiKey>;
  /** Revokes by id (the key's fp6); 404 when unknown. */
  revokeKey(id: string): Promise<ApiKeyInfo>;
  /**
   * The bootstrap admin token, for the Settings view's copy button (so other clients can use the
   * API). The web dashboard answers with the token it logged in with.
   */
  revealAdminToken(): Promise<string>;

  /** Streams one inference through the queen (playground, tray). Abort via `signal`. */
  infer(request: InferenceRequest & { model: string }, onEvent: (event: InferenceEvent) => void, signal?: CancelSignal): Promise<void>;
  /**
   * Streams one chat turn through the OpenAI route (`/v1/chat/completions`), mapped to the same
   * events as `infer` (`started.worker` from `x-rbee-worker`). Optional: over IPC the dashboard sends
   * the same `messages` through `infer`, where the queen applies the same model template.
   */
  /** The desktop app's own settings (only the desktop app has them: absent over HTTP). */
  getDesktopPreferences?(): Promise<DesktopPreferences>;
  /** Validated with the same schema as the store; ports, folder, shortcut and standby apply at the next start. */
  updateDesktopPreferences?(patch: DesktopPreferencesPatch): Promise<DesktopPreferences>;
  chat?(request: ChatRunRequest, onEvent: (event: InferenceEvent) => void, signal?: CancelSignal): Promise<void>;
}

export type { CreateWorkerSpecRequest, ReplaceWorkerSpecRequest, WorkerEntry } from './workerSpecTypes.js';

/** One chat turn as the dashboard sends it: the whole history as `messages` (system first). */
export type ChatRunRequest = Omit<InferenceRequest, 'prompt' | 'messages'> & { model: string; messages: ChatMessage[] };

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** GPU fields (device, gpu_layers, batch_size, flash_attention, kv_cache_type) come from GpuLaunchOptions. */
export interface SpawnWorkerRequest extends GpuLaunchOptions {
  hive_id: string;
  model: string;
  /** Context sequences; defaults to 2. */
  slots?: number;
  /** Defaults to the hive's choice for its machine. */
  threads?: number;
  /** Context size per worker; defaults to 2048 (capped by the model). */
  ctx?: number;
}

export interface DownloadModelRequest {
  hive_id: string;
  /** `hf:<user>/<repo>:<TAG>`, `hf:<user>/<repo>/<file>` or an http(s) URL; a split GGUF downloads as one job. */
  source: string;
  /** Target file name; derived from the source when absent. */
  name?: string;
}

/**
 * `hive_id`: a remote hive; `model`: a file of this machine's models folder (the local hive's
 * catalog); `name`: the file name on the remote, `model` by default. Typed from its one schema.
 */
export type UploadModelRequest = z.input<typeof UploadModelRequestSchema>;

export interface UploadModelStarted {
  /** The `download_id` of the `download_progress` events that report this transfer. */
  upload_id: string;
  bytes_total: number;
}

export interface AddHiveRequest {
  /** A `~/.ssh/config` alias or a host name / IP. */
  host: string;
  port?: number;
  user?: string;
  /** Path to a private key; else the ssh-agent (`SSH_AUTH_SOCK`). */
  key_file?: string;
  /** Name shown in the UI; defaults to the host. */
  name?: string;
  /** SHA256 fingerprint the operator accepted for an unknown host key. */
  trust_fingerprint?: string;
}

export type AddHiveResult =
  | { status: 'added'; hive: HiveInfo; preflight: PreflightReport }
  | { status: 'needs_trust'; fingerprint: string; key_type: string; host: string };

export interface PreflightReport {
  os: string;
  arch: string;
  node_version: string | null;
  node_ok: boolean;
  free_disk_bytes: number | null;
  gpus: Array<{ name: string; memory_total_mb: number }>;
  installed_version: string | null;
  problems: string[];
}

/** The restart policy (one schema: src-shared/policy/RestartPolicyConfig.ts). */
export type RestartPolicySettings = RestartPolicyConfig;

export interface Settings {
  restart_policy: RestartPolicySettings;
  audit_mode: 'disabled' | 'local';
  /** Audit files whose last write is older than this many days are deleted (after a `retention` record). Null: kept forever. */
  audit_retention_days: number | null;
  /** Each chain (folder) is kept under this many bytes by deleting its oldest files. Null: no limit. */
  audit_max_bytes: number | null;
  /** Inference answers 503 AUDIT_UNAVAILABLE while the audit log cannot write. Off by default. */
  audit_fail_closed: boolean;
  queen_port: number;
  hive_port: number;
  /** Fingerprints only; the secret itself is revealed through a separate, audited call. */
  api_token_fingerprint: string;
  /**
   * SHA-256 fingerprint (`AB:CD:…`) of the queen's self-signed TLS certificate when it serves HTTPS
   * (LAN exposure), for clients to pin; absent or null over plain HTTP.
   */
  tls_fingerprint?: string | null;
  models_dir: string;
  /** Host names the API answers to besides loopback and the bound address (DNS-rebinding defence). */
  allowed_hosts: string[];
  /** Browser origins allowed to call the API besides its own; they get CORS headers. */
  allowed_origins: string[];
  /** Model downloads may reach loopback addresses (off by default; applies to hives started afterwards). */
  downloads_allow_loopback: boolean;
  /** Model downloads may reach private LAN addresses (on by default; applies to hives started afterwards). */
  downloads_allow_private: boolean;
}

export type SettingsPatch = Partial<Pick<Settings, 'audit_mode' | 'audit_retention_days' | 'audit_max_bytes' | 'audit_fail_closed' | 'allowed_hosts' | 'allowed_origins' | 'downloads_allow_loopback' | 'downloads_allow_private'>> & {
  restart_policy?: Partial<RestartPolicySettings>;
};
