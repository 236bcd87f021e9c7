import type { DeviceInfo } from '../../../src-shared/cluster/HiveInfo.js';

export interface DeviceMemoryMonitorOptions {
  /**
   * Measures the devices now (HardwareProbe.devices, or a fake report in tests). `periodic` is true
   * for the timer's reads: those must stay cheap (no probe child).
   */
  read: (context: { periodic: boolean }) => Promise<DeviceInfo[]>;
  /** Called when a refresh finds different figures. */
  onChange?: (devices: DeviceInfo[]) => void;
  /** Periodic refresh; 0 = only on demand. Defaults to 15 s. */
  periodMs?: number;
  onError?: (error: unknown) => void;
  now?: () => number;
}

/**
 * The hive's last measurement of its devices' memory. Refreshed periodically, after every spawn
 * and exit (`refreshSoon`), and before an admission when older than the caller allows (`fresh`).
 * Concurrent refreshes share one measurement.
 */
export class DeviceMemoryMonitor {
  private devices: DeviceInfo[] = [];
  private measuredAt = Number.NEGATIVE_INFINITY;
  private inFlight: Promise<DeviceInfo[]> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly options: DeviceMemoryMonitorOptions) {
    this.now = options.now ?? Date.now;
    const period = options.periodMs ?? 15_000;
    if (period > 0) {
      this.timer = setInterval(() => this.measure(true).catch((error: unknown) => this.options.onError?.(error)), period);
      this.timer.unref();
    }
  }

  /** The last measurement (empty before the first). */
  get current(): DeviceInfo[] {
    return this.devices;
  }

  /** Measures now (joining a measurement already under way). */
  refresh(): Promise<DeviceInfo[]> {
    return this.measure(false);
  }

  private measure(periodic: boolean): Promise<DeviceInfo[]> {
    this.inFlight ??= (async () => {
      try {
        const next = await this.options.read({ periodic });
        this.measuredAt = this.now();
        if (JSON.stringify(next) !== JSON.stringify(this.devices)) {
          this.devices = next;
          this.options.onChange?.(next);
        }
        return this.devices;
      } finally {
        this.inFlight = null;
      }
    })();
    return this.inFlight;
  }

  /** Fire and forget (after a spawn or an exit). */
  refreshSoon(): void {
    this.refresh().catch((error: unknown) => this.options.onError?.(error));
  }

  /** The measurement, refreshed first when older than `maxAgeMs`. */
  async fresh(maxAgeMs: number): Promise<DeviceInfo[]> {
    if (this.now() - this.measuredAt <= maxAgeMs && !this.inFlight) return this.devices;
    return this.refresh();
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
