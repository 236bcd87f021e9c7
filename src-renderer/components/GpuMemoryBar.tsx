import type { DeviceInfo } from '../../src-shared/cluster/HiveInfo.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import { formatBytes } from '../lib/format.js';

/** A worker's VRAM as shown: what it measured at load, else admission's estimate. */
export function workerVram(w: WorkerInfo): number {
  return w.vram_measured_bytes ?? w.vram_bytes ?? 0;
}

/**
 * One GPU's memory as a stacked bar: a segment per worker placed on it (its VRAM), then the rest of
 * the used memory (other processes), then free. The bar is an image with a text equivalent; the
 * legend below names each worker with its figure and offload.
 */
export function GpuMemoryBar({ device, workers }: { device: DeviceInfo; workers: readonly WorkerInfo[] }) {
  const total = device.memory_total || 1;
  const used = Math.max(0, device.memory_total - device.memory_free);
  const placed = workers.filter((w) => w.gpu === device.id && workerVram(w) > 0);
  const ours = placed.reduce((sum, w) => sum + workerVram(w), 0);
  const other = Math.max(0, used - ours);
  const pct = (n: number): string => `${Math.min(100, (n / total) * 100).toFixed(2)}%`;
  const label = [
    `VRAM on ${device.name}:`,
    ...placed.map((w) => `${w.id} ${formatBytes(workerVram(w))}`),
    `other ${formatBytes(other)}`,
    `free ${formatBytes(device.memory_free)} of ${formatBytes(device.memory_total)}`,
  ].join(' ');
  return (
    <div className="gpu-memory" data-device-id={device.id}>
      <div className="vram-stack" role="img" aria-label={label}>
        {placed.map((w, i) => (
          <span key={w.id} className={`vram-seg vram-seg-${i % 3}`} style={{ width: pct(workerVram(w)) }} data-worker-id={w.id} />
        ))}
        <span className="vram-seg vram-other" style={{ width: pct(other) }} />
      </div>
      {placed.length > 0 ? (
        <ul className="vram-legend">
          {placed.map((w, i) => (
            <li key={w.id}>
              <span className={`vram-key vram-seg-${i % 3}`} aria-hidden="true" /> {w.id}: {formatBytes(workerVram(w))}
              {w.vram_measured_bytes === null ? ' (estimate)' : ''}
              {w.offload ? `, ${w.offload.layers}/${w.offload.total} layers` : ''}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
