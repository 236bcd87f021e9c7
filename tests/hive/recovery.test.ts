import { afterEach, describe, expect, it } from 'vitest';
import { EventStream, startTestHive, tinySpawn, type TestHive } from './hiveHarness.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';

describe('hive: crash recovery (acceptance 1)', () => {
  let t: TestHive | undefined;
  let events: EventStream | undefined;
  afterEach(async () => {
    events?.close();
    await t?.close();
  });

  it('SIGKILL a ready worker → crashed → backoff (~1 s) → restarted → ready, restart_count 1, in order on /v1/events', async () => {
    // Default backoff numbers (1 s base, ±20 %): the acceptance measures them.
    t = await startTestHive({ policy: { backoff_base_ms: 1_000, backoff_max_ms: 60_000 }, standbyRefillDelayMs: 0 });
    events = new EventStream(t.hive.url);
    await events.opened;
    const spawned = await t.api<WorkerInfo>('POST', '/v1/workers', tinySpawn({ id: 'w1' }));
    expect(spawned.status).toBe(201);
    expect(spawned.body.state).toBe('loading');
    const ready = await events.waitForWorker('w1', (w) => w.state === 'idle');
    expect(ready.pid).toBeGreaterThan(0);
    expect(ready.port).toBeGreaterThan(0);
    expect(ready.restart_count).toBe(0);

    const mark = events.events.length;
    const killedAt = Date.now();
    process.kill(ready.pid!, 'SIGKILL');
    const crashed = await events.waitForWorker('w1', (w) => w.state === 'crashed', 30_000, mark);
    expect(crashed.last_exit).toMatchObject({ signal: 'SIGKILL', reason: 'exit' });
    const backoff = await events.waitForWorker('w1', (w) => w.state === 'backoff', 30_000, mark);
    // The delay the policy decided (audited: an exact number, no clock) is 1 s within jitter, and the
    // restart was scheduled no earlier than the exit plus that delay (a lower bound: load only adds).
    const scheduled = t.audit.events.filter((e) => e.worker_id === 'w1' && e.event_type === 'worker_restart_scheduled');
    expect(scheduled).toHaveLength(1);
    const delay = Number(scheduled[0]!.details?.delay_ms);
    expect(delay).toBeGreaterThanOrEqual(800);
    expect(delay).toBeLessThanOrEqual(1_200);
    expect(backoff.next_restart_at! - backoff.last_exit!.at).toBeGreaterThanOrEqual(delay);
    const loading = await events.waitForWorker('w1', (w) => w.state === 'loading', 30_000, mark);
    expect(loading.pid).not.toBe(ready.pid);
    expect(loading.restart_count).toBe(1);
    const again = await events.waitForWorker('w1', (w) => w.state === 'idle', 30_000, mark);
    expect(again.restart_count).toBe(1);
    expect(again.pid).toBe(loading.pid);
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(800);

    // The order as observed on the stream.
    const after = events.states('w1').slice(events.states('w1').lastIndexOf('idle', -2) >= 0 ? 0 : 0);
    const seq = after.slice(after.indexOf('crashed'));
    expect(seq).toEqual(['crashed', 'backoff', 'loading', 'idle']);
    const seqNumbers = events.events.map((e) => e.seq);
    expect([...seqNumbers].sort((a, b) => a - b)).toEqual(seqNumbers);

    expect(t.audit.types('w1')).toEqual(
      expect.arrayContaining(['worker_spawned', 'worker_ready', 'worker_crashed', 'worker_restart_scheduled', 'worker_restarted']),
    );
    // The restart was handed to a pre-started (warm) standby process.
    const spawns = t.audit.events.filter((e) => e.worker_id === 'w1' && e.event_type === 'worker_spawned');
    expect(spawns.map((e) => e.details?.kind)).toEqual(['initial', 'restart']);
    expect(spawns[1]!.details?.warm).toBe(true);
    expect(spawns[1]!.details?.pid).toBe(loading.pid);
    // The worker answers on its new port with its own token.
    const creds = await t.api<{ url: string; token: string }>('GET', '/v1/workers/w1/credentials');
    const health = await fetch(`${creds.body.url}/health`);
    expect(health.status).toBe(200);
  });
});
