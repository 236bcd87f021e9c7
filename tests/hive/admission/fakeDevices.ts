/**
 * Fake device reports and estimate tables: no GPU exists on the build machines, so the GPU is the
 * one boundary these admission tests fake (issue 19). Everything else runs for real.
 */
import type { DeviceInfo } from '../../../src-shared/cluster/HiveInfo.js';
import type { MemoryEstimator, OffloadTable } from '../../../src-main/hive/admission/MemoryEstimator.js';

export const GiB = 1024 ** 3;

export function cpu(freeGiB: number): DeviceInfo {
  return { id: 'cpu', type: 'cpu', name: 'Fake CPU', memory_total: 64 * GiB, memory_free: freeGiB * GiB };
}

export function gpu(index: number, freeGiB: number, type: DeviceInfo['type'] = 'cuda'): DeviceInfo {
  return { id: `gpu${index}`, type, name: `Fake GPU ${index}`, memory_total: 24 * GiB, memory_free: freeGiB * GiB };
}

/**
 * A model of `layers` layers, `layerGiB` each, plus a context that needs `contextGiB` where its
 * layers sit: offloading n layers moves n × layerGiB (and its share of the context) from RAM to VRAM.
 */
export function linearTable(layers: number, layerGiB: number, contextGiB = 0): OffloadTable {
  const byLayers = [];
  for (let n = 0; n <= layers; n++) {
    const onGpu = n / layers;
    byLayers.push({
      vram: Math.round((n * layerGiB + contextGiB * onGpu) * GiB),
      ram: Math.round(((layers - n) * layerGiB + contextGiB * (1 - onGpu)) * GiB),
    });
  }
  return { totalLayers: layers, byLayers };
}

/** An estimator answering one table, after `delayMs` (so concurrent spawns interleave). */
export function fixedEstimator(table: OffloadTable, delayMs = 0): MemoryEstimator & { calls: number } {
  const estimator = {
    calls: 0,
    async offloadTable(): Promise<OffloadTable> {
      estimator.calls += 1;
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      return table;
    },
  };
  return estimator;
}
