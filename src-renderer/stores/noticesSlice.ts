import type { StateCreator } from 'zustand';
import type { ClusterEvent } from '../../src-shared/cluster/ClusterEvent.js';
import { detectNotices, emptyNoticeBaseline, type NoticeBaseline } from '../../src-shared/notices/detectNotices.js';
import { NoticeThrottle, type ShownNotice } from '../../src-shared/notices/NoticeThrottle.js';
import type { RbeeState } from './store.js';

export interface Toast extends ShownNotice {
  id: number;
}

export interface NoticesSlice {
  /** Shown toasts, newest last (at most 3). */
  toasts: Toast[];
  /** The web's switch (the desktop app has its own setting and native notifications). */
  noticesEnabled: boolean;
  applyNoticeEvent: (event: ClusterEvent) => void;
  dismissToast: (id: number) => void;
  setNoticesEnabled: (enabled: boolean) => void;
}

const STORAGE_KEY = 'rbee.notices';
const MAX_TOASTS = 3;

function storedEnabled(): boolean {
  try {
    return typeof localStorage === 'undefined' || localStorage.getItem(STORAGE_KEY) !== 'off';
  } catch {
    return true;
  }
}

/**
 * Toasts in the dashboard for the same transitions the desktop app notifies about (breaker opened,
 * worker failed, hive unreachable), with the same rate limit: one toast per burst, then a cooldown.
 */
export const createNoticesSlice: StateCreator<RbeeState, [], [], NoticesSlice> = (set, get) => {
  let baseline: NoticeBaseline = emptyNoticeBaseline;
  let nextId = 0;
  const throttle = new NoticeThrottle({
    show: (notice) => {
      if (!get().noticesEnabled) return;
      set((s) => ({ toasts: [...s.toasts, { ...notice, id: ++nextId }].slice(-MAX_TOASTS) }));
    },
    now: () => Date.now(),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  });
  return {
    toasts: [],
    noticesEnabled: storedEnabled(),
    applyNoticeEvent: (event) => {
      const result = detectNotices(baseline, event);
      baseline = result.baseline;
      if (!get().noticesEnabled) return;
      for (const notice of result.notices) throttle.push(notice);
    },
    dismissToast: (id) => set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) })),
    setNoticesEnabled: (enabled) => {
      try {
        localStorage.setItem(STORAGE_KEY, enabled ? 'on' : 'off');
      } catch {
        // no storage: the switch holds for this session
      }
      if (!enabled) throttle.dispose();
      set({ noticesEnabled: enabled, ...(enabled ? {} : { toasts: [] }) });
    },
  };
};
