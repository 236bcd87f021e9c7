import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src-shared/audit/AuditEvent.js';
import type { CoalescerTimers } from '../../src-main/audit/AuditCoalescer.js';
import { AuditCoalescer } from '../../src-main/audit/AuditCoalescer.js';
import { createRecordingAuditSink } from '../helpers/recordingAuditSink.js';

/** A manual clock: timers fire only when the test advances time past them. */
function manualClock(): { now: () => number; timers: CoalescerTimers; advance: (ms: number) => void; pending: () => number } {
  let t = 1_000_000;
  let nextId = 0;
  const due = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => t,
    timers: {
      set(fn, ms) {
        const id = ++nextId;
        due.set(id, { at: t + ms, fn });
        return id;
      },
      clear(handle) {
        due.delete(handle as number);
      },
    },
    advance(ms) {
      t += ms;
      for (const [id, timer] of [...due].sort((a, b) => a[1].at - b[1].at)) {
        if (timer.at <= t && due.delete(id)) timer.fn();
      }
    },
    pending: () => due.size,
  };
}

function rejected(n: number, path = '/v1/chat/completions'): AuditEvent {
  return { event_type: 'request_rejected', client_ip: '127.0.0.1', path, reason: 'bad_input', request_id: `r-${n}` };
}

async function settle(): Promise<void> {
  await new Promise((r) => setImmediate(r));
}

describe('AuditCoalescer', () => {
  it('writes the first event of a key at once, counts repeats into one record at window end', async () => {
    const sink = createRecordingAuditSink();
    const clock = manualClock();
    const c = new AuditCoalescer({ audit: sink, windowMs: 1000, now: clock.now, timers: clock.timers });
    for (let i = 0; i < 5; i++) c.offer('ip|bad_input', rejected(i));
    await settle();
    expect(sink.events).toHaveLength(1);
    expect(sink.events[0]?.details).toEqual({ count: 1 });
    expect(sink.events[0]?.request_id).toBe('r-0');
    clock.advance(999);
    await settle();
    expect(sink.events).toHaveLength(1);
    clock.advance(1);
    await settle();
    expect(sink.events).toHaveLength(2);
    expect(sink.events[1]?.details).toEqual({ count: 4, repeats_within_ms: 1000 });
    expect(sink.events[1]?.request_id).toBe('r-4'); // the newest repeat
    expect(c.openKeys).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it('keeps keys apart, and the counts of each key add up to the events offered', async () => {
    const sink = createRecordingAuditSink();
    const clock = manualClock();
    const c = new AuditCoalescer({ audit: sink, windowMs: 1000, now: clock.now, timers: clock.timers });
    for (let i = 0; i < 300; i++) {
      c.offer(i % 3 === 0 ? 'a' : 'b', rejected(i, i % 3 === 0 ? '/a' : '/b'));
      clock.advance(10); // 3 s in all: three windows per key
    }
    c.close();
    await settle();
    const sum = (path: string): number =>
      sink.events.filter((e) => e.path === path).reduce((n, e) => n + Number(e.details?.count ?? 0), 0);
    expect(sum('/a')).toBe(100);
    expect(sum('/b')).toBe(200);
    expect(sink.events.length).toBeLessThanOrEqual(2 * 2 * 4);
  });

  it('a repeat after its window ended but before the timer ran closes the old window first', async () => {
    const sink = createRecordingAuditSink();
    let t = 0;
    const never: CoalescerTimers = { set: () => 0, clear: () => undefined };
    const c = new AuditCoalescer({ audit: sink, windowMs: 100, now: () => t, timers: never });
    c.offer('k', rejected(1));
    c.offer('k', rejected(2));
    t = 150;
    c.offer('k', rejected(3));
    await settle();
    expect(sink.events.map((e) => [e.request_id, e.details?.count])).toEqual([
      ['r-1', 1],
      ['r-2', 1],
      ['r-3', 1],
    ]);
    expect(sink.events[1]?.details?.repeats_within_ms).toBe(100);
  });

  it('close flushes open windows; later offers are written one each; a failing sink is reported, not thrown', async () => {
    const errors: unknown[] = [];
    const clock = manualClock();
    const c = new AuditCoalescer({
      audit: { emit: () => Promise.reject(new Error('disk full')) },
      now: clock.now,
      timers: clock.timers,
      onError: (e) => errors.push(e),
    });
    c.offer('k', rejected(1));
    c.offer('k', rejected(2));
    c.close();
    expect(clock.pending()).toBe(0);
    c.offer('k', rejected(3));
    c.offer('k', rejected(4));
    await settle();
    expect(errors).toHaveLength(4);
  });

  it('past maxKeys, new keys are written uncoalesced rather than dropped', async () => {
    const sink = createRecordingAuditSink();
    const clock = manualClock();
    const c = new AuditCoalescer({ audit: sink, windowMs: 1000, maxKeys: 2, now: clock.now, timers: clock.timers });
    for (const k of ['a', 'b', 'c', 'c']) c.offer(k, rejected(0, `/${k}`));
    await settle();
    expect(sink.events.map((e) => e.path)).toEqual(['/a', '/b', '/c', '/c']);
    expect(c.openKeys).toBe(2);
  });
});
