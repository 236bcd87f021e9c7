import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../src-shared/api/ApiError.js';
import { Deadline } from '../../src-shared/deadline/Deadline.js';
import { ClusterView } from '../../src-main/queen/cluster/ClusterView.js';
import { assessAvailability, attemptKey } from '../../src-main/queen/scheduling/modelAvailability.js';
import { Scheduler } from '../../src-main/queen/scheduling/Scheduler.js';
import { ev, hive, model, worker } from '../helpers/clusterFixtures.js';
import { outcome } from '../helpers/outcome.js';

/**
 * Pure scheduling logic on a real ClusterView (no processes, no sockets): queue order, deadlines on a
 * fake clock, fairness, the queue bound, and what happens when no worker serves the model.
 */
function viewWith(...workers: ReturnType<typeof worker>[]): ClusterView {
  const view = new ClusterView();
  view.upsertHive(hive({ id: 'local' }));
  view.applyHiveEvent('local', ev({ type: 'snapshot', snapshot: { hives: [hive({ id: 'local' })], workers, models: [] } }, 1));
  return view;
}

describe('Scheduler queue', () => {
  it('serves waiters earliest deadline first, not in arrival order', async () => {
    const view = viewWith(worker({ id: 'w1', model: 'm', state: 'idle', slots: { total: 1, free: 1 } }));
    const scheduler = new Scheduler(view);
    const held = await scheduler.acquire('m', Deadline.in(10_000));
    const order: string[] = [];
    const late = scheduler.acquire('m', Deadline.in(9_000)).then((lease) => {
      order.push('late');
      lease.release();
    });
    const early = scheduler.acquire('m', Deadline.in(3_000)).then((lease) => {
      order.push('early');
      lease.release();
    });
    expect(scheduler.queueLength).toBe(2);
    held.release();
    await Promise.all([late, early]);
    expect(order).toEqual(['early', 'late']);
    scheduler.dispose();
  });

  it('a queued request whose model turns unavailable is answered at once with 503 MODEL_UNAVAILABLE', async () => {
    const loading = worker({ id: 'w1', model: 'm', state: 'loading', slots: { total: 1, free: 0 } });
    const view = viewWith(loading);
    const scheduler = new Scheduler(view);
    const waiting = scheduler.acquire('m', Deadline.in(60_000));
    expect(scheduler.queueLength).toBe(1);
    const restartAt = Date.now() + 4_000;
    view.applyHiveEvent('local', ev({ type: 'worker_updated', worker: { ...loading, state: 'backoff', pid: null, load_failed: true, next_restart_at: restartAt } }, 2));
    const error = await waiting.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe('MODEL_UNAVAILABLE');
    expect(Number((error as ApiError).headers?.['retry-after'])).toBeGreaterThanOrEqual(3);
    expect(scheduler.queueLength).toBe(0);
    scheduler.dispose();
  });
});

/** Lets queued promise callbacks run (fake timers do not advance on their own). */
const settle = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(0);
};

