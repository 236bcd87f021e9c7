import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterEvent } from '../../src-shared/cluster/ClusterEvent.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import { unloadableTinyModel } from '../helpers/tinyModel.js';
import { MODEL, startTestQueen, type TestQueen } from './queenHarness.js';

/**
 * The on-demand rules with real processes: a local hive, real workers, and a GGUF written by the
 * project's writer whose header parses but whose tensor data is cut (every load fails for real).
 */
const BROKEN = 'broken.gguf';
const POLICY = {
  backoff_base_ms: 200,
  jitter_ratio: 0,
  max_restarts: 10,
  breaker_failures: 3,
  breaker_window_ms: 600_000,
  breaker_cooldown_ms: 2_500,
  load_timeout_ms: 60_000,
  health_period_ms: 250,
};
/** How long the four clients hammer the broken model (CI-sized; the figure is 60 s). */
const LOOP_MS = 12_000;

let q: TestQueen;
const events: ClusterEvent[] = [];
let unsubscribe: () => void = () => undefined;

beforeAll(async () => {
  q = await startTestQueen({
    models: [MODEL, 'spare.gguf'],
    workerPolicy: POLICY,
    extra: { onDemandIdleTtlMs: 1_500 },
    prepareModels: async (dir) => {
      writeFileSync(join(dir, BROKEN), await unloadableTinyModel());
    },
  });
  unsubscribe = q.queen.control.subscribe((event) => events.push(event));
}, 120_000);
afterAll(async () => {
  unsubscribe();
  await q?.close();
});

interface Answer {
  status: number;
  code: string | undefined;
  retryAfter: string | null;
  sentAt: number;
}

async function ask(model: string, deadlineMs = 60_000): Promise<Answer> {
  const sentAt = Date.now();
  const res = await fetch(`${q.url}/v1/inference`, {
    method: 'POST',
    headers: { ...q.auth, 'content-type': 'application/json', 'x-deadline-remaining-ms': String(deadlineMs) },
    body: JSON.stringify({ model, prompt: 'hello', max_tokens: 4 }),
  });
  const text = await res.text();
  let code: string | undefined;
  if (res.status !== 200) code = (JSON.parse(text) as { error: { code: string } }).error.code;
  return { status: res.status, code, retryAfter: res.headers.get('retry-after'), sentAt };
}

function updatesOf(model: string): WorkerInfo[] {
  return events.flatMap((e) => (e.type === 'worker_updated' && e.worker.model === model ? [e.worker] : []));
}

describe('on-demand start of a model that never loads', () => {
  it('4 clients in a loop: one worker entry, spawns bounded by the policy, every answer 503 MODEL_UNAVAILABLE with Retry-After', async () => {
    const answers: Answer[] = [];
    const until = Date.now() + LOOP_MS;
    const client = async (): Promise<void> => {
      while (Date.now() < until) answers.push(await ask(BROKEN));
    };
    await Promise.all([client(), client(), client(), client()]);

    const updates = updatesOf(BROKEN);
    const ids = new Set(updates.map((w) => `${w.hive}/${w.id}`));
    expect([...ids]).toHaveLength(1);
    const spawns = new Set(updates.flatMap((w) => (w.pid === null ? [] : [w.pid]))).size;
    let halfOpens = 0;
    let previous = 'closed';
    let opensUntil: number | null = null;
    for (const e of events) {
      if (e.type !== 'worker_updated' || e.worker.model !== BROKEN) continue;
      const w = e.worker;
      if (w.breaker.state === 'open') opensUntil = w.breaker.opens_until;
      if (w.breaker.state === 'half_open' && previous !== 'half_open') {
        halfOpens += 1;
        // A trial needs a cooldown first: each half-open came after the open breaker's opens_until
        // (a lower bound on the event's own stamp, so load cannot break it; 5 ms for timer rounding).
        expect(opensUntil).not.toBeNull();
        expect(e.at).toBeGreaterThanOrEqual(opensUntil! - 5);
      }
      previous = w.breaker.state;
    }
    // Before the breaker opens: the first start plus (breaker_failures - 1) restarts; then one trial per half-open.
    expect(spawns).toBeGreaterThanOrEqual(1);
    expect(spawns).toBeLessThanOrEqual(POLICY.breaker_failures + halfOpens);

    expect(answers.length).toBeGreaterThan(4);
    for (const a of answers) {
      expect({ status: a.status, code: a.code }).toEqual({ status: 503, code: 'MODEL_UNAVAILABLE' });
      expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    }
    // The entry is still the one failed worker: nothing was added by client traffic afterwards.
    const snapshot = await q.queen.control.getSnapshot();
    expect(snapshot.workers.filter((w) => w.model === BROKEN)).toHaveLength(1);
  }, 120_000);
});

describe('on-demand rules for stopped workers', () => {
  it('an operator-stopped worker answers 503 MODEL_STOPPED and no new worker appears', async () => {
    const info = await q.spawn({ model: MODEL, slots: 1 });
    await q.queen.control.stopWorker('local', info.id);
    await q.waitFor((s) => s.workers.some((w) => w.id === info.id && w.state === 'stopped'));
    const answer = await ask(MODEL);
    expect({ status: answer.status, code: answer.code }).toEqual({ status: 503, code: 'MODEL_STOPPED' });
    const snapshot = await q.queen.control.getSnapshot();
    expect(snapshot.workers.filter((w) => w.model === MODEL).map((w) => w.id)).toEqual([info.id]);
  }, 180_000); // process-heavy (on-demand worker starts): generous on a loaded 2-core machine

  it('a worker stopped by its idle TTL starts again with the same id and answers', async () => {
    const first = await ask('spare.gguf');
    expect(first.status).toBe(200);
    const stopped = await q.waitFor((s) => s.workers.some((w) => w.model === 'spare.gguf' && w.state === 'stopped' && w.stopped_by === 'idle_ttl'));
    const worker = stopped.workers.find((w) => w.model === 'spare.gguf')!;
    const again = await ask('spare.gguf');
    expect(again.status).toBe(200);
    const snapshot = await q.queen.control.getSnapshot();
    expect(snapshot.workers.filter((w) => w.model === 'spare.gguf').map((w) => w.id)).toEqual([worker.id]);
  }, 180_000); // process-heavy (on-demand worker starts): generous on a loaded 2-core machine
});

/** A copy of a GGUF whose tensor `name` has its first dimension halved (tensor info: name, u32 n_dims, u64 dims). */
