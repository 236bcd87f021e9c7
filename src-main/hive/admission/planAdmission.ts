import type { DeviceInfo } from '../../../src-shared/cluster/HiveInfo.js';
import type { Device, GpuLayers } from '../../../src-shared/cluster/WorkerInfo.js';
import { pinnedGpuIndex } from '../../../src-shared/worker/gpuOptions.js';
import { RAM } from './DeviceReservations.js';
import type { MemoryNeed, OffloadTable } from './MemoryEstimator.js';

export interface AdmissionInput {
  /** The model's catalog name (for messages). */
  model: string;
  table: OffloadTable;
  /** The hive's devices as last measured, the CPU entry (system RAM) included. */
  devices: readonly DeviceInfo[];
  /** Bytes held for loading spawns on a device id (or RAM). */
  reserved: (device: string) => number;
  /** Bytes kept free on every device for everything else. */
  reserveBytes: number;
  device: Device;
  gpuLayers: GpuLayers;
}

export type AdmissionDecision =
  | { ok: true; gpu: DeviceInfo | null; layers: number; need: MemoryNeed }
  | { ok: false; status: 400 | 507; code: 'INVALID_REQUEST' | 'INSUFFICIENT_MEMORY'; message: string; details: Record<string, number | string> };

const mib = (n: number): string => `${Math.ceil(Math.max(0, n) / 1048576)} MiB`;

/**
 * Admission by estimate (issue 19): pick the device, then the largest layer count whose estimate
 * fits that GPU's free memory and the free RAM together, each minus the reserve and what loading
 * spawns hold. Unpinned, the GPU with the most free memory wins. `auto` offloads partially rather
 * than refuse; 507 only when no layer count fits (or an explicit count / `max` does not).
 */
export function planAdmission(input: AdmissionInput): AdmissionDecision {
  const { table, devices, reserved, reserveBytes } = input;
  const total = table.totalLayers;
  const need = (layers: number): MemoryNeed => table.byLayers[Math.min(layers, table.byLayers.length - 1)] ?? { ram: 0, vram: 0 };
  const cpu = devices.find((d) => d.type === 'cpu');
  const freeRam = (cpu?.memory_free ?? 0) - reserveBytes - reserved(RAM);
  const freeOn = (gpu: DeviceInfo): number => gpu.memory_free - reserveBytes - reserved(gpu.id);
  const fits = (layers: number, freeVram: number): boolean => need(layers).ram <= freeRam && (layers === 0 || need(layers).vram <= freeVram);
  const refuse = (message: string, details: Record<string, number | string>): AdmissionDecision => ({ ok: false, status: 507, code: 'INSUFFICIENT_MEMORY', message, details });
  const where = `'${input.model}'`;

  const cpuOnly = (): AdmissionDecision =>
    fits(0, 0)
      ? { ok: true, gpu: null, layers: 0, need: need(0) }
      : refuse(`Not enough memory for ${where} on the CPU: needs ${mib(need(0).ram)} of RAM, ${mib(freeRam)} free${reserveBytes > 0 ? ` after the ${mib(reserveBytes)} reserve` : ''}`, {
          need_ram_bytes: need(0).ram,
          free_ram_bytes: Math.max(0, freeRam),
        });

  if (input.device === 'cpu' || input.gpuLayers === 0) return cpuOnly();

  const gpus = devices.filter((d) => d.type !== 'cpu');
  const pinned = pinnedGpuIndex(input.device);
  let candidates: DeviceInfo[];
  if (pinned !== null) {
    candidates = gpus.filter((g) => g.id === `gpu${pinned}`);
    if (candidates.length === 0) {
      const have = devices.map((d) => d.id).join(', ') || 'none';
      return { ok: false, status: 400, code: 'INVALID_REQUEST', message: `No device ${input.device} on this hive (devices: ${have})`, details: { device: input.device } };
    }
  } else {
    candidates = gpus;
    if (candidates.length === 0) {
      if (input.device === 'gpu') return { ok: false, status: 400, code: 'INVALID_REQUEST', message: 'device=gpu requested but this hive has no GPU', details: { device: 'gpu' } };
      return cpuOnly();
    }
  }
  const gpu = [...candidates].sort((a, b) => freeOn(b) - freeOn(a))[0] as DeviceInfo;
  const freeVram = freeOn(gpu);

  if (input.gpuLayers === 'max' || typeof input.gpuLayers === 'number') {
    const layers = input.gpuLayers === 'max' ? total : Math.min(input.gpuLayers, total);
    if (fits(layers, freeVram)) return { ok: true, gpu, layers, need: need(layers) };
    return refuse(
      `Not enough memory for ${where} with ${layers} of ${total} layers on ${gpu.id}: needs ${mib(need(layers).vram)} of VRAM (${mib(freeVram)} free) and ${mib(need(layers).ram)} of RAM (${mib(freeRam)} free); gpu_layers=auto would offload what fits`,
      { layers, total_layers: total, need_vram_bytes: need(layers).vram, free_vram_bytes: Math.max(0, freeVram), need_ram_bytes: need(layers).ram, free_ram_bytes: Math.max(0, freeRam), gpu: gpu.id },
    );
  }

  // auto: the largest count that fits. A GPU asked for by name needs at least one layer on it.
  const least = input.device === 'auto' ? 0 : 1;
  for (let layers = total; layers >= least; layers--) {
    if (fits(layers, freeVram)) return { ok: true, gpu: layers > 0 ? gpu : null, layers, need: need(layers) };
  }
  return refuse(
    `Not enough memory for ${where} at any offload on ${gpu.id}: all ${total} layers need ${mib(need(total).vram)} of VRAM (${mib(freeVram)} free); ${least === 0 ? 'CPU only' : 'one layer'} needs ${mib(need(least).ram)} of RAM (${mib(freeRam)} free)`,
    { total_layers: total, need_vram_bytes: need(total).vram, free_vram_bytes: Math.max(0, freeVram), need_ram_bytes: need(least).ram, free_ram_bytes: Math.max(0, freeRam), gpu: gpu.id },
  );
}
