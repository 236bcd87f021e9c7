import type { EstimateRequest, OffloadTable } from '../../../src-shared/hive/probeWire.js';

// The shapes are the probe child's wire types (one zod source, src-shared/hive/probeWire.ts).
export type { EstimateRequest, MemoryNeed, OffloadTable } from '../../../src-shared/hive/probeWire.js';

/**
 * Estimates memory per layer count. The hive's implementation is `HardwareProbe`, which asks a
 * short-lived probe child (node-llama-cpp's GGUF insights run there, never in the hive) and caches
 * the answer per model file and sizing; tests inject tables.
 */
export interface MemoryEstimator {
  offloadTable(request: EstimateRequest): Promise<OffloadTable>;
}
