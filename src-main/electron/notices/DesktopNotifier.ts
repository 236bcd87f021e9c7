import type { ControlApi } from '../../../src-shared/control/ControlApi.js';
import { detectNotices, emptyNoticeBaseline, type NoticeBaseline } from '../../../src-shared/notices/detectNotices.js';
import { NoticeThrottle, type ShownNotice } from '../../../src-shared/notices/NoticeThrottle.js';

/** What the notifier needs from Electron's `Notification`: build one, show it. */
export interface NotificationLike {
  show(): void;
}
export type CreateNotification = (options: { title: string; body: string }) => NotificationLike | null;

export interface DesktopNotifierOptions {
  createNotification: CreateNotification;
  /** Read at show time: the operator can switch notices off (settings `notifications`) at any moment. */
  enabled: () => boolean;
  /** Throttle timing (tests inject a clock). Defaults: gather 1.5 s, cooldown 60 s, real timers. */
  gatherMs?: number;
  cooldownMs?: number;
  now?: () => number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  log?: (message: string) => void;
}

/**
 * Desktop notifications for what needs the operator when the dashboard is not in front: a breaker
 * opened, a worker failed (gave up), a hive became unreachable. Transitions only (detectNotices), and a
 * burst is one notification (NoticeThrottle). Subscribes to the same ControlApi stream as the tray.
 */
export class DesktopNotifier {
  private baseline: NoticeBaseline = emptyNoticeBaseline;
  private unsubscribe: (() => void) | null = null;
  private readonly throttle: NoticeThrottle;

  constructor(private readonly options: DesktopNotifierOptions) {
    this.throttle = new NoticeThrottle({
      show: (notice) => this.show(notice),
      ...(options.gatherMs !== undefined ? { gatherMs: options.gatherMs } : {}),
      ...(options.cooldownMs !== undefined ? { cooldownMs: options.cooldownMs } : {}),
      now: options.now ?? Date.now,
      setTimeout: options.setTimeout ?? ((fn, ms) => setTimeout(fn, ms).unref()),
      clearTimeout: options.clearTimeout ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>)),
    });
  }

  attach(control: ControlApi): void {
    this.detach();
    this.unsubscribe = control.subscribe((event) => {
      const { baseline, notices } = detectNotices(this.baseline, event);
      this.baseline = baseline;
      if (!this.options.enabled()) return;
      for (const notice of notices) this.throttle.push(notice);
    });
  }

  detach(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  dispose(): void {
    this.detach();
    this.throttle.dispose();
  }

  private show(notice: ShownNotice): void {
    if (!this.options.enabled()) return;
    try {
      this.options.createNotification({ title: notice.title, body: notice.body })?.show();
    } catch (error) {
      this.options.log?.(`notification failed: ${String(error)}`);
    }
  }
}
