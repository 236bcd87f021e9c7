import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuditSink } from '../../src-main/audit/index.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import type { ChildStatus } from '../../src-main/common/supervision/ChildSupervisor.js';
import { LocalHiveProcess } from '../../src-main/queen/hives/LocalHiveProcess.js';
import type { RestartPolicyConfig } from '../../src-shared/policy/RestartPolicyConfig.js';

/**
 * The local hive daemon under the shared supervision core, with a real hive process SIGKILLed by pid:
 * backoff, the breaker opening, the half-open trial after the cooldown, recovery, and the attempts
 * (and the breaker) reset after the stability window.
 */
const POLICY = {
  backoff_base_ms: 100,
  jitter_ratio: 0,
  max_restarts: 5,
  breaker_failures: 2,
  breaker_window_ms: 60_000,
  breaker_cooldown_ms: 2_000,
  stability_window_ms: 1_500,
};

const dir = mkdtempSync(join(tmpdir(), 'rbee-local-hive-'));
let hive: LocalHiveProcess | undefined;
let policyHive: LocalHiveProcess | undefined;
afterAll(async () => {
  await hive?.stop();
  await policyHive?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The worker restart policy a running hive applies, read from its own API. */
async function workerPolicyOf(endpoint: { baseUrl: string; token: string }): Promise<Record<string, unknown>> {
  const res = await fetch(`${endpoint.baseUrl}/v1/policy`, { headers: { authorization: `Bearer ${endpoint.token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe('local hive supervision (shared core)', () => {
  it('SIGKILLed repeatedly: backoff, breaker open, half-open trial after the cooldown, recovery, attempts reset', async () => {
    const statuses: Array<ChildStatus & { at: number }> = [];
    const listening: Array<{ pid: number; at: number }> = [];
    const waiters = new Set<() => void>();
    const notify = (): void => {
      for (const w of [...waiters]) w();
    };
    const until = <T,>(find: () => T | undefined, what: string, timeoutMs = 60_000): Promise<T> =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const found = find();
          if (found === undefined) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}; statuses: ${JSON.stringify(statuses.slice(-5))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    const audit = await createAuditSink({ mode: 'disabled', serviceId: 'queen' });
    hive = new LocalHiveProcess({
      id: 'local',
      modelsDir: dir,
      policy: POLICY,
      audit,
      logger: createLogger('queen', { level: 'silent' }),
      onListening: ({ pid }) => {
        listening.push({ pid, at: Date.now() });
        notify();
      },
      onDown: () => undefined,
      onStatus: (status) => {
        statuses.push({ ...status, at: Date.now() });
        notify();
      },
    });
    hive.start();

    // First crash: a restart after the backoff, attempt 1.
    const first = await until(() => listening[0], 'the first start');
    await until(() => (statuses.at(-1)?.state === 'running' ? true : undefined), 'running');
    process.kill(first.pid, 'SIGKILL');
    await until(() => statuses.find((s) => s.state === 'backoff' && s.attempts === 1), 'backoff after the first crash');
    const second = await until(() => listening[1], 'the restart');
    expect(second.pid).not.toBe(first.pid);
    await until(() => (statuses.at(-1)?.state === 'running' ? true : undefined), 'running again');

    // Second crash inside the window: the breaker opens; nothing starts during the cooldown.
    process.kill(second.pid, 'SIGKILL');
    const opened = await until(() => statuses.find((s) => s.breaker.state === 'open'), 'the breaker to open');
    expect(opened.state).toBe('backoff');
    expect(opened.next_restart_at).toBe(opened.breaker.opens_until);

    // After the cooldown: one half-open trial, which recovers.
    const trial = await until(() => listening[2], 'the half-open trial');
    expect(trial.at).toBeGreaterThanOrEqual(opened.breaker.opens_until!);
    expect(statuses.some((s) => s.breaker.state === 'half_open' && s.state === 'starting')).toBe(true);

    // Healthy for the stability window: breaker closed, attempts back to 0.
    const stable = await until(() => statuses.find((s) => s.at > trial.at && s.breaker.state === 'closed' && s.attempts === 0 && s.state === 'running'), 'stability');
    expect(stable.restart_count).toBe(2);
    expect(hive.pid).toBe(trial.pid);
  }, 120_000);
});

describe('local hive: the worker policy it starts with', () => {
  it('a hive restarted after a settings change starts with the policy as it is now, not as it was at the first start', async () => {
    let current: Partial<RestartPolicyConfig> = { max_restarts: 4, stability_window_ms: 90_000 };
    const listening: Array<{ baseUrl: string; token: string; pid: number }> = [];
    let notify: (() => void) | undefined;
    const nextListening = (count: number): Promise<{ baseUrl: string; token: string; pid: number }> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (listening.length >= count) resolve(listening[count - 1]!);
        };
        notify = check;
        check();
      });
    const audit = await createAuditSink({ mode: 'disabled', serviceId: 'queen' });
    policyHive = new LocalHiveProcess({
      id: 'local',
      modelsDir: dir,
      policy: { backoff_base_ms: 100, jitter_ratio: 0 },
      workerPolicy: () => current,
      audit,
      logger: createLogger('queen', { level: 'silent' }),
      onListening: (endpoint) => {
        listening.push(endpoint);
        notify?.();
      },
      onDown: () => undefined,
    });
    policyHive.start();

    const first = await nextListening(1);
    expect(await workerPolicyOf(first)).toMatchObject({ max_restarts: 4, stability_window_ms: 90_000 });

    current = { max_restarts: 6, stability_window_ms: 30_000 };
    process.kill(first.pid, 'SIGKILL');
    const second = await nextListening(2);
    expect(second.pid).not.toBe(first.pid);
    expect(await workerPolicyOf(second)).toMatchObject({ max_restarts: 6, stability_window_ms: 30_000 });
  }, 120_000);
});
