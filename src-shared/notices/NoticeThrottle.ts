import type { Notice } from './detectNotices.js';

/** One notice as shown: a burst of problems is folded into one. */
export interface ShownNotice {
  title: string;
  body: string;
  notices: Notice[];
}

export interface NoticeThrottleOptions {
  show: (notice: ShownNotice) => void;
  /** How long to gather a burst before showing it. Defaults to 1 500 ms. */
  gatherMs?: number;
  /** Least time between two shown notices; what arrives meanwhile waits and is folded. Defaults to 60 000 ms. */
  cooldownMs?: number;
  now: () => number;
  /** Timers are injected (src-shared has no host globals). */
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (handle: unknown) => void;
}

const TITLE: Record<Notice['kind'], string> = {
  breaker_opened: 'rbee: breaker opened',
  worker_failed: 'rbee: worker failed',
  hive_unreachable: 'rbee: hive unreachable',
};

/** Folds notices into one: the first three messages, then a count. Pure. */
export function foldNotices(notices: readonly Notice[]): ShownNotice {
  if (notices.length === 1) return { title: TITLE[notices[0]!.kind], body: notices[0]!.message, notices: [...notices] };
  const shown = notices.slice(0, 3).map((n) => n.message);
  const more = notices.length - shown.length;
  return { title: `rbee: ${notices.length} problems`, body: [...shown, ...(more > 0 ? [`…and ${more} more.`] : [])].join('\n'), notices: [...notices] };
}

/**
 * Rate limit for notices: a burst (one incident raises several events, several workers fail together)
 * becomes one notice, shown `gatherMs` after its first event; after a notice, nothing else is shown for
 * `cooldownMs`, and what arrives meanwhile is folded into the next one. Timers and clock are injected.
 */
export class NoticeThrottle {
  private pending: Notice[] = [];
  private timer: unknown = null;
  private lastShownAt = Number.NEGATIVE_INFINITY;
  private readonly gatherMs: number;
  private readonly cooldownMs: number;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(private readonly options: NoticeThrottleOptions) {
    this.gatherMs = options.gatherMs ?? 1_500;
    this.cooldownMs = options.cooldownMs ?? 60_000;
    this.now = options.now;
    this.setTimer = options.setTimeout;
    this.clearTimer = options.clearTimeout;
  }

  push(notice: Notice): void {
    // The same problem twice in one burst is told once.
    if (!this.pending.some((n) => n.kind === notice.kind && n.subject === notice.subject)) this.pending.push(notice);
    if (this.timer !== null) return;
    const delay = Math.max(this.gatherMs, this.lastShownAt + this.cooldownMs - this.now());
    this.timer = this.setTimer(() => this.flush(), delay);
  }

  /** Drops what waits (notices switched off, or the app quits). */
  dispose(): void {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.pending = [];
  }

  private flush(): void {
    this.timer = null;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.lastShownAt = this.now();
    this.options.show(foldNotices(batch));
  }
}
