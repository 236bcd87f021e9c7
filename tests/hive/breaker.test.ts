import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterEvent } from '../../src-shared/cluster/ClusterEvent.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import { HiveTestContext, swapModel, TINY } from './hiveHarness.js';

const context = new HiveTestContext();
afterEach(() => context.close());

describe('hive: circuit breaker on real processes', () => {
  it('the circuit breaker: opens on repeated crashes, no spawn while open, failed trial reopens, healthy trial closes, operator reset (acceptance 3)', async () => {
    const policy = { max_restarts: 20, breaker_failures: 3, breaker_window_ms: 120_000, breaker_cooldown_ms: 1_500, stability_window_ms: 1_500, backoff_base_ms: 100, backoff_max_ms: 400 };
    const ready = await context.readyWorker({ policy }, { id: 'flaky' });
    const ev = context.events;
    await swapModel(context.t.modelsDir, TINY, 'corrupt');
    process.kill(ready.pid!, 'SIGKILL');

    // kill + 2 failed restarts = 3 failures → open.
    const open1 = await ev.waitForWorker('flaky', (w) => w.breaker.state === 'open', 90_000);
    expect(open1.state).toBe('backoff');
    expect(open1.breaker.failures_in_window).toBe(3);
    expect(open1.next_restart_at).toBe(open1.breaker.opens_until);
    const spawnsWhenOpened = context.spawnsOf('flaky');
    expect(spawnsWhenOpened).toBe(3);
    // The operator cannot start it while open.
    const refused = await context.t.api<{ error: { code: string; message: string } }>('POST', '/v1/workers/flaky/start');
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/breaker is open/);

    // Half-open: exactly one trial, not before the cooldown; it fails → open again.
    const openIdx = ev.events.findIndex((e) => e.type === 'worker_updated' && e.worker.id === 'flaky' && e.worker.breaker.state === 'open');
    const half = await ev.waitForWorker('flaky', (w) => w.breaker.state === 'half_open', 10_000, openIdx);
    const trialLoading = await ev.waitForWorker('flaky', (w) => w.state === 'loading', 10_000, openIdx);
    expect(trialLoading.started_at!).toBeGreaterThanOrEqual(open1.breaker.opens_until! - 5);
    expect(half.breaker.opens_until).toBeNull();
    expect(context.spawnsOf('flaky')).toBe(spawnsWhenOpened + 1);
    const trialIdx = ev.events.indexOf(ev.events.find((e) => e.type === 'worker_updated' && e.worker === trialLoading) as ClusterEvent);
    const open2 = await ev.waitForWorker('flaky', (w) => w.breaker.state === 'open', 30_000, trialIdx);
    expect(context.spawnsOf('flaky')).toBe(spawnsWhenOpened + 1);
    expect(context.t.audit.types('flaky').filter((x) => x === 'breaker_opened')).toHaveLength(2);

    // Fix the model: the next trial is healthy for the stability window → closed.
    await swapModel(context.t.modelsDir, TINY, 'good');
    const open2Idx = ev.events.length;
    const closed = await ev.waitForWorker('flaky', (w) => w.breaker.state === 'closed', 30_000, open2Idx);
    expect(closed.state === 'idle' || closed.state === 'busy').toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(open2.breaker.opens_until! + policy.stability_window_ms);
    expect(context.t.audit.events.filter((e) => e.worker_id === 'flaky' && e.event_type === 'breaker_closed').map((e) => e.reason)).toEqual(['stable']);

    // Open it again, then an operator reset closes it and starts the worker at once.
    await swapModel(context.t.modelsDir, TINY, 'corrupt');
    const again = ev.events.length;
    process.kill(closed.pid!, 'SIGKILL');
    await ev.waitForWorker('flaky', (w) => w.breaker.state === 'open', 90_000, again);
    await swapModel(context.t.modelsDir, TINY, 'good');
    const resetIdx = ev.events.length;
    const reset = await context.t.api<WorkerInfo>('POST', '/v1/workers/flaky/reset-breaker');
    expect(reset.status).toBe(200);
    expect(reset.body.breaker).toEqual({ state: 'closed', failures_in_window: 0, opens_until: null });
    expect(reset.body.state).toBe('loading');
    await ev.waitForWorker('flaky', (w) => w.state === 'idle', 30_000, resetIdx);
    expect(context.t.audit.types('flaky')).toContain('breaker_reset');
    // The operator is named by their token's fingerprint, never by the token.
    const resetAudit = context.t.audit.events.find((e) => e.worker_id === 'flaky' && e.event_type === 'breaker_reset');
    expect(resetAudit?.actor).toMatch(/^token:[0-9a-f]{6}$/);
    expect(context.t.audit.types('flaky')).toContain('breaker_half_open');
  }, 240_000);

});
