import type { OffloadInfo } from '../../../src-shared/cluster/WorkerInfo.js';

/** Where admission put a worker; reused by every restart of it. */
export interface WorkerPlacement {
  /** Device id of the GPU (`gpu0` …); null on the CPU or when the hive did not choose one. */
  gpu: string | null;
  /** Planned offload; null when admission did not estimate (the worker reports it at ready). */
  offload: OffloadInfo | null;
  /** Estimated VRAM (model + context) at that offload; null when unknown. */
  vramBytes: number | null;
  /** Environment that pins the worker to its GPU (see deviceEnvironment); empty when unpinned. */
  env: Record<string, string>;
}

/** No estimate, no pinning: node-llama-cpp decides in the worker (admission skipped). */
export const UNPLACED: WorkerPlacement = { gpu: null, offload: null, vramBytes: null, env: {} };
