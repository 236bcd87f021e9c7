import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HOP_BUFFER_MS } from '../../src-shared/deadline/Deadline.js';
import { endOf, streamInference, tokensOf, type StreamResult } from '../helpers/sseClient.js';
import { MODEL, startTestQueen, type TestQueen } from './queenHarness.js';

let q: TestQueen;
beforeAll(async () => {
  q = await startTestQueen({ models: [MODEL, 'spare.gguf'] });
  await Promise.all([q.spawn({ slots: 1 }), q.spawn({ slots: 1 })]);
});
afterAll(async () => {
  await q?.close();
});

const infer = (body: Record<string, unknown>, headers: Record<string, string> = {}, options: Parameters<typeof streamInference>[3] = {}): Promise<StreamResult> =>
  streamInference(`${q.url}/v1/inference`, { model: MODEL, prompt: 'hello', ...body }, { ...q.auth, ...headers }, options);

describe('queen scheduling across two workers', () => {
  it('completes 8 concurrent streams and spreads them over both workers', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => infer({ max_tokens: 64, ignore_eos: true })));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(endOf(r)?.stop_reason).toBe('max_tokens');
    }
    const servedBy = new Set(results.map((r) => r.headers.get('x-rbee-worker')));
    expect(servedBy.size).toBe(2);
  });

  it('a client that goes away frees its slot at once: the next request is served within 1 s', async () => {
    // Occupy both single-slot workers, then walk away from one stream.
    const controller = new AbortController();
    let firstToken!: () => void;
    const gotToken = new Promise<void>((r) => (firstToken = r));
    const walkAway = infer({ max_tokens: 2048, ignore_eos: true }, {}, {
      signal: controller.signal,
      onEvent: (e) => e.event !== 'done' && e.event.type === 'token' && firstToken(),
    }).catch(() => undefined);
    const other = infer({ max_tokens: 2048, ignore_eos: true });
    await gotToken;
    controller.abort();
    await walkAway;
    const next = await infer({ max_tokens: 4 }, { 'x-deadline-remaining-ms': '1000' });
    expect(next.status).toBe(200);
    expect(endOf(next)).toBeDefined();
    await other;
  });
});

describe('queen cancel', () => {
  it('DELETE /v1/inference/{job_id} on the queen cancels the job on its worker (stop_reason cancelled)', async () => {
    let jobId: string | undefined;
    let gotToken!: () => void;
    const tokenSeen = new Promise<void>((r) => (gotToken = r));
    const stream = infer({ max_tokens: 2048, ignore_eos: true }, {}, {
      onEvent: (e) => {
        if (e.event !== 'done' && e.event.type === 'started') jobId = e.event.job_id;
        if (e.event !== 'done' && e.event.type === 'token') gotToken();
      },
    });
    await tokenSeen;
    const del = await fetch(`${q.url}/v1/inference/${jobId}`, { method: 'DELETE', headers: q.auth });
    expect(del.status).toBe(204);
    const result = await stream;
    expect(endOf(result)?.stop_reason).toBe('cancelled');
    expect((await fetch(`${q.url}/v1/inference/${jobId}`, { method: 'DELETE', headers: q.auth })).status).toBe(404);
  });
});

describe('queen deadlines', () => {
  it('a past deadline gets 504 before any routing (even for an unknown model)', async () => {
    const r = await infer({ model: 'no-such-model.gguf', max_tokens: 4 }, { 'x-deadline': String(Date.now() - 5) });
    expect(r.status).toBe(504);
    expect((r.json as { error: { code: string } }).error.code).toBe('DEADLINE_EXCEEDED');
  });

  it('a short deadline ends the stream with stop_reason deadline, and the slots are free again', async () => {
    const r = await infer({ max_tokens: 2048, ignore_eos: true }, { 'x-deadline-remaining-ms': '300' });
    expect(r.status).toBe(200);
    expect(endOf(r)?.stop_reason).toBe('deadline');
    const [a, b] = await Promise.all([infer({ max_tokens: 4 }, { 'x-deadline-remaining-ms': '2000' }), infer({ max_tokens: 4 }, { 'x-deadline-remaining-ms': '2000' })]);
    expect([a.status, b.status]).toEqual([200, 200]);
  });

  it('forwards a deadline minus a buffer and never extends it downstream', async () => {
    const before = Date.now();
    const r = await infer({ max_tokens: 4 }, { 'x-deadline-remaining-ms': '1500' });
    const after = Date.now();
    const started = r.events.find((e) => e.event !== 'done' && e.event.type === 'started')?.event as { deadline_at: number };
    // The queen got the request at some t in [before, after] and handed the worker its remaining time
    // minus the hop buffer; the worker counts that from its own arrival (≤ after). So the worker's
    // deadline is at most `after + 1500 - buffer` however slow the hops were, and an extended one (the
    // worker's 60 s default, say) fails. Bounding it by `before` instead would measure the machine.
    expect(started.deadline_at).toBeLessThanOrEqual(after + 1500 - DEFAULT_HOP_BUFFER_MS);
    expect(started.deadline_at).toBeGreaterThan(before + 1000);
  });
});

