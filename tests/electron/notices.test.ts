import { describe, expect, it } from 'vitest';
import { detectNotices, emptyNoticeBaseline } from '../../src-shared/notices/detectNotices.js';
import { NoticeThrottle, type ShownNotice } from '../../src-shared/notices/NoticeThrottle.js';
import { DesktopNotifier } from '../../src-main/electron/notices/DesktopNotifier.js';
import { fakeControl, fakeNotifications, hive, snapshot, worker } from './fakes.js';

/** A clock and timers the test moves by hand. */
function manualClock() {
  let now = 1_000_000;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let id = 0;
  return {
    now: () => now,
    setTimeout: (fn: () => void, ms: number) => (timers.set(++id, { at: now + ms, fn }), id),
    clearTimeout: (h: unknown) => void timers.delete(h as number),
    advance(ms: number) {
      now += ms;
      for (const [k, t] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at > now) continue;
        timers.delete(k);
        t.fn();
      }
    },
  };
}

const openBreaker = (w: ReturnType<typeof worker>, failures: number) => ({ ...w, breaker: { state: 'open' as const, failures_in_window: failures, opens_until: 2_000_000 } });

describe('desktop notices (fake Electron Notification)', () => {
  it('a breaker opening raises one notification, not one per event', () => {
    const clock = manualClock();
    const fake = fakeControl(snapshot([hive('local')], [worker('w1', 'idle')]));
    const notifications = fakeNotifications();
    const notifier = new DesktopNotifier({ createNotification: notifications.createNotification, enabled: () => true, ...clock });
    notifier.attach(fake.control);

    // The incident as the hive reports it: crash, backoff with the breaker open, countdown updates,
    // more updates while it stays open.
    const w1 = worker('w1', 'crashed');
    fake.emit({ type: 'worker_updated', worker: { ...w1, breaker: { state: 'closed', failures_in_window: 4, opens_until: null } } });
    fake.emit({ type: 'worker_updated', worker: openBreaker({ ...w1, state: 'backoff' }, 5) });
    for (let i = 0; i < 5; i++) fake.emit({ type: 'worker_updated', worker: openBreaker({ ...w1, state: 'backoff', last_heartbeat: i }, 5) });
    expect(notifications.shown).toHaveLength(0); // gathered first
    clock.advance(1_500);
    expect(notifications.shown).toEqual([{ title: 'rbee: breaker opened', body: expect.stringContaining('Breaker opened for w1 (rbee-demo-tiny.gguf) on local: 5 failures') }]);
    clock.advance(120_000);
    expect(notifications.shown).toHaveLength(1);
    notifier.dispose();
  });

  it('a burst of problems is one notification; later ones wait for the cooldown and fold together; a snapshot announces nothing', () => {
    const clock = manualClock();
    const fake = fakeControl(snapshot([hive('local'), hive('gpu1', 'online', 'remote')], [worker('w1', 'idle'), openBreaker(worker('w9', 'backoff'), 5)]));
    const notifications = fakeNotifications();
    const notifier = new DesktopNotifier({ createNotification: notifications.createNotification, enabled: () => true, ...clock });
    notifier.attach(fake.control); // w9's breaker was already open: not news
    fake.emit({ type: 'worker_updated', worker: openBreaker(worker('w9', 'backoff'), 6) });
    fake.emit({ type: 'worker_updated', worker: worker('w1', 'failed') });
    fake.emit({ type: 'hive_updated', hive: { ...hive('gpu1', 'unreachable', 'remote'), message: 'ssh: connection timed out' } });
    clock.advance(1_500);
    expect(notifications.shown).toHaveLength(1);
    expect(notifications.shown[0]!.title).toBe('rbee: 2 problems');
    expect(notifications.shown[0]!.body).toContain('Worker w1 (rbee-demo-tiny.gguf) on local failed');
    expect(notifications.shown[0]!.body).toContain('Hive gpu1 is unreachable: ssh: connection timed out');

    // Within the cooldown: held, then one notice for both.
    fake.emit({ type: 'hive_updated', hive: hive('gpu1', 'online', 'remote') });
    fake.emit({ type: 'hive_updated', hive: hive('gpu1', 'unreachable', 'remote') });
    fake.emit({ type: 'worker_updated', worker: openBreaker(worker('w1', 'backoff'), 5) });
    clock.advance(30_000);
    expect(notifications.shown).toHaveLength(1);
    clock.advance(30_000);
    expect(notifications.shown).toHaveLength(2);
    expect(notifications.shown[1]!.title).toBe('rbee: 2 problems');
    notifier.dispose();
  });

  it('switched off (settings `notifications: false`), nothing is shown', () => {
    const clock = manualClock();
    let enabled = false;
    const fake = fakeControl();
    const notifications = fakeNotifications();
    const notifier = new DesktopNotifier({ createNotification: notifications.createNotification, enabled: () => enabled, ...clock });
    notifier.attach(fake.control);
    fake.emit({ type: 'worker_updated', worker: worker('w1', 'failed') });
    clock.advance(100_000);
    expect(notifications.shown).toHaveLength(0);
    enabled = true;
    fake.emit({ type: 'hive_updated', hive: hive('local', 'unreachable') });
    clock.advance(2_000);
    expect(notifications.shown).toHaveLength(1);
    notifier.dispose();
  });
});

describe('notice detection and throttle (pure)', () => {
  it('removal forgets a worker, so its next failure is news again', () => {
    let b = detectNotices(emptyNoticeBaseline, { type: 'snapshot', snapshot: snapshot([hive('local')], [worker('w1', 'failed')]), seq: 1, at: 0 }).baseline;
    expect(detectNotices(b, { type: 'worker_updated', worker: worker('w1', 'failed'), seq: 2, at: 0 }).notices).toEqual([]);
    b = detectNotices(b, { type: 'worker_removed', hive_id: 'local', worker_id: 'w1', seq: 3, at: 0 }).baseline;
    expect(detectNotices(b, { type: 'worker_updated', worker: worker('w1', 'failed'), seq: 4, at: 0 }).notices.map((n) => n.kind)).toEqual(['worker_failed']);
  });

  it('the same problem twice in one burst is told once', () => {
    const clock = manualClock();
    const shown: ShownNotice[] = [];
    const t = new NoticeThrottle({ show: (n) => shown.push(n), ...clock });
    t.push({ kind: 'hive_unreachable', subject: 'gpu1', message: 'a' });
    t.push({ kind: 'hive_unreachable', subject: 'gpu1', message: 'b' });
    clock.advance(1_500);
    expect(shown).toEqual([{ title: 'rbee: hive unreachable', body: 'a', notices: [{ kind: 'hive_unreachable', subject: 'gpu1', message: 'a' }] }]);
  });
});
