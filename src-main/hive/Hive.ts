import type { FastifyInstance } from 'fastify';
import type { ClusterSnapshot } from '../../src-shared/cluster/ClusterEvent.js';
import type { DeviceInfo, HiveInfo, ModelInfo } from '../../src-shared/cluster/HiveInfo.js';
import type { HiveEventHub } from './HiveEventHub.js';
import type { HiveMetrics } from './HiveMetrics.js';
import type { WorkerLogs } from './WorkerLogs.js';
import type { ModelCatalog } from './ModelCatalog.js';
import type { ModelDownloader } from './ModelDownloader.js';
import type { WorkerSupervisor } from './WorkerSupervisor.js';

/** A running hive: its HTTP API on `url`, and the same operations in-process. */
export interface Hive {
  readonly id: string;
  readonly url: string;
  /** 0 when the hive listens on a Unix socket. */
  readonly port: number;
  /** The Unix socket the hive listens on (`HiveOptions.socketDir`); null on TCP. */
  readonly socketPath: string | null;
  readonly app: FastifyInstance;
  readonly supervisor: WorkerSupervisor;
  readonly events: HiveEventHub;
  readonly metrics: HiveMetrics;
  readonly catalog: ModelCatalog;
  readonly logs: WorkerLogs;
  readonly downloader: ModelDownloader;
  readonly closing: boolean;
  info(): HiveInfo;
  /** The devices with their memory measured now (the device probe's cached answer plus live RAM / nvidia-smi figures). */
  devices(): Promise<DeviceInfo[]>;
  /** Forgets the probe child's cached answers (devices and memory estimates) and probes again. */
  reprobeDevices(): Promise<DeviceInfo[]>;
  refreshModels(): Promise<ModelInfo[]>;
  /** Removes a model file from the models folder: 404 when unknown, 409 while a worker uses it. */
  deleteModel(name: string, actor: string): Promise<void>;
  snapshot(): ClusterSnapshot;
  /** Asked over HTTP to stop: runs `onShutdownRequested` (or `close`). */
  requestShutdown(): void;
  /** The graceful cascade for every worker (≤ `shutdownTimeoutMs`), then the HTTP server. Idempotent. */
  close(): Promise<void>;
}