describe('queen deadline ceiling', () => {
  it('a deadline beyond the queen’s own limit (10 min) is cut to that limit before it reaches the worker', async () => {
    const before = Date.now();
    const r = await infer({ max_tokens: 2 }, { 'x-deadline-remaining-ms': String(3_600_000) });
    const started = r.events.find((e) => e.event !== 'done' && e.event.type === 'started')?.event as { deadline_at: number };
    expect(started.deadline_at).toBeLessThanOrEqual(Date.now() + 600_000);
    expect(started.deadline_at).toBeGreaterThan(before + 590_000);
  });
});

describe('queen on-demand workers', () => {
  it('a request for a catalog model nobody serves starts a worker and is answered within its deadline', async () => {
    expect(q.readyWorkers('spare.gguf')).toHaveLength(0);
    const r = await infer({ model: 'spare.gguf', max_tokens: 4 }, { 'x-deadline-remaining-ms': '30000' });
    expect(r.status).toBe(200);
    expect(endOf(r)).toBeDefined();
    await q.waitFor((s) => s.workers.some((w) => w.model === 'spare.gguf'));
  });
});

describe('queen resilience', () => {
  it('a worker SIGKILLed while requests are queued: every request that had not started yet still succeeds', async () => {
    const snapshot = await q.waitFor((s) => s.workers.filter((w) => w.model === MODEL && (w.state === 'idle' || w.state === 'busy')).length === 2);
    const victim = snapshot.workers.find((w) => w.model === MODEL)!;
    const total = 8;
    let killedAt = Number.POSITIVE_INFINITY;
    let streaming = 0;
    let killNow!: () => void;
    const streamsGoing = new Promise<void>((r) => (killNow = r));
    const runs = Array.from({ length: total }, () => {
      let firstTokenAt = Number.POSITIVE_INFINITY;
      return infer({ max_tokens: 300, ignore_eos: true }, { 'x-deadline-remaining-ms': '30000' }, {
        onEvent: (e) => {
          if (e.event !== 'done' && e.event.type === 'token' && firstTokenAt === Number.POSITIVE_INFINITY) {
            firstTokenAt = Date.now();
            if (++streaming === 2) killNow();
          }
        },
      }).then((result) => ({ result, firstTokenAt }));
    });
    await streamsGoing;
    killedAt = Date.now();
    process.kill(victim.pid!, 'SIGKILL');
    const outcomes = await Promise.all(runs);
    const queuedAtKill = outcomes.filter((o) => o.firstTokenAt > killedAt);
    expect(queuedAtKill.length).toBeGreaterThan(0);
    for (const o of queuedAtKill) {
      expect(o.result.status).toBe(200);
      expect(endOf(o.result)?.stop_reason).toBe('max_tokens');
    }
    // The one streaming on the killed worker fails honestly: an error event, never a fake end.
    for (const o of outcomes) {
      if (endOf(o.result)) continue;
      expect(o.result.events.some((e) => e.event !== 'done' && e.event.type === 'error')).toBe(true);
      expect(tokensOf(o.result).length).toBeGreaterThan(0);
    }
    await q.waitFor((s) => s.workers.find((w) => w.id === victim.id)?.restart_count === 1 && ['idle', 'busy'].includes(s.workers.find((w) => w.id === victim.id)!.state));
  });

  it('killing the local hive daemon: the queen marks it unreachable, restarts it, and it comes back online', async () => {
    const pid = q.queen.localHivePid?.();
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');
    await q.waitFor((s) => s.hives.find((h) => h.id === 'local')?.state !== 'online');
    const back = await q.waitFor((s) => {
      const hive = s.hives.find((h) => h.id === 'local');
      return hive?.state === 'online' && hive.restart_count === 1;
    });
    expect(q.queen.localHivePid?.()).not.toBe(pid);
    expect(back.hives[0]?.message).toBeNull();
  });
});
