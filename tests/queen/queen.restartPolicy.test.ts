/**
 * The restart policy across the tiers: a settings change on a real queen reaches the real hive and its
 * worker's supervisor, and a worker killed now and then (not in a loop) gets its attempts back after
 * the stability window, so it never runs out of them. This is what the soak bench found missing: its
 * settings change raced the demo worker's spawn, and the worker kept the 5-minute window.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import { startTestQueen, type TestQueen } from './queenHarness.js';

let q: TestQueen | undefined;
afterEach(async () => {
  await q?.close();
  q = undefined;
});

const ready = (w: WorkerInfo): boolean => w.state === 'idle' || w.state === 'busy';

describe('queen → hive → worker: the restart policy', () => {
  it('with max_restarts 1, two kills a stability window apart both heal: attempts go 1, back to 0, then 1 again', async () => {
    q = await startTestQueen();
    const patched = await fetch(`${q.url}/v1/control/settings`, {
      method: 'PATCH',
      headers: { ...q.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ restart_policy: { max_restarts: 1, stability_window_ms: 2_000, jitter_ratio: 0 } }),
    });
    expect(patched.status).toBe(200);
    const spawned = await q.spawn({ slots: 1 });
    const workerOf = (s: { workers: WorkerInfo[] }): WorkerInfo | undefined => s.workers.find((w) => w.id === spawned.id);
    const first = workerOf(await q.waitFor((s) => !!workerOf(s) && ready(workerOf(s)!)))!;
    expect(first.restart_attempts).toBe(0);

    process.kill(first.pid!, 'SIGKILL');
    const second = workerOf(await q.waitFor((s) => ready(workerOf(s)!) && workerOf(s)!.pid !== first.pid, 60_000))!;
    expect(second.restart_attempts).toBe(1);

    // Stable for the window: the hive gives the attempt back (an event, not a sleep).
    const stable = workerOf(await q.waitFor((s) => workerOf(s)!.restart_attempts === 0, 60_000))!;
    expect(stable.pid).toBe(second.pid);

    // Without that, this second kill would exhaust max_restarts = 1 and the worker would stay failed.
    process.kill(second.pid!, 'SIGKILL');
    const third = workerOf(await q.waitFor((s) => workerOf(s)!.state === 'failed' || (ready(workerOf(s)!) && workerOf(s)!.pid !== second.pid), 60_000))!;
    expect(third.state).not.toBe('failed');
    expect(third.restart_attempts).toBe(1);
    expect(third.restart_count).toBe(2);
  }, 180_000);
});
