import type { KvCacheType } from '../../../src-shared/cluster/WorkerInfo.js';

/** What a worker needs at one offload: bytes of RAM and of VRAM (model + context). */
export interface MemoryNeed {
  ram: number;
  vram: number;
}

/**
 * The memory a model needs at every layer count, from 0 (CPU only) to `totalLayers` (all on the GPU):
 * `byLayers[n]` is the need with n layers offloaded. Admission searches it for the largest n that fits.
 */
export interface OffloadTable {
  totalLayers: number;
  byLayers: MemoryNeed[];
}

export interface EstimateRequest {
  modelPath: string;
  ctx: number;
  slots: number;
  batchSize?: number;
  flashAttention?: boolean;
  kvCacheType?: KvCacheType;
}

/**
 * Estimates memory per layer count. The hive's implementation today is `HardwareProbe`, which loads
 * node-llama-cpp in-process (docs/gpu.md "Known gaps": a short-lived probe child is the plan and would
 * replace it behind this interface); tests inject tables.
 */
export interface MemoryEstimator {
  offloadTable(request: EstimateRequest): Promise<OffloadTable>;
}
