import { ApiError } from '../../../src-shared/api/ApiError.js';
import type { Device, GpuLayers } from '../../../src-shared/cluster/WorkerInfo.js';
import { pinnedGpuIndex } from '../../../src-shared/worker/gpuOptions.js';
import { deviceEnvironment } from './deviceEnvironment.js';
import type { DeviceMemoryMonitor } from './DeviceMemoryMonitor.js';
import { RAM, type DeviceReservations } from './DeviceReservations.js';
import type { EstimateRequest, MemoryEstimator } from './MemoryEstimator.js';
import { planAdmission } from './planAdmission.js';
import { ProbeError } from '../probe/ProbeError.js';
import type { WorkerPlacement } from './WorkerPlacement.js';

export interface AdmitWorkerRequest {
  model: string;
  estimate: EstimateRequest;
  device: Device;
  gpuLayers: GpuLayers;
  estimator: MemoryEstimator;
  monitor: DeviceMemoryMonitor;
  reservations: DeviceReservations;
  reserveBytes: number;
  /** Device figures older than this are measured again first. Defaults to 1 s. */
  maxDeviceAgeMs?: number;
}

export interface Admitted {
  placement: WorkerPlacement;
  /** The layer count the worker is told (admission's choice, never `auto`). */
  gpuLayers: number;
  /** Gives the reservation back (the worker is ready or gone). Idempotent. */
  release: () => void;
}

/**
 * Estimate, measure, decide, reserve. The decision and the reservation happen in one synchronous
 * step after the awaits, so a concurrent spawn always sees this one's reservation.
 */
export async function admitWorker(request: AdmitWorkerRequest): Promise<Admitted> {
  let table;
  try {
    table = await request.estimator.offloadTable(request.estimate);
  } catch (error) {
    // The probe child itself failing (crash, hang, garbage) says nothing about the model: refuse for
    // now, with the reason, rather than guess a size (docs/hive.md "Probe child").
    if (error instanceof ProbeError && error.code !== 'failed') {
      throw new ApiError(503, 'MODEL_UNAVAILABLE', `No memory estimate for '${request.model}': ${error.message}`, { probe_error: error.code });
    }
    throw new ApiError(400, 'INVALID_REQUEST', `Model '${request.model}' cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  const devices = await request.monitor.fresh(request.maxDeviceAgeMs ?? 1_000);
  // ── synchronous from here: plan and reserve together ──
  const decision = planAdmission({
    model: request.model,
    table,
    devices,
    reserved: (id) => request.reservations.reserved(id),
    reserveBytes: request.reserveBytes,
    device: request.device,
    gpuLayers: request.gpuLayers,
  });
  if (!decision.ok) throw new ApiError(decision.status, decision.code, decision.message, decision.details);
  const { gpu, layers, need } = decision;
  const gpuCount = devices.filter((d) => d.type !== 'cpu').length;
  const index = gpu ? pinnedGpuIndex(gpu.id as Device) : null;
  // Pin when asked for one GPU, or when there is a choice to make on this machine.
  const pin = gpu !== null && index !== null && (pinnedGpuIndex(request.device) !== null || gpuCount > 1);
  const release = request.reservations.hold(gpu ? { [RAM]: need.ram, [gpu.id]: need.vram } : { [RAM]: need.ram });
  return {
    placement: {
      gpu: gpu?.id ?? null,
      offload: { layers, total: table.totalLayers },
      vramBytes: gpu ? need.vram : 0,
      env: pin ? deviceEnvironment(gpu.type, index) : {},
    },
    gpuLayers: layers,
    release,
  };
}
