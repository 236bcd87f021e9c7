import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src-shared/api/ApiError.js';
import { Deadline } from '../../src-shared/deadline/Deadline.js';
import { ConcurrencyGate } from '../../src-main/queen/pools/ConcurrencyGate.js';
import { DeadlineQueue, type QueueClock } from '../../src-main/queen/scheduling/DeadlineQueue.js';
import { outcome } from '../helpers/outcome.js';

/**
 * The queen's one waiting room (the scheduler's worker queue and every pool's queue), on a fake clock
 * that only moves when the test says so: no processes, no sockets, no wall clock.
 */
class FakeClock implements QueueClock {
  private t = 1_000_000;
  private timers: Array<{ at: number; fn: () => void; seq: number }> = [];
  private seq = 0;

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + ms, fn, seq: this.seq++ };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward, firing due timers in order (each at its own instant). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }

  deadline(ms: number): Deadline {
    return Deadline.in(ms, () => this.t);
  }
}

/** Lets settled promises run their callbacks (the fake clock fires timers synchronously). */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function queue(clock: FakeClock, limit = 8): DeadlineQueue<string, string> {
  return new DeadlineQueue<string, string>({
    limit,
    clock,
    fullMessage: (waiting) => `full with ${waiting}`,
    expiredMessage: (name) => `${name} expired`,
  });
}

/** Grants every waiter its own name: what the queue hands out is the owner's business. */
const grantAll = (name: string) => ({ kind: 'grant' as const, value: name });

