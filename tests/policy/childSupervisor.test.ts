import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ChildSupervisor, type ChildEvent, type ChildSpec, type ChildStatus, type KillCause } from '../../src-main/common/supervision/ChildSupervisor.js';
import { resolveRestartPolicy } from '../../src-shared/policy/RestartPolicyConfig.js';

/**
 * The shared supervision core's own timers (start timeout, liveness probe) and its start_failed /
 * restart_count bookkeeping, with a scripted child and fake timers. The policy numbers themselves are
 * covered by restartPolicy.test.ts; the real-process behaviour by tests/hive and
 * tests/queen/localHiveSupervision.test.ts.
 */
const POLICY = resolveRestartPolicy({ backoff_base_ms: 100, jitter_ratio: 0, max_restarts: 2, breaker_failures: 10, health_period_ms: 1_000, health_failures: 3 });

/** A child whose instances are settled by the test: `ready()`, `die()`; `healthy` answers the probe. */
class ScriptedChild {
  readonly events: ChildEvent[] = [];
  readonly statuses: ChildStatus[] = [];
  readonly kills: KillCause[] = [];
  healthy = true;
  starts = 0;
  private settle: { resolve(): void; reject(e: Error): void } | null = null;
  readonly supervisor: ChildSupervisor;

  constructor(extra: Partial<ChildSpec> = {}) {
    this.supervisor = new ChildSupervisor(
      {
        id: 'c',
        start: () => {
          this.starts += 1;
          return new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
        },
        kill: (cause) => {
          this.kills.push(cause);
          this.die(`killed: ${cause}`);
        },
        ...extra,
      },
      { policy: POLICY, random: () => 0.5, onEvent: (e) => this.events.push(e), onChange: (s) => this.statuses.push(s) },
    );
  }

  async ready(): Promise<void> {
    this.settle?.resolve();
    await Promise.resolve();
  }

  /** The instance ends: before ready the start rejects, after it the owner reports `exited`. */
  die(reason = 'exit'): void {
    const status = this.supervisor.status().state;
    if (status === 'starting') this.settle?.reject(new Error(reason));
    else this.supervisor.exited(reason);
  }

  types(): string[] {
    return this.events.map((e) => e.type);
  }
}

beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
afterEach(() => vi.useRealTimers());

describe('ChildSupervisor (the one supervision core)', () => {
  it('a start that does not become ready in time is killed and counted as a failed start', async () => {
    const child = new ScriptedChild({ startTimeoutMs: () => 500 });
    child.supervisor.start();
    expect(child.supervisor.status().state).toBe('starting');
    await vi.advanceTimersByTimeAsync(499);
    expect(child.kills).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(child.kills).toEqual(['start_timeout']);
    const status = child.supervisor.status();
    expect(status).toMatchObject({ state: 'backoff', start_failed: true, attempts: 1 });
    expect(child.types()).toEqual(['started', 'start_timeout', 'crashed', 'restart_scheduled']);
    expect(child.events[2]).toMatchObject({ type: 'crashed', during_start: true });
    // The restart's readiness clears start_failed; automatic restarts are counted, the first start is not.
    await vi.advanceTimersByTimeAsync(100);
    expect(child.starts).toBe(2);
    await child.ready();
    expect(child.supervisor.status()).toMatchObject({ state: 'running', start_failed: false, restart_count: 1 });
  });

  it('the liveness probe: a miss shows at once, the limit of misses kills the instance (a failure), a recovered probe clears it', async () => {
    const checks: number[] = [];
    const child: ScriptedChild = new ScriptedChild({
      probe: {
        periodMs: () => 1_000,
        failures: () => 3,
        check: (timeoutMs): Promise<boolean> => {
          checks.push(timeoutMs);
          return Promise.resolve(child.healthy);
        },
      },
    });
    child.supervisor.start();
    await child.ready();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(checks).toEqual([600]);
    child.healthy = false;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(child.supervisor.status()).toMatchObject({ state: 'running', probe_failures: 1 });
    // One miss, then health again: the instance keeps running.
    child.healthy = true;
    await vi.advanceTimersByTimeAsync(100);
    expect(child.supervisor.status()).toMatchObject({ state: 'running', probe_failures: 0 });
    // Three misses in a row, confirmed 0.1 period apart: hung → killed → a failure, not a failed start.
    child.healthy = false;
    await vi.advanceTimersByTimeAsync(1_000 + 100 + 100);
    expect(child.kills).toEqual(['unhealthy']);
    expect(child.types()).toContain('hung');
    expect(child.supervisor.status()).toMatchObject({ state: 'backoff', start_failed: false, probe_failures: 0 });
  });

  it('start limit: failed starts use the attempts, then gave_up; an operator start is a fresh run and is not counted as a restart', async () => {
    const child = new ScriptedChild();
    child.supervisor.start();
    child.die();
    await Promise.resolve();
    for (let i = 0; i < 2; i++) {
      await vi.advanceTimersByTimeAsync(1_000);
      child.die();
      await Promise.resolve();
    }
    expect(child.supervisor.status()).toMatchObject({ state: 'failed', restart_count: 2, start_failed: true, next_restart_at: null });
    expect(child.types().filter((t) => t === 'gave_up')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(child.starts).toBe(3);

    expect(child.supervisor.start()).toEqual({ ok: true });
    expect(child.supervisor.status()).toMatchObject({ state: 'starting', restart_count: 2, start_failed: false, attempts: 0 });
    expect(child.supervisor.start()).toMatchObject({ ok: false, reason: 'already starting' });
    expect(child.events.filter((e) => e.type === 'started').map((e) => (e.type === 'started' ? e.kind : ''))).toEqual(['initial', 'restart', 'restart', 'operator']);
  });

  it('stop: no restart follows, and the outcome of the start it interrupted is ignored', async () => {
    const child = new ScriptedChild();
    child.supervisor.start();
    child.supervisor.stop();
    child.die();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(child.supervisor.status().state).toBe('stopped');
    expect(child.starts).toBe(1);
    expect(child.types()).toEqual(['started']);
  });

  it('a child that stays up for the stability window gets its attempts back: crashes far apart never exhaust max_restarts', async () => {
    for (const probe of [false, true]) {
      const child = new ScriptedChild(probe ? { probe: { periodMs: () => 1_000, failures: () => 3, check: async (): Promise<boolean> => true } } : {});
      child.supervisor.updatePolicy(resolveRestartPolicy({ ...POLICY, stability_window_ms: 10_000 }));
      child.supervisor.start();
      await child.ready();
      for (let crash = 1; crash <= 5; crash++) {
        await vi.advanceTimersByTimeAsync(15_000); // longer than the stability window
        expect(child.supervisor.status(), `probe ${probe}, before crash ${crash}`).toMatchObject({ state: 'running', attempts: 0 });
        child.die();
        expect(child.supervisor.status().state, `probe ${probe}, crash ${crash}`).toBe('backoff');
        await vi.advanceTimersByTimeAsync(100);
        await child.ready();
      }
      expect(child.types()).not.toContain('gave_up');
      child.supervisor.dispose();
    }
  });
});
