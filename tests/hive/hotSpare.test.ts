import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterEvent } from '../../src-shared/cluster/ClusterEvent.js';
import type { WorkerInfo } from '../../src-shared/cluster/WorkerInfo.js';
import { localRequest } from '../../src-main/common/http/localEndpoint.js';
import { endOf, streamInference } from '../helpers/sseClient.js';
import { waitFor } from '../helpers/waitFor.js';
import { EventStream, isAlive, startTestHive, tinySpawn, waitForPidGone, type TestHive } from './hiveHarness.js';

/**
 * WorkerSpec `hot_spare` on real processes: a second worker process that has loaded the model takes
 * over when the worker is SIGKILLed: same worker id, the spare's pid, answering at once. (How fast,
 * beyond the backoff, is a bench figure: scripts/bench/recovery.ts.)
 */
/** Short backoff; a health period long enough that a loaded machine never fails a check spuriously. */
const CALM_POLICY = { backoff_base_ms: 200, backoff_max_ms: 200, health_period_ms: 5_000 };

describe('hive: hot spare', () => {
  let t: TestHive | undefined;
  let events: EventStream | undefined;
  const pids: number[] = [];
  afterEach(async () => {
    events?.close();
    await t?.close();
    for (const pid of pids.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('SIGKILL the worker: its loaded spare takes over with the same id and answers; a new spare follows; removing the worker ends both', async () => {
    t = await startTestHive({ policy: CALM_POLICY });
    events = new EventStream(t.hive.url);
    await events.opened;
    const spawned = await t.api<WorkerInfo>('POST', '/v1/workers', tinySpawn({ id: 'hot', hot_spare: true }));
    expect(spawned.status).toBe(201);
    const ready = await events.waitForWorker('hot', (w) => w.state === 'idle', 60_000);
    pids.push(ready.pid!);

    // The spare loads after the worker is ready, and its memory is shown.
    const withSpare = await events.waitForWorker('hot', (w) => w.hot_spare?.state === 'ready', 90_000);
    const sparePid = withSpare.hot_spare!.pid!;
    pids.push(sparePid);
    expect(sparePid).not.toBe(ready.pid);
    expect(isAlive(sparePid)).toBe(true);
    expect(withSpare.hot_spare!.rss_bytes).toBeGreaterThan(0);
    // The spare is not the worker: one entry, the worker's own pid and port.
    expect((await t.api<{ workers: WorkerInfo[] }>('GET', '/v1/workers')).body.workers.map((w) => [w.id, w.pid])).toEqual([['hot', ready.pid]]);

    const mark = events.events.length;
    process.kill(ready.pid!, 'SIGKILL');
    const crashed = await events.waitForWorker('hot', (w) => w.state === 'crashed', 10_000, mark);
    expect(crashed.last_exit).toMatchObject({ signal: 'SIGKILL', reason: 'exit' });
    const back = await events.waitForWorker('hot', (w) => w.state === 'idle', 30_000, mark);
    expect(back.id).toBe('hot');
    expect(back.pid).toBe(sparePid);
    expect(back.restart_count).toBe(1);
    const spawns = t.audit.events.filter((e) => e.worker_id === 'hot' && e.event_type === 'worker_spawned');
    expect(spawns.map((e) => [e.details?.kind, e.details?.hot_spare ?? false])).toEqual([
      ['initial', false],
      ['restart', true],
    ]);

    // The worker id answers, with the worker's token, on the spare's endpoint.
    const creds = await t.api<{ url: string; token: string }>('GET', '/v1/workers/hot/credentials');
    const answer = await streamInference(`${creds.body.url}/v1/inference`, { prompt: 'Hello', max_tokens: 4, temperature: 0, ignore_eos: true }, { authorization: `Bearer ${creds.body.token}` });
    expect(answer.status).toBe(200);
    expect(endOf(answer)).toMatchObject({ stop_reason: 'max_tokens', tokens_out: 4 });

    // A new spare is prepared for the next crash.
    const next = await events.waitForWorker('hot', (w) => w.hot_spare?.state === 'ready' && w.hot_spare.pid !== sparePid, 90_000, mark);
    const nextSparePid = next.hot_spare!.pid!;
    pids.push(nextSparePid);
    expect(nextSparePid).not.toBe(ready.pid);

    // Removing the worker ends its process and its spare.
    expect((await t.api('DELETE', '/v1/workers/hot')).status).toBe(204);
    expect(await waitForPidGone(sparePid, 15_000)).toBe(true);
    expect(await waitForPidGone(nextSparePid, 15_000)).toBe(true);
  }, 240_000);

  it('socket workers: the spare listens on the second socket path, and two takeovers in a row alternate the paths', async () => {
    const socketDir = mkdtempSync(join(tmpdir(), 'rbee-spare-sock-'));
    try {
      t = await startTestHive({ socketDir, policy: CALM_POLICY });
      const hive = t.hive;
      const seen: ClusterEvent[] = [];
      const unsubscribe = hive.events.subscribe((e) => seen.push(e));
      try {
        const latest = (): WorkerInfo | undefined => hive.supervisor.list().find((w) => w.id === 'sock');
        const until = (what: string, predicate: (w: WorkerInfo) => boolean): Promise<WorkerInfo> =>
          waitFor(latest, (w) => w !== undefined && predicate(w), { what, timeoutMs: 90_000 }) as Promise<WorkerInfo>;
        await hive.supervisor.spawn({ model: 'tiny.gguf', id: 'sock', device: 'cpu', slots: 1, threads: 1, ctx: 256, hot_spare: true });
        const paths: string[] = [];
        let current = await until('the worker and its spare ready', (w) => w.state === 'idle' && w.hot_spare?.state === 'ready');
        for (let round = 0; round < 2; round++) {
          const endpoint = hive.supervisor.get('sock').endpoint();
          expect(endpoint && 'socketPath' in endpoint).toBe(true);
          paths.push((endpoint as { socketPath: string }).socketPath);
          const sparePid = current.hot_spare!.pid!;
          pids.push(current.pid!, sparePid);
          process.kill(current.pid!, 'SIGKILL');
          current = await until('the spare serving', (w) => w.state === 'idle' && w.pid === sparePid);
          const health = await localRequest(hive.supervisor.get('sock').endpoint()!, '/health', { timeoutMs: 10_000 });
          expect(health.status).toBe(200);
          if (round === 0) current = await until('a new spare', (w) => w.state === 'idle' && w.hot_spare?.state === 'ready');
        }
        paths.push((hive.supervisor.get('sock').endpoint() as { socketPath: string }).socketPath);
        expect(paths[0]).toBe(join(socketDir, 'w-sock.sock'));
        expect(paths[1]).toBe(join(socketDir, 'w-sock.spare.sock'));
        expect(paths[2]).toBe(paths[0]);
        expect(seen.some((e) => e.type === 'worker_updated' && e.worker.state === 'failed')).toBe(false);
      } finally {
        unsubscribe();
      }
    } finally {
      await t?.close();
      t = undefined;
      rmSync(socketDir, { recursive: true, force: true });
    }
  }, 240_000);
});