describe('Scheduler on a fake clock', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a queued request gets 504 DEADLINE_EXCEEDED exactly when its deadline passes: not at t+999, at t+1000', async () => {
    const view = viewWith(worker({ id: 'w1', model: 'm', state: 'busy', slots: { total: 1, free: 0 } }));
    const scheduler = new Scheduler(view);
    const held = await scheduler.acquire('m', Deadline.in(60_000));
    const waiting = outcome(scheduler.acquire('m', Deadline.in(1_000)));
    await vi.advanceTimersByTimeAsync(999);
    expect(waiting.settled).toBe(false);
    expect(scheduler.queueLength).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(waiting.error).toBeInstanceOf(ApiError);
    expect(waiting.error).toMatchObject({ status: 504, code: 'DEADLINE_EXCEEDED' });
    expect(scheduler.queueLength).toBe(0);
    // The slot it never got is not leaked: the holder's release leaves the worker free.
    held.release();
    expect(scheduler.inFlightOf('local/w1')).toBe(0);
    scheduler.dispose();
  });

  it('a slot freed at t+999 serves the request queued with a 1,000 ms deadline', async () => {
    const view = viewWith(worker({ id: 'w1', model: 'm', slots: { total: 1, free: 1 } }));
    const scheduler = new Scheduler(view);
    const held = await scheduler.acquire('m', Deadline.in(60_000));
    const waiting = outcome(scheduler.acquire('m', Deadline.in(1_000)));
    await vi.advanceTimersByTimeAsync(999);
    held.release();
    await settle();
    expect(waiting.value?.key).toBe('local/w1');
    // Its deadline timer was cleared: passing the deadline later changes nothing.
    await vi.advanceTimersByTimeAsync(5_000);
    expect(waiting.error).toBeUndefined();
    expect(scheduler.inFlightOf('local/w1')).toBe(1);
    waiting.value!.release();
    expect(scheduler.inFlightOf('local/w1')).toBe(0);
    scheduler.dispose();
  });

  it('refuses at once, without queueing, when the deadline has already passed and no slot is free', async () => {
    const view = viewWith(worker({ id: 'w1', model: 'm', slots: { total: 1, free: 1 } }));
    const scheduler = new Scheduler(view);
    const held = await scheduler.acquire('m', Deadline.in(60_000));
    await expect(scheduler.acquire('m', Deadline.in(0))).rejects.toMatchObject({ status: 504, code: 'DEADLINE_EXCEEDED' });
    expect(scheduler.queueLength).toBe(0);
    held.release();
    scheduler.dispose();
  });

  it('the queue is bounded: one past queueLimit gets 503 QUEUE_FULL with Retry-After, the others keep waiting', async () => {
    const view = viewWith(worker({ id: 'w1', model: 'm', slots: { total: 1, free: 1 } }));
    const scheduler = new Scheduler(view, { queueLimit: 2 });
    const held = await scheduler.acquire('m', Deadline.in(60_000));
    const a = outcome(scheduler.acquire('m', Deadline.in(10_000)));
    const b = outcome(scheduler.acquire('m', Deadline.in(10_000)));
    const error = await scheduler.acquire('m', Deadline.in(10_000)).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 503, code: 'QUEUE_FULL', headers: { 'retry-after': '1' } });
    expect(scheduler.queueLength).toBe(2);
    held.release();
    await settle();
    expect(a.value?.key).toBe('local/w1');
    expect(b.settled).toBe(false);
    a.value!.release();
    await settle();
    expect(b.value?.key).toBe('local/w1');
    b.value!.release();
    scheduler.dispose();
  });

  it('equal deadlines keep arrival order', async () => {
    const view = viewWith(worker({ id: 'w1', model: 'm', slots: { total: 1, free: 1 } }));
    const scheduler = new Scheduler(view);
    const held = await scheduler.acquire('m', Deadline.in(60_000));
    const order: string[] = [];
    const run = (name: string): Promise<void> =>
      scheduler.acquire('m', Deadline.in(5_000)).then((lease) => {
        order.push(name);
        lease.release();
      });
    const all = Promise.all(['first', 'second', 'third'].map(run));
    held.release();
    await all;
    expect(order).toEqual(['first', 'second', 'third']);
    scheduler.dispose();
  });

  it('least in-flight first across workers, and never more leases than a worker has slots', async () => {
    const view = viewWith(
      worker({ id: 'a', model: 'm', slots: { total: 2, free: 2 } }),
      worker({ id: 'b', model: 'm', slots: { total: 1, free: 1 } }),
    );
    const scheduler = new Scheduler(view);
    const leases = [await scheduler.acquire('m', Deadline.in(5_000)), await scheduler.acquire('m', Deadline.in(5_000)), await scheduler.acquire('m', Deadline.in(5_000))];
    expect(leases.map((l) => l.worker.id).sort()).toEqual(['a', 'a', 'b']);
    // The two leases on `a` never sit on `b` twice: the first two went to different workers.
    expect(new Set(leases.slice(0, 2).map((l) => l.worker.id)).size).toBe(2);
    const fourth = outcome(scheduler.acquire('m', Deadline.in(5_000)));
    await settle();
    expect(fourth.settled).toBe(false);
    leases.find((l) => l.worker.id === 'b')!.release();
    await settle();
    expect(fourth.value?.worker.id).toBe('b');
    for (const lease of [...leases, fourth.value!]) lease.release();
    expect(scheduler.inFlightOf('local/a')).toBe(0);
    expect(scheduler.inFlightOf('local/b')).toBe(0);
    scheduler.dispose();
  });

  it('release is idempotent: a second call does not free a slot someone else holds', async () => {
    const view = viewWith(worker({ id: 'w1', model: 'm', slots: { total: 2, free: 2 } }));
    const scheduler = new Scheduler(view);
    const first = await scheduler.acquire('m', Deadline.in(5_000));
    const second = await scheduler.acquire('m', Deadline.in(5_000));
    first.release();
    first.release();
    expect(scheduler.inFlightOf('local/w1')).toBe(1);
    second.release();
    expect(scheduler.inFlightOf('local/w1')).toBe(0);
    scheduler.dispose();
  });

  it('skips workers on an offline hive, with an open breaker, or excluded for this request', async () => {
    const view = viewWith(
      worker({ id: 'open', model: 'm', breaker: { state: 'open', failures_in_window: 5, opens_until: 2_000_000 } }),
      worker({ id: 'tried', model: 'm', pid: 7 }),
      worker({ id: 'ok', model: 'm' }),
    );
    const scheduler = new Scheduler(view);
    const lease = await scheduler.acquire('m', Deadline.in(5_000), { exclude: new Set([attemptKey({ hive: 'local', id: 'tried', pid: 7 })]) });
    expect(lease.worker.id).toBe('ok');
    lease.release();
    view.patchHive('local', { state: 'unreachable' });
    // Every worker of the model is on an unreachable hive: not servable now.
    await expect(scheduler.acquire('m', Deadline.in(5_000))).rejects.toMatchObject({ status: 503, code: 'MODEL_NOT_READY' });
    scheduler.dispose();
  });

  it('a queued request is served the moment a worker of its model turns ready', async () => {
    const loading = worker({ id: 'w1', model: 'm', state: 'loading', slots: { total: 1, free: 0 } });
    const view = viewWith(loading);
    const scheduler = new Scheduler(view);
    const waiting = outcome(scheduler.acquire('m', Deadline.in(10_000)));
    await vi.advanceTimersByTimeAsync(3_000);
    expect(waiting.settled).toBe(false);
    view.applyHiveEvent('local', ev({ type: 'worker_updated', worker: { ...loading, state: 'idle', slots: { total: 1, free: 1 } } }, 2));
    await settle();
    expect(waiting.value?.worker.id).toBe('w1');
    waiting.value!.release();
    scheduler.dispose();
  });

  it('a client that goes away while queued gets 499 and leaves the queue', async () => {
    const view = viewWith(worker({ id: 'w1', model: 'm', slots: { total: 1, free: 1 } }));
    const scheduler = new Scheduler(view);
    const held = await scheduler.acquire('m', Deadline.in(60_000));
    const client = new AbortController();
    const waiting = outcome(scheduler.acquire('m', Deadline.in(10_000), { signal: client.signal }));
    expect(scheduler.queueLength).toBe(1);
    client.abort();
    await settle();
    expect(waiting.error).toMatchObject({ status: 499 });
    expect(scheduler.queueLength).toBe(0);
    held.release();
    expect(scheduler.inFlightOf('local/w1')).toBe(0); // the slot did not go to the departed request
    scheduler.dispose();
  });

  it('dispose answers every queued request with 503 SHUTTING_DOWN', async () => {
    const view = viewWith(worker({ id: 'w1', model: 'm', slots: { total: 1, free: 1 } }));
    const scheduler = new Scheduler(view);
    await scheduler.acquire('m', Deadline.in(60_000));
    const waiting = [outcome(scheduler.acquire('m', Deadline.in(10_000))), outcome(scheduler.acquire('m', Deadline.in(20_000)))];
    scheduler.dispose();
    await settle();
    for (const w of waiting) expect(w.error).toMatchObject({ status: 503, code: 'SHUTTING_DOWN' });
    expect(scheduler.queueLength).toBe(0);
  });
});

