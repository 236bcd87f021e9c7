import type { AuditEvent, AuditSink } from '../../src-shared/audit/AuditEvent.js';

/** The timer functions the coalescer uses; tests inject their own with a fake clock. */
export interface CoalescerTimers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface AuditCoalescerOptions {
  audit: AuditSink;
  /** At most one record per key per this window. Defaults to 10 s. */
  windowMs?: number;
  /** Open keys kept at most; past it, new keys are written without coalescing. Defaults to 10,000. */
  maxKeys?: number;
  /** Epoch ms. Defaults to `Date.now`. */
  now?: () => number;
  /** Defaults to `setTimeout` (unref'd) / `clearTimeout`. */
  timers?: CoalescerTimers;
  /** A failed write is told here; the caller of `offer` never waits for or fails on audit. */
  onError?: (error: unknown) => void;
}

interface OpenWindow {
  openedAt: number;
  /** The newest repeat within the window: what the window's closing record carries. */
  latest: AuditEvent | null;
  repeats: number;
  timer: unknown;
}

const NODE_TIMERS: CoalescerTimers = {
  set(callback, ms) {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return timer;
  },
  clear(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

/**
 * Keeps a flood of alike events (auth failures, rejected requests) from flooding the audit log, while
 * every event is still counted:
 * - the first event of a key is written at once with `details.count = 1`;
 * - repeats within `windowMs` are only counted; when the window ends (or at `close`) one record of the
 *   newest repeat is written with `details.count` = the number of repeats and `details.repeats_within_ms`;
 * - a repeat arriving after its window ended, before the window's timer ran, first closes that window.
 * So the `count`s of a key's records always add up to the events offered.
 */
export class AuditCoalescer {
  private readonly windows = new Map<string, OpenWindow>();
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private readonly timers: CoalescerTimers;
  private closed = false;

  constructor(private readonly options: AuditCoalescerOptions) {
    this.windowMs = options.windowMs ?? 10_000;
    this.maxKeys = options.maxKeys ?? 10_000;
    this.now = options.now ?? Date.now;
    this.timers = options.timers ?? NODE_TIMERS;
  }

  /** Open windows (for tests and stats). */
  get openKeys(): number {
    return this.windows.size;
  }

  /** Offers one event under `key`; writes it now or counts it into the key's window. */
  offer(key: string, event: AuditEvent): void {
    const open = this.windows.get(key);
    if (open && !this.closed && this.now() - open.openedAt < this.windowMs) {
      open.repeats += 1;
      open.latest = event;
      return;
    }
    if (open) this.closeWindow(key, open);
    if (!this.closed && this.windows.size < this.maxKeys) {
      const window: OpenWindow = { openedAt: this.now(), latest: null, repeats: 0, timer: null };
      window.timer = this.timers.set(() => this.closeWindow(key, window), this.windowMs);
      this.windows.set(key, window);
    }
    this.write(event, 1, false);
  }

  /** Writes every open window's repeats now. Later offers are written one record each. */
  close(): void {
    this.closed = true;
    for (const [key, window] of [...this.windows]) this.closeWindow(key, window);
  }

  private closeWindow(key: string, window: OpenWindow): void {
    if (this.windows.get(key) !== window) return;
    this.windows.delete(key);
    this.timers.clear(window.timer);
    if (window.repeats > 0 && window.latest) this.write(window.latest, window.repeats, true);
  }

  private write(event: AuditEvent, count: number, repeats: boolean): void {
    const details = { ...event.details, count, ...(repeats ? { repeats_within_ms: this.windowMs } : {}) };
    this.options.audit.emit({ ...event, details }).catch((error: unknown) => this.options.onError?.(error));
  }
}
