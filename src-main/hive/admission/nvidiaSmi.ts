import { execFile } from 'node:child_process';
import type { DeviceInfo } from '../../../src-shared/cluster/HiveInfo.js';

const MIB = 1024 * 1024;

/** The query HardwareProbe runs; memory figures in MiB, one GPU per line, PCI bus order. */
export const NVIDIA_SMI_ARGS = ['--query-gpu=index,name,memory.total,memory.free', '--format=csv,noheader,nounits'];

/**
 * One DeviceInfo per CUDA GPU from `nvidia-smi` CSV (`0, NVIDIA H200, 143771, 142000`). Device ids
 * `gpu<index>` match CUDA_VISIBLE_DEVICES under CUDA_DEVICE_ORDER=PCI_BUS_ID, which nvidia-smi uses.
 * Lines that do not parse are skipped.
 */
export function parseNvidiaSmi(csv: string): DeviceInfo[] {
  const devices: DeviceInfo[] = [];
  for (const line of csv.split('\n')) {
    const fields = line.split(',').map((f) => f.trim());
    if (fields.length < 4) continue;
    const [index, name, total, free] = [Number(fields[0]), fields.slice(1, -2).join(', '), Number(fields.at(-2)), Number(fields.at(-1))];
    if (!Number.isInteger(index) || index < 0 || !Number.isFinite(total) || !Number.isFinite(free)) continue;
    devices.push({ id: `gpu${index}`, type: 'cuda', name, memory_total: total * MIB, memory_free: free * MIB });
  }
  return devices;
}

/** Per-GPU figures from nvidia-smi, or null where it is missing or fails (then node-llama-cpp's totals are used). */
export function queryNvidiaSmi(timeoutMs = 5_000): Promise<DeviceInfo[] | null> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', NVIDIA_SMI_ARGS, { timeout: timeoutMs }, (error, stdout) => {
      if (error) return resolve(null);
      const devices = parseNvidiaSmi(stdout);
      resolve(devices.length > 0 ? devices : null);
    });
  });
}