describe('Scheduler with no worker for the model', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A view whose hive has `m` in its catalog and no worker of it. */
  function catalogOnly(): ClusterView {
    const view = viewWith();
    view.applyHiveEvent('local', ev({ type: 'models_updated', hive_id: 'local', models: [model({ name: 'm' })] }, 2));
    return view;
  }

  it('404 MODEL_NOT_FOUND when no hive has the model', async () => {
    const scheduler = new Scheduler(viewWith());
    await expect(scheduler.acquire('nowhere', Deadline.in(5_000))).rejects.toMatchObject({ status: 404, code: 'MODEL_NOT_FOUND' });
    scheduler.dispose();
  });

  it('503 MODEL_NOT_READY with Retry-After when the model is in a catalog but on-demand start is off', async () => {
    const scheduler = new Scheduler(catalogOnly());
    await expect(scheduler.acquire('m', Deadline.in(5_000))).rejects.toMatchObject({ status: 503, code: 'MODEL_NOT_READY', headers: { 'retry-after': '5' } });
    scheduler.dispose();
  });

  it('starts one on-demand worker for concurrent requests, queues them, and serves them when it is ready', async () => {
    const view = catalogOnly();
    const starts: Array<{ hive: string; model: string; workerId: string | null }> = [];
    const scheduler = new Scheduler(view, {
      startOnDemand: (target) => {
        starts.push(target);
        return Promise.resolve();
      },
    });
    const a = outcome(scheduler.acquire('m', Deadline.in(30_000)));
    const b = outcome(scheduler.acquire('m', Deadline.in(30_000)));
    await settle();
    expect(starts).toEqual([{ hive: 'local', model: 'm', workerId: null }]);
    // The hive accepted; the worker loads (the view says so) and the requests wait for it.
    const loading = worker({ id: 'ondemand-m', model: 'm', state: 'loading', slots: { total: 2, free: 0 } });
    view.applyHiveEvent('local', ev({ type: 'worker_updated', worker: loading }, 3));
    await settle();
    expect(scheduler.queueLength).toBe(2);
    view.applyHiveEvent('local', ev({ type: 'worker_updated', worker: { ...loading, state: 'idle', slots: { total: 2, free: 2 } } }, 4));
    await settle();
    expect(a.value?.worker.id).toBe('ondemand-m');
    expect(b.value?.worker.id).toBe('ondemand-m');
    expect(starts).toHaveLength(1);
    a.value!.release();
    b.value!.release();
    scheduler.dispose();
  });

  it("a hive's refusal to start the worker answers every request waiting for it with the hive's error", async () => {
    const view = catalogOnly();
    let refuse: (error: Error) => void = () => undefined;
    const scheduler = new Scheduler(view, {
      startOnDemand: () =>
        new Promise<void>((_resolve, reject) => {
          refuse = reject;
        }),
    });
    const a = outcome(scheduler.acquire('m', Deadline.in(30_000)));
    const b = outcome(scheduler.acquire('m', Deadline.in(30_000)));
    await settle();
    refuse(new ApiError(507, 'INSUFFICIENT_MEMORY', 'no room for m'));
    await settle();
    expect(a.error).toMatchObject({ status: 507, code: 'INSUFFICIENT_MEMORY' });
    expect(b.error).toMatchObject({ status: 507, code: 'INSUFFICIENT_MEMORY' });
    expect(scheduler.queueLength).toBe(0);
    scheduler.dispose();
  });
});

