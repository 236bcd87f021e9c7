/**
 * A restart-policy change on a real hive reaches every worker, including one whose spawn was still
 * being admitted when the change landed. The memory estimate (the probe child, a GPU-side boundary)
 * is replaced by a gate the test opens, so the change lands inside the spawn deterministically; the
 * hive, its HTTP API and the worker process are real.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import type { MemoryEstimator, OffloadTable } from '../../src-main/hive/admission/MemoryEstimator.js';
import { HiveTestContext, tinySpawn } from './hiveHarness.js';
import { cpu, linearTable } from './admission/fakeDevices.js';

/** An estimator that answers only once `open()` is called, and says when a spawn is waiting on it. */
function gatedEstimator(table: OffloadTable): MemoryEstimator & { entered: Promise<void>; open(): void } {
  let entered!: () => void;
  let open!: () => void;
  const enteredPromise = new Promise<void>((resolve) => (entered = resolve));
  const opened = new Promise<void>((resolve) => (open = resolve));
  return {
    entered: enteredPromise,
    open,
    async offloadTable(): Promise<OffloadTable> {
      entered();
      await opened;
      return table;
    },
  };
}

const context = new HiveTestContext();
afterEach(() => context.close());

describe('hive: a restart-policy change reaches every worker', () => {
  it('a change that lands while a spawn is being admitted applies to that worker (its first crash is scheduled under the new numbers)', async () => {
    const estimator = gatedEstimator(linearTable(4, 0.001));
    const t = await context.start({
      policy: { max_restarts: 3, backoff_base_ms: 200, jitter_ratio: 0 },
      estimator,
      readDevices: async () => [cpu(60)],
      devicePeriodMs: 0,
      memoryReserveBytes: 0,
    });

    const spawned = t.api<WorkerInfo>('POST', '/v1/workers', tinySpawn({ id: 'late' }));
    await estimator.entered;
    const changed = await t.api<{ max_restarts: number }>('PATCH', '/v1/policy', { max_restarts: 7, backoff_base_ms: 300 });
    expect(changed.status).toBe(200);
    expect(changed.body.max_restarts).toBe(7);
    estimator.open();
    expect((await spawned).status).toBe(201);

    const ready = await context.events.waitForWorker('late', (w) => w.state === 'idle', 60_000);
    process.kill(ready.pid!, 'SIGKILL');
    await context.events.waitForWorker('late', (w) => w.state === 'backoff', 30_000);
    const scheduled = t.audit.events.find((e) => e.worker_id === 'late' && e.event_type === 'worker_restart_scheduled');
    expect(scheduled?.details).toMatchObject({ attempt: 1, max_restarts: 7, delay_ms: 300 });
  }, 120_000);
});
