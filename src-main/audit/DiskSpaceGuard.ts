import { statfs } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { AuditIoError, AuditLowDiskError } from '../../src-shared/audit/AuditErrors.js';

export interface DiskSpaceGuardOptions {
  dir: string;
  /** Writes are refused while free space is below this. */
  minFreeBytes: number;
  /** Free bytes available in `dir`. Defaults to `statfs` (`bavail * bsize`). */
  probe?: (dir: string) => Promise<number>;
  /** Probed at most this often (and after writing a quarter of `minFreeBytes`). */
  probeIntervalMs: number;
  /** Epoch ms, for `since`. */
  clock: () => number;
  onError: (error: Error) => void;
  /** Told when free space falls below the margin (the writer turns degraded). */
  onLow?: (error: AuditLowDiskError) => void;
}

/** While low: since when, the last free figure, how many events were refused. */
export interface LowDiskState {
  since: string;
  free: number;
  refused: number;
}

function statfsProbe(dir: string): Promise<number> {
  return statfs(dir).then((s) => s.bavail * s.bsize);
}

/**
 * Watches the audit folder's free space: one probe at a time, at most every `probeIntervalMs` or
 * after a quarter of the margin was written. Below `minFreeBytes` it turns `low` (told once through
 * `onError`); the log then refuses new events until a later probe finds room again.
 */
export class DiskSpaceGuard {
  low: LowDiskState | null = null;
  private lastProbeAt = -Infinity;
  private lastFree = Number.POSITIVE_INFINITY;
  private bytesSinceProbe = 0;
  private probing: Promise<number> | null = null;
  private readonly probe: (dir: string) => Promise<number>;

  constructor(private readonly options: DiskSpaceGuardOptions) {
    this.probe = options.probe ?? statfsProbe;
  }

  get minFreeBytes(): number {
    return this.options.minFreeBytes;
  }

  /** The last figure, or a fresh one when a probe is running or due. */
  async currentFree(): Promise<number> {
    if (this.probing || performance.now() - this.lastProbeAt >= this.options.probeIntervalMs) return this.probeFree();
    return this.lastFree;
  }

  /** Before a batch is written: probe when due by time or by bytes written. */
  async probeIfDue(): Promise<void> {
    if (performance.now() - this.lastProbeAt >= this.options.probeIntervalMs || this.bytesSinceProbe >= this.options.minFreeBytes / 4) {
      await this.probeFree();
    }
  }

  wrote(bytes: number): void {
    this.bytesSinceProbe += bytes;
  }

  /** Leaves the low state; returns what it was (for the `audit_writes_resumed` record). */
  recover(): LowDiskState | null {
    const was = this.low;
    this.low = null;
    return was;
  }

  /** One probe at a time; a failing probe counts as "enough space" (reported, not fatal). */
  probeFree(): Promise<number> {
    if (!this.probing) {
      const { dir, minFreeBytes } = this.options;
      this.probing = this.probe(dir)
        .catch((error: unknown) => {
          this.options.onError(new AuditIoError(`audit free-space probe failed in ${dir}`, error));
          return Number.POSITIVE_INFINITY;
        })
        .then((free) => {
          this.lastProbeAt = performance.now();
          this.lastFree = free;
          this.bytesSinceProbe = 0;
          if (free < minFreeBytes) {
            if (this.low) this.low.free = free;
            else {
              this.low = { since: new Date(this.options.clock()).toISOString(), free, refused: 0 };
              const error = new AuditLowDiskError(dir, free, minFreeBytes);
              this.options.onLow?.(error);
              this.options.onError(error);
            }
          }
          return free;
        })
        .finally(() => {
          this.probing = null;
        });
    }
    return this.probing;
  }
}