describe('DeadlineQueue', () => {
  it('serves earliest deadline first, equal deadlines in arrival order', async () => {
    const clock = new FakeClock();
    const q = queue(clock);
    const order: string[] = [];
    for (const [name, ms] of [['late', 9_000], ['early', 3_000], ['tie-1', 5_000], ['tie-2', 5_000], ['mid', 4_000]] as const) {
      void q.enqueue(name, clock.now() + ms).then((v) => order.push(v));
    }
    expect(q.length).toBe(5);
    q.serve(grantAll);
    await flush();
    expect(order).toEqual(['early', 'mid', 'tie-1', 'tie-2', 'late']);
    expect(q.length).toBe(0);
    expect(clock.pendingTimers).toBe(0); // every deadline timer was cleared on the grant
  });

  it('serve offers in deadline order and may grant some, keep some, reject some', async () => {
    const clock = new FakeClock();
    const q = queue(clock);
    const a = outcome(q.enqueue('a', clock.now() + 1_000));
    const b = outcome(q.enqueue('b', clock.now() + 2_000));
    const c = outcome(q.enqueue('c', clock.now() + 3_000));
    const offered: string[] = [];
    let places = 1;
    q.serve((name) => {
      offered.push(name);
      if (name === 'c') return { kind: 'reject', error: new ApiError(503, 'MODEL_UNAVAILABLE', 'gone') };
      if (places > 0) {
        places -= 1;
        return { kind: 'grant', value: `${name}!` };
      }
      return { kind: 'keep' };
    });
    await flush();
    expect(offered).toEqual(['a', 'b', 'c']);
    expect(a.value).toBe('a!');
    expect(b.settled).toBe(false);
    expect(c.error).toMatchObject({ status: 503, code: 'MODEL_UNAVAILABLE' });
    expect(q.length).toBe(1);
    q.serve(grantAll);
    await flush();
    expect(b.value).toBe('b');
  });

  it('a waiter gets 504 DEADLINE_EXCEEDED exactly at its deadline: pending at t+999, gone at t+1000', async () => {
    const clock = new FakeClock();
    const q = queue(clock);
    const waiting = outcome(q.enqueue('m', clock.now() + 1_000));
    clock.advance(999);
    await flush();
    expect(waiting.settled).toBe(false);
    expect(q.length).toBe(1);
    clock.advance(1);
    await flush();
    expect(waiting.error).toBeInstanceOf(ApiError);
    expect(waiting.error).toMatchObject({ status: 504, code: 'DEADLINE_EXCEEDED', message: 'm expired' });
    expect(q.length).toBe(0);
    // Serving afterwards offers nothing to the expired waiter.
    const offered: string[] = [];
    q.serve((name) => (offered.push(name), { kind: 'keep' }));
    expect(offered).toEqual([]);
  });

  it('a grant at t+999 wins, and the deadline passing later changes nothing', async () => {
    const clock = new FakeClock();
    const q = queue(clock);
    const waiting = outcome(q.enqueue('m', clock.now() + 1_000));
    clock.advance(999);
    q.serve(grantAll);
    clock.advance(10_000);
    await flush();
    expect(waiting.value).toBe('m');
    expect(waiting.error).toBeUndefined();
  });

  it('bounded: one past the limit is refused at once with 503 QUEUE_FULL and Retry-After; the others keep waiting', async () => {
    const clock = new FakeClock();
    const q = queue(clock, 2);
    const a = outcome(q.enqueue('a', clock.now() + 10_000));
    const b = outcome(q.enqueue('b', clock.now() + 10_000));
    const refused = await q.enqueue('c', clock.now() + 1_000).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 503, code: 'QUEUE_FULL', message: 'full with 2', headers: { 'retry-after': '1' } });
    expect(q.length).toBe(2);
    q.serve(grantAll);
    await flush();
    expect([a.value, b.value]).toEqual(['a', 'b']);
    // Room again: the next one waits instead of being refused.
    const d = outcome(q.enqueue('d', clock.now() + 1_000));
    await flush();
    expect(d.settled).toBe(false);
    expect(q.length).toBe(1);
  });

  it('a limit of 0 never lets anyone wait', async () => {
    const clock = new FakeClock();
    await expect(queue(clock, 0).enqueue('a', clock.now() + 1_000)).rejects.toMatchObject({ code: 'QUEUE_FULL' });
  });

  it('a deadline already past on arrival is 504 at once, without queueing (before the queue-full check)', async () => {
    const clock = new FakeClock();
    const q = queue(clock, 0);
    await expect(q.enqueue('late', clock.now())).rejects.toMatchObject({ status: 504, code: 'DEADLINE_EXCEEDED' });
    expect(q.length).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a client that goes away gets 499 and leaves the queue; one already gone never joins', async () => {
    const clock = new FakeClock();
    const q = queue(clock);
    const client = new AbortController();
    const waiting = outcome(q.enqueue('m', clock.now() + 10_000, client.signal));
    expect(q.length).toBe(1);
    client.abort();
    await flush();
    expect(waiting.error).toMatchObject({ status: 499 });
    expect(q.length).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    await expect(q.enqueue('m', clock.now() + 10_000, client.signal)).rejects.toMatchObject({ status: 499 });
    expect(q.length).toBe(0);
  });

  it('close answers every waiter and every later arrival with its error', async () => {
    const clock = new FakeClock();
    const q = queue(clock);
    const waiting = [outcome(q.enqueue('a', clock.now() + 10_000)), outcome(q.enqueue('b', clock.now() + 20_000))];
    const shutdown = new ApiError(503, 'SHUTTING_DOWN', 'bye');
    q.close(shutdown);
    q.close(new ApiError(500, 'INTERNAL', 'second close ignored'));
    await flush();
    for (const w of waiting) expect(w.error).toBe(shutdown);
    expect(q.length).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    await expect(q.enqueue('c', clock.now() + 1_000)).rejects.toBe(shutdown);
  });

  it('a waiter that leaves while the queue is being served is not offered anything', async () => {
    const clock = new FakeClock();
    const q = queue(clock);
    const second = new AbortController();
    const a = outcome(q.enqueue('a', clock.now() + 1_000));
    const b = outcome(q.enqueue('b', clock.now() + 2_000, second.signal));
    const offered: string[] = [];
    q.serve((name) => {
      offered.push(name);
      second.abort(); // b's client leaves while a is being granted
      return { kind: 'grant', value: name };
    });
    await flush();
    expect(offered).toEqual(['a']);
    expect(a.value).toBe('a');
    expect(b.error).toMatchObject({ status: 499 });
  });
});

