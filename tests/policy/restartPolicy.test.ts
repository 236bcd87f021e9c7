import { describe, expect, it } from 'vitest';
import { backoffBoundsMs, backoffDelayMs, nominalBackoffMs } from '../../src-shared/policy/backoffDelay.js';
import {
  DEFAULT_RESTART_POLICY,
  InvalidRestartPolicyError,
  resolveRestartPolicy,
  type RestartPolicyConfig,
} from '../../src-shared/policy/RestartPolicyConfig.js';
import { RestartTracker } from '../../src-shared/policy/RestartTracker.js';

class FakeClock {
  constructor(public t = 1_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

function tracker(overrides: Partial<RestartPolicyConfig> = {}, random: () => number = () => 0.5) {
  const clock = new FakeClock();
  const t = new RestartTracker(resolveRestartPolicy(overrides), { clock, random });
  return { clock, t };
}

describe('backoff', () => {
  it('doubles from the base and caps at the max (1, 2, 4, 8 … 60 s)', () => {
    const seq = [1, 2, 3, 4, 5, 6, 7, 8, 60].map((n) => nominalBackoffMs(n, DEFAULT_RESTART_POLICY));
    expect(seq).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    expect(nominalBackoffMs(5000, DEFAULT_RESTART_POLICY)).toBe(60000); // 2^4999 overflows; still capped
    expect(() => nominalBackoffMs(0, DEFAULT_RESTART_POLICY)).toThrow(RangeError);
  });

  it('keeps jitter within ±jitter_ratio, hitting both bounds at the extremes of the random source', () => {
    const p = DEFAULT_RESTART_POLICY;
    for (const attempt of [1, 2, 3, 7, 12]) {
      const { min, max } = backoffBoundsMs(attempt, p);
      const nominal = nominalBackoffMs(attempt, p);
      expect(min).toBe(Math.round(nominal * 0.8));
      expect(max).toBe(Math.round(nominal * 1.2));
      expect(backoffDelayMs(attempt, p, () => 0)).toBe(min);
      expect(backoffDelayMs(attempt, p, () => 0.5)).toBe(nominal);
      expect(backoffDelayMs(attempt, p, () => 0.999999)).toBeLessThanOrEqual(max);
      expect(backoffDelayMs(attempt, p, () => 0.999999)).toBeGreaterThan(max - 2);
      // A seeded sweep stays within the bounds.
      let s = attempt;
      for (let i = 0; i < 200; i++) {
        s = (s * 16807) % 2147483647;
        const d = backoffDelayMs(attempt, p, () => s / 2147483647);
        expect(d).toBeGreaterThanOrEqual(min);
        expect(d).toBeLessThanOrEqual(max);
      }
    }
    expect(backoffDelayMs(3, { ...p, jitter_ratio: 0 }, () => 0.1)).toBe(4000);
  });
});

describe('policy config', () => {
  it('fills defaults and merges overrides', () => {
    expect(resolveRestartPolicy({})).toEqual(DEFAULT_RESTART_POLICY);
    expect(resolveRestartPolicy(undefined)).toEqual(DEFAULT_RESTART_POLICY);
    const p = resolveRestartPolicy({ backoff_base_ms: 200, max_restarts: 5 });
    expect(p.backoff_base_ms).toBe(200);
    expect(p.max_restarts).toBe(5);
    expect(resolveRestartPolicy({ max_restarts: 7 }, p).backoff_base_ms).toBe(200);
  });

  it.each([
    [{ backoff_base_ms: -1 }, 'backoff_base_ms must be at least 1 ms'],
    [{ backoff_base_ms: 1.5 }, 'backoff_base_ms must be a whole number'],
    [{ backoff_base_ms: '1000' }, 'backoff_base_ms must be a number'],
    [{ jitter_ratio: 1.5 }, 'jitter_ratio must be between 0 and 0.9'],
    [{ max_restarts: -3 }, 'max_restarts must be at least 0'],
    [{ breaker_failures: 0 }, 'breaker_failures must be at least 1'],
    [{ health_period_ms: 10 }, 'health_period_ms must be at least 50 ms'],
    [{ backoff_base_ms: 5000, backoff_max_ms: 1000 }, 'backoff_max_ms (1000) must not be below backoff_base_ms (5000)'],
    [{ stability_window_ms: 1e12 }, 'stability_window_ms must be at most'],
    [{ max_restart: 3 }, 'max_restart'],
    ['fast', 'expected object'],
  ])('rejects %j with a clear message', (patch, message) => {
    let error: unknown;
    try {
      resolveRestartPolicy(patch);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidRestartPolicyError);
    expect((error as InvalidRestartPolicyError).message).toContain(message);
  });
});

describe('RestartTracker: consecutive attempts', () => {
  it('schedules 1, 2, 4 s then gives up after max_restarts; an operator start re-arms it', () => {
    const { clock, t } = tracker();
    t.recordStarted();
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { decision, transitions } = t.recordFailure();
      expect(transitions).toEqual([]);
      expect(decision.kind).toBe('restart');
      if (decision.kind !== 'restart') return;
      expect(decision.attempt).toBe(i + 1);
      expect(decision.restart_at).toBe(clock.now() + decision.delay_ms);
      delays.push(decision.delay_ms);
      clock.advance(decision.delay_ms);
      t.recordStarted();
      clock.advance(300);
    }
    expect(delays).toEqual([1000, 2000, 4000]);
    expect(t.recordFailure().decision).toEqual({ kind: 'give_up', attempts: 3 });
    expect(t.failed).toBe(true);
    expect(t.breakerState).toBe('closed');

    t.operatorStart();
    expect(t.failed).toBe(false);
    expect(t.attempts).toBe(0);
    t.recordStarted();
    const again = t.recordFailure().decision;
    // 5th failure inside 300 s: the breaker (outer limit) opens now.
    expect(again.kind).toBe('breaker_open');
  });

  it('resets the attempt count only after a full stability window of health', () => {
    const { clock, t } = tracker({ stability_window_ms: 10_000 });
    t.recordStarted();
    t.recordFailure();
    t.recordStarted();
    t.recordFailure();
    expect(t.attempts).toBe(2);
    t.recordStarted();
    t.recordHealthy();
    expect(t.nextDeadline()).toBe(clock.now() + 10_000);
    clock.advance(9_999);
    expect(t.advance()).toEqual([]);
    expect(t.attempts).toBe(2);
    t.recordHealthy(); // a later health check does not restart the window
    clock.advance(1);
    expect(t.advance()).toEqual([{ type: 'attempts_reset' }]);
    expect(t.attempts).toBe(0);
    expect(t.advance()).toEqual([]);
    expect(t.nextDeadline()).toBeNull();
    // the next failure starts again at 1 s
    const d = t.recordFailure().decision;
    expect(d).toMatchObject({ kind: 'restart', attempt: 1, delay_ms: 1000 });
  });

  it('a failure inside the window interrupts it', () => {
    const { clock, t } = tracker({ stability_window_ms: 10_000, breaker_failures: 100 });
    t.recordStarted();
    t.recordFailure();
    t.recordStarted();
    t.recordHealthy();
    clock.advance(9_000);
    t.recordFailure();
    expect(t.attempts).toBe(2);
    clock.advance(5_000);
    expect(t.advance()).toEqual([]);
    expect(t.nextDeadline()).toBeNull();
  });

  it('a failed health check restarts the stability window', () => {
    const { clock, t } = tracker({ stability_window_ms: 10_000 });
    t.recordStarted();
    t.recordFailure();
    t.recordStarted();
    t.recordHealthy();
    clock.advance(8_000);
    t.recordUnhealthy();
    t.recordHealthy();
    clock.advance(8_000);
    expect(t.advance()).toEqual([]);
    expect(t.attempts).toBe(1);
    clock.advance(2_000);
    expect(t.advance()).toEqual([{ type: 'attempts_reset' }]);
  });

  it('max_restarts 0 never restarts', () => {
    const { t } = tracker({ max_restarts: 0 });
    t.recordStarted();
    expect(t.recordFailure().decision.kind).toBe('give_up');
  });

  it('an operator stop ends the stability window without counting a failure', () => {
    const { clock, t } = tracker({ stability_window_ms: 1000 });
    t.recordStarted();
    t.recordFailure();
    t.recordStarted();
    t.recordHealthy();
    t.recordStopped();
    clock.advance(5000);
    expect(t.advance()).toEqual([]);
    expect(t.attempts).toBe(1);
    expect(t.breakerInfo().failures_in_window).toBe(1);
  });
});

describe('RestartTracker: circuit breaker', () => {
  const policy = { max_restarts: 100, breaker_failures: 3, breaker_window_ms: 10_000, breaker_cooldown_ms: 5_000, stability_window_ms: 2_000 };

  it('walks closed → open → half_open → open → half_open → closed, with one trial per half-open', () => {
    const { clock, t } = tracker(policy);
    t.recordStarted();
    expect(t.recordFailure().decision.kind).toBe('restart');
    clock.advance(1000);
    t.recordStarted();
    expect(t.recordFailure().decision.kind).toBe('restart');
    expect(t.breakerInfo()).toEqual({ state: 'closed', failures_in_window: 2, opens_until: null });
    clock.advance(1000);
    t.recordStarted();
    const opened = t.recordFailure();
    expect(opened.decision).toEqual({ kind: 'breaker_open', until: clock.now() + 5000 });
    expect(opened.transitions).toEqual([{ type: 'breaker_opened', until: clock.now() + 5000, failures: 3 }]);
    expect(t.breakerInfo()).toEqual({ state: 'open', failures_in_window: 3, opens_until: clock.now() + 5000 });
    expect(t.canStart().ok).toBe(false);
    expect(t.nextDeadline()).toBe(clock.now() + 5000);

    clock.advance(4999);
    expect(t.advance()).toEqual([]);
    expect(t.canStart().ok).toBe(false);
    clock.advance(1);
    expect(t.advance()).toEqual([{ type: 'breaker_half_open' }]);
    expect(t.breakerInfo().opens_until).toBeNull();
    expect(t.canStart()).toEqual({ ok: true });
    t.recordStarted(); // the trial
    expect(t.canStart().ok).toBe(false); // exactly one trial

    // failed trial → open again
    const reopened = t.recordFailure();
    expect(reopened.decision).toEqual({ kind: 'breaker_open', until: clock.now() + 5000 });
    expect(reopened.transitions[0]).toMatchObject({ type: 'breaker_opened' });

    clock.advance(5000);
    expect(t.advance()).toEqual([{ type: 'breaker_half_open' }]);
    t.recordStarted();
    t.recordHealthy();
    clock.advance(1999);
    expect(t.advance()).toEqual([]);
    expect(t.breakerState).toBe('half_open');
    clock.advance(1);
    expect(t.advance()).toEqual([{ type: 'attempts_reset' }, { type: 'breaker_closed', cause: 'stable' }]);
    expect(t.breakerInfo()).toEqual({ state: 'closed', failures_in_window: 0, opens_until: null });
    expect(t.canStart()).toEqual({ ok: true });
  });

  it('counts failures in a sliding window: old failures fall out', () => {
    const { clock, t } = tracker(policy);
    t.recordStarted();
    t.recordFailure();
    clock.advance(6000);
    t.recordFailure();
    clock.advance(4001); // the first failure is now older than 10 s
    expect(t.breakerInfo().failures_in_window).toBe(1);
    expect(t.recordFailure().decision.kind).toBe('restart');
    expect(t.breakerState).toBe('closed');
    expect(t.recordFailure().decision.kind).toBe('breaker_open');
  });

  it('an operator reset closes an open or half-open breaker and empties the window', () => {
    const { clock, t } = tracker(policy);
    for (let i = 0; i < 3; i++) t.recordFailure();
    expect(t.breakerState).toBe('open');
    expect(t.operatorResetBreaker()).toEqual([{ type: 'breaker_closed', cause: 'operator' }]);
    expect(t.breakerInfo()).toEqual({ state: 'closed', failures_in_window: 0, opens_until: null });
    expect(t.canStart()).toEqual({ ok: true });
    expect(t.operatorResetBreaker()).toEqual([]); // already closed: no transition

    for (let i = 0; i < 3; i++) t.recordFailure();
    clock.advance(5000);
    t.advance();
    expect(t.breakerState).toBe('half_open');
    expect(t.operatorResetBreaker()).toEqual([{ type: 'breaker_closed', cause: 'operator' }]);
  });

  it('the breaker wins over give-up when both limits are reached by the same failure', () => {
    const { t } = tracker({ max_restarts: 2, breaker_failures: 3 });
    t.recordFailure();
    t.recordFailure();
    expect(t.recordFailure().decision.kind).toBe('breaker_open');
    expect(t.failed).toBe(false);
  });

  it('a healthy run that is stopped during half-open leaves room for another trial', () => {
    const { clock, t } = tracker(policy);
    for (let i = 0; i < 3; i++) t.recordFailure();
    clock.advance(5000);
    t.advance();
    t.recordStarted();
    t.recordStopped();
    expect(t.canStart()).toEqual({ ok: true });
  });
});
