import type { ClusterEvent, ClusterEventBody } from '../../src-shared/cluster/ClusterEvent.js';
import type { HiveInfo, ModelInfo } from '../../src-shared/cluster/HiveInfo.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';

/** Plain cluster values for tests of pure logic (renderer reducers, the queen's scheduler). */
export function hive(patch: Partial<HiveInfo> = {}): HiveInfo {
  return {
    id: 'local',
    kind: 'local',
    state: 'online',
    address: '127.0.0.1:7835',
    version: '0.1.0',
    os: 'linux',
    arch: 'x64',
    node_version: 'v20.20.0',
    devices: [{ id: 'cpu', type: 'cpu', name: 'CPU', memory_total: 8 * 2 ** 30, memory_free: 4 * 2 ** 30 }],
    last_seen: 1_000,
    restart_count: 0,
    message: null,
    ...patch,
  };
}

export function worker(patch: Partial<WorkerInfo> = {}): WorkerInfo {
  return {
    id: 'w1',
    hive: 'local',
    model: 'demo.gguf',
    device: 'cpu',
    state: 'idle',
    pid: 4242,
    port: 40000,
    slots: { total: 2, free: 2 },
    restart_count: 0,
    restart_attempts: 0,
    last_exit: null,
    breaker: { state: 'closed', failures_in_window: 0, opens_until: null },
    next_restart_at: null,
    started_at: 1_000,
    last_heartbeat: 1_000,
    load_progress: 1,
    load_failed: false,
    stopped_by: null,
    gpu: null,
    offload: null,
    vram_bytes: null,
    vram_measured_bytes: null,
    ...patch,
  };
}

export function model(patch: Partial<ModelInfo> = {}): ModelInfo {
  return {
    name: 'demo.gguf',
    hive: 'local',
    size_bytes: 500_000,
    architecture: 'llama',
    quantization: 'F32',
    context_length: 512,
    is_demo: false,
    ...patch,
  };
}

export function ev(body: ClusterEventBody, seq: number, at = 10_000): ClusterEvent {
  return { ...body, seq, at } as ClusterEvent;
}