describe('ConcurrencyGate (a pool): the bound on the shared queue', () => {
  it('max 1: the second waits and gets the place when the first releases; the third over the queue limit gets 503 QUEUE_FULL', async () => {
    const clock = new FakeClock();
    const gate = new ConcurrencyGate(1, 1, 'pool p', clock);
    const signal = new AbortController().signal;
    const first = await gate.acquire(clock.deadline(60_000), signal);
    expect(gate.inFlight).toBe(1);
    const second = outcome(gate.acquire(clock.deadline(60_000), signal));
    expect(gate.queued).toBe(1);
    const third = await gate.acquire(clock.deadline(60_000), signal).catch((e: unknown) => e);
    expect(third).toMatchObject({ status: 503, code: 'QUEUE_FULL', message: 'pool p: 1 requests in flight and 1 waiting', headers: { 'retry-after': '1' } });
    await flush();
    expect(second.settled).toBe(false);
    first();
    first(); // idempotent: the second call frees nothing
    await flush();
    expect(second.value).toBeTypeOf('function');
    expect(gate.inFlight).toBe(1);
    expect(gate.queued).toBe(0);
    second.value!();
    expect(gate.inFlight).toBe(0);
  });

  it('a freed place goes to the earliest deadline waiting, whenever it arrived', async () => {
    const clock = new FakeClock();
    const gate = new ConcurrencyGate(1, 4, 'pool p', clock);
    const signal = new AbortController().signal;
    const held = await gate.acquire(clock.deadline(60_000), signal);
    const order: string[] = [];
    const wait = (name: string, ms: number): Promise<void> =>
      gate.acquire(clock.deadline(ms), signal).then((release) => {
        order.push(name);
        release();
      });
    const all = Promise.all([wait('late', 30_000), wait('early', 5_000)]);
    held();
    // The place went to `early` at once; one arriving now with a nearer deadline than `late` goes before it.
    expect(gate.queued).toBe(1);
    const newcomer = wait('newcomer', 1_000);
    expect(gate.queued).toBe(2);
    await Promise.all([all, newcomer]);
    expect(order).toEqual(['early', 'newcomer', 'late']);
    expect(gate.inFlight).toBe(0);
  });

  it('a waiter whose deadline passes gets 504 and does not take the place freed later', async () => {
    const clock = new FakeClock();
    const gate = new ConcurrencyGate(1, 4, 'pool p', clock);
    const signal = new AbortController().signal;
    const held = await gate.acquire(clock.deadline(60_000), signal);
    const waiting = outcome(gate.acquire(clock.deadline(1_000), signal));
    clock.advance(1_000);
    await flush();
    expect(waiting.error).toMatchObject({ status: 504, code: 'DEADLINE_EXCEEDED', message: 'The deadline passed while waiting for a free place at pool p' });
    held();
    expect(gate.inFlight).toBe(0);
    expect(gate.queued).toBe(0);
  });

  it('close (pool removed or replaced) answers its waiters with 503 SHUTTING_DOWN; places in flight still release', async () => {
    const clock = new FakeClock();
    const gate = new ConcurrencyGate(1, 4, 'pool p', clock);
    const signal = new AbortController().signal;
    const held = await gate.acquire(clock.deadline(60_000), signal);
    const waiting = outcome(gate.acquire(clock.deadline(60_000), signal));
    gate.close();
    await flush();
    expect(waiting.error).toMatchObject({ status: 503, code: 'SHUTTING_DOWN' });
    held();
    expect(gate.inFlight).toBe(0);
  });
});
