export type HiveKind = 'local' | 'remote';
export type HiveState = 'starting' | 'online' | 'unreachable' | 'stopped' | 'failed';

export interface DeviceInfo {
  id: string;
  type: 'cpu' | 'cuda' | 'vulkan' | 'metal';
  name: string;
  /** Bytes; for CPU this is system RAM. */
  memory_total: number;
  memory_free: number;
}

export interface HiveInfo {
  id: string;
  kind: HiveKind;
  state: HiveState;
  /** `127.0.0.1:7835` or `user@host:port` for remote hives. */
  address: string;
  version: string | null;
  os: string | null;
  arch: string | null;
  node_version: string | null;
  devices: DeviceInfo[];
  /** Epoch ms of the last event or health answer. */
  last_seen: number | null;
  /** Restarts of the hive daemon itself by its supervisor (the queen). */
  restart_count: number;
  /** Human-readable reason while unreachable/failed. */
  message: string | null;
}

export interface ModelInfo {
  /** File name, the id used in requests (`model` field). */
  name: string;
  hive: string;
  size_bytes: number;
  architecture: string | null;
  quantization: string | null;
  context_length: number | null;
  /** The generated first-run model (random weights): labelled as a demo in the UI. */
  is_demo: boolean;
}
