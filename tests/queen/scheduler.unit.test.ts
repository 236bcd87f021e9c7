import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src-shared/api/ApiError.js';
import { Deadline } from '../../src-shared/deadline/Deadline.js';
import { ClusterView } from '../../src-main/queen/cluster/ClusterView.js';
import { assessAvailability } from '../../src-main/queen/scheduling/modelAvailability.js';
import { Scheduler } from '../../src-main/queen/scheduling/Scheduler.js';
import { ev, hive, worker } from '../helpers/clusterFixtures.js';

/** Pure scheduling logic on a real ClusterView (no processes): queue order and the on-demand verdicts. */
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
