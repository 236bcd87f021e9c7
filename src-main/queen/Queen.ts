import type { ControlApi } from '../../src-shared/control/ControlApi.js';
import type { PoolKeyStore } from './pools/PoolKeyStore.js';
import type { WorkerSpecStore } from './specs/WorkerSpecStore.js';

/**
 * The queen as its hosts see it: the Electron main process and `rbee queen` both create one with
 * `createQueen(options)` (src-main/queen/createQueen.ts) and talk to it through `control`.
 */
export interface Queen {
  /** `http://127.0.0.1:<port>` of the public API (OpenAI routes, control API, `/ui`). */
  readonly url: string;
  readonly port: number;
  /** SHA-256 fingerprint of the TLS certificate clients pin, when the queen serves HTTPS (`tls`); else null. */
  readonly tlsFingerprint: string | null;
  /** The in-process ControlApi: the same operations the HTTP control API carries. */
  readonly control: ControlApi;
  /** PID of the local hive daemon the queen supervises (null while it is down or disabled). */
  localHivePid?(): number | null;
  /** Stops local hives and workers with the graceful cascade; remote hives keep serving unless `stopRemote`. */
  close(options?: { stopRemote?: boolean }): Promise<void>;
}

export interface QueenOptions {
  /** Defaults to 7833; 0 picks a free port. */
  port?: number;
  /** Defaults to 127.0.0.1. Non-loopback requires a token of ≥ 16 characters. */
  host?: string;
  /**
   * Serve HTTPS with a self-signed certificate kept in `<dataDir>/tls` (made once with openssl; its
   * fingerprint is `Queen.tlsFingerprint`, for LAN clients to pin). Defaults to false.
   */
  tls?: boolean;
  /** Bearer token of the public API (admin). Defaults to the one in `<dataDir>/api-token`, generated on first start. */
  apiToken?: string;
  /** Host names the API answers to besides loopback and the bound address (`--allowed-host`). */
  allowedHosts?: readonly string[];
  /** Browser origins allowed to call the API besides its own (`--allowed-origin`); they get CORS headers. */
  allowedOrigins?: readonly string[];
  /** Folder for settings, models, audit log. */
  dataDir: string;
  /** The local hive's models folder. Defaults to `<dataDir>/models`. */
  modelsDir?: string;
  /** The local hive's loopback port. Defaults to 0 (ephemeral; several queens can run side by side). */
  hivePort?: number;
  /** Generate the demo model and start a worker for it. Defaults to false. */
  demo?: boolean;
  /** Where declared worker specs live. Defaults to `<dataDir>/worker-specs.json`; the desktop app passes its settings store. */
  workerSpecStore?: WorkerSpecStore;
  /** Where pool API keys are kept. Defaults to 0600 files in `<dataDir>/pool-keys`; the desktop app passes a safeStorage-sealed store. */
  poolKeyStore?: PoolKeyStore;
  /** Start and supervise the local hive daemon. Defaults to true. */
  localHive?: boolean;
  /** Pre-started worker processes the local hive keeps warm (`rbee hive --standby`). Defaults to the hive's (1). */
  localHiveStandby?: number;
  /** Audit mode for the queen and its local hive. Defaults to 'disabled'. */
  auditMode?: 'disabled' | 'local';
  /** The audit root (`--audit-dir`, else `LLORCH_AUDIT_DIR`): the queen's chain and its local hive's go under it. Defaults to `<dataDir>/audit`. */
  auditDir?: string;
  /**
   * The audit sealing key file (`--audit-key-file`, else `LLORCH_AUDIT_KEY_FILE`): 0400, outside the
   * audit folder. The queen's records carry its MAC; the local hive and its workers get the same file.
   */
  auditKeyFile?: string;
  /** How often the queen exchanges audit heads with each hive (cross-witnessing). Defaults to 60 s; 0: only at connect, disconnect and shutdown. */
  auditWitnessIntervalMs?: number;
  /** Where the built dashboard lives, served at /ui. Defaults to `<project>/out/renderer`. */
  uiDir?: string;
}
