import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import { EventStream, isAlive, startTestHive, tinySpawn, type TestHive } from './hiveHarness.js';

describe('hive: load timeout', () => {
  let t: TestHive | undefined;
  let events: EventStream | undefined;
  afterEach(async () => {
    events?.close();
    await t?.close();
  });

  it('a worker still loading after load_timeout_ms is killed and counted as a failure', async () => {
    // 100 ms is far less than any real start-up here: the worker cannot make it.
    t = await startTestHive({ policy: { load_timeout_ms: 100, max_restarts: 0 } });
    events = new EventStream(t.hive.url);
    await events.opened;
    const res = await t.api<WorkerInfo>('POST', '/v1/workers', tinySpawn({ id: 'slow' }));
    expect(res.status).toBe(201);
    const crashed = await events.waitForWorker('slow', (w) => w.state === 'crashed', 30_000);
    expect(crashed.last_exit).toMatchObject({ reason: 'load_timeout', signal: 'SIGKILL' });
    const failed = await events.waitForWorker('slow', (w) => w.state === 'failed', 10_000);
    expect(failed.pid).toBeNull();
    expect(isAlive(res.body.pid!)).toBe(false);
    const metrics = await t.api<string>('GET', '/metrics');
    expect(metrics.body).toContain('rbee_hive_worker_failures_total{hive="local",worker="slow",reason="load_timeout"} 1');
  });
});
