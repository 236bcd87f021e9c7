import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import type { WorkerEntry } from '../../src-shared/control/workerSpecTypes.js';
import { isAlive } from '../helpers/processTree.js';
import { startTestQueen, type TestQueen } from './queenHarness.js';

/**
 * A declared worker with `hot_spare` (real queen, local hive child, real workers): the queen passes
 * the flag to the hive, the hive keeps a loaded spare, and after a SIGKILL of the worker the spare
 * serves the next request under the same worker id.
 */
let q: TestQueen;
const killed: number[] = [];
beforeAll(async () => {
  // A health period long enough that a loaded machine never fails a check spuriously.
  q = await startTestQueen({ workerPolicy: { health_period_ms: 5_000 } });
}, 120_000);
afterAll(async () => {
  await q?.close();
  for (const pid of killed) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
});

const ready = (w: WorkerInfo | undefined): boolean => w?.state === 'idle' || w?.state === 'busy';

describe('declared worker with a hot spare', () => {
  it('SIGKILL the worker: the request after it is answered by the spare, same worker id', async () => {
    const created = await fetch(`${q.url}/v1/control/workers`, {
      method: 'POST',
      headers: { ...q.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ hive_id: 'local', id: 'hot', model: 'tiny.gguf', device: 'cpu', slots: 1, threads: 1, ctx: 256, hot_spare: true }),
    });
    expect(created.status).toBe(201);
    expect(((await created.json()) as WorkerEntry).spec).toMatchObject({ id: 'hot', hot_spare: true });

    const armed = await q.waitFor((s) => s.workers.some((w) => w.id === 'hot' && ready(w) && w.hot_spare?.state === 'ready'), 90_000);
    const before = armed.workers.find((w) => w.id === 'hot')!;
    const sparePid = before.hot_spare!.pid!;
    killed.push(before.pid!, sparePid);

    process.kill(before.pid!, 'SIGKILL');
    const after = await q.waitFor((s) => s.workers.some((w) => w.id === 'hot' && ready(w) && w.pid === sparePid), 60_000);
    expect(after.workers.filter((w) => w.model === 'tiny.gguf').map((w) => w.id)).toEqual(['hot']);

    const res = await fetch(`${q.url}/v1/completions`, {
      method: 'POST',
      headers: { ...q.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny.gguf', prompt: 'Hello', max_tokens: 3, temperature: 0 }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: Array<{ finish_reason: string }> };
    expect(body.choices).toHaveLength(1);
  }, 180_000);
});