describe('assessAvailability', () => {
  const base = { model: 'm', catalogHives: ['local'], hiveOnline: () => true, exclude: new Set<string>(), now: 1_000 };
  it('creates the on-demand worker only where the hive has none of the model', () => {
    expect(assessAvailability({ ...base, workers: [] })).toEqual({ kind: 'start', hive: 'local', workerId: null });
    expect(assessAvailability({ ...base, workers: [worker({ model: 'm', state: 'stopped', stopped_by: 'shutdown' })] }).kind).toBe('not_ready');
  });
  it('restarts an idle-TTL-stopped worker by id, refuses an operator-stopped one', () => {
    expect(assessAvailability({ ...base, workers: [worker({ id: 'w9', model: 'm', state: 'stopped', stopped_by: 'idle_ttl' })] })).toEqual({ kind: 'start', hive: 'local', workerId: 'w9' });
    expect(assessAvailability({ ...base, workers: [worker({ model: 'm', state: 'stopped', stopped_by: 'operator' })] }).kind).toBe('stopped');
  });
  it('an open breaker: unavailable until half-open; a backoff after serving: wait', () => {
    const open = worker({ model: 'm', state: 'backoff', breaker: { state: 'open', failures_in_window: 5, opens_until: 31_000 } });
    expect(assessAvailability({ ...base, workers: [open] })).toMatchObject({ kind: 'unavailable', retryAfterMs: 30_000 });
    expect(assessAvailability({ ...base, workers: [worker({ model: 'm', state: 'backoff', next_restart_at: 2_000 })] }).kind).toBe('wait');
    expect(assessAvailability({ ...base, catalogHives: [], workers: [], model: 'x' }).kind).toBe('not_found');
  });
});
