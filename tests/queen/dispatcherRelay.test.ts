import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../src-shared/api/ApiError.js';
import { Deadline } from '../../src-shared/deadline/Deadline.js';
import { HiveRoutes } from '../../src-shared/hive/hiveApi.js';
import { encodeSseEvent, type EndEvent, type InferenceEvent, type StartedEvent } from '../../src-shared/worker/inferenceWire.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { ClusterView } from '../../src-main/queen/cluster/ClusterView.js';
import { HiveClient } from '../../src-main/queen/hives/HiveClient.js';
import { InferenceDispatcher, type InferenceSink } from '../../src-main/queen/inference/InferenceDispatcher.js';
import { Scheduler } from '../../src-main/queen/scheduling/Scheduler.js';
import { ev, hive, worker } from '../helpers/clusterFixtures.js';
import { waitFor } from '../helpers/waitFor.js';

/**
 * The dispatcher's relay (its decisions are relayState.ts) over real HTTP, against scripted workers:
 * the misbehaviours a real worker cannot be made to show on cue (an error or garbage before the first
 * token, a socket cut mid-stream). The hive in front of them is a real HTTP server answering the
 * credentials route the queen's real HiveClient calls.
 */
type Script = (res: http.ServerResponse) => void;

interface ScriptedWorker {
  id: string;
  url: string;
  /** Inference requests it received. */
  requests: number;
  /** Requests whose connection closed before the worker finished its answer. */
  droppedEarly: number;
}

const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(server: http.Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function scriptedWorker(id: string, script: Script): Promise<ScriptedWorker> {
  const state: ScriptedWorker = { id, url: '', requests: 0, droppedEarly: 0 };
  state.url = await listen(
    http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        state.requests++;
        res.on('close', () => {
          if (!res.writableFinished) state.droppedEarly++;
        });
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        script(res);
      });
    }),
  );
  return state;
}

const started = (job: string): string => encodeSseEvent({ type: 'started', job_id: job, model: 'm' });
const token = (t: string, i: number): string => encodeSseEvent({ type: 'token', t, i });
const END: EndEvent = { type: 'end', tokens_out: 2, decode_ms: 1, stop_reason: 'eos' };
const DONE = 'data: [DONE]\n\n';
const answer = (job: string): Script => (res) => res.end(started(job) + token('a', 0) + token('b', 1) + encodeSseEvent(END) + DONE);

/**
 * Workers (in pick order) behind one real hive HTTP server, a ClusterView, a Scheduler and the dispatcher.
 * `keepAlive`: the queen's agent keeps sockets (as in production); `cutCredentials`: the hive cuts
 * that many credentials calls (their socket destroyed before any answer) before it answers.
 */
async function cluster(workers: ScriptedWorker[], options: { keepAlive?: boolean; cutCredentials?: number } = {}): Promise<{ dispatcher: InferenceDispatcher; scheduler: Scheduler }> {
  let cuts = options.cutCredentials ?? 0;
  const hiveUrl = await listen(
    http.createServer((req, res) => {
      if (cuts > 0) {
        cuts--;
        req.socket.destroy();
        return;
      }
      const found = workers.find((w) => req.url === HiveRoutes.workerCredentials(w.id));
      res.writeHead(found ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(found ? { worker_id: found.id, url: found.url, token: 'worker-token' } : { error: { code: 'WORKER_NOT_FOUND', message: 'no' } }));
    }),
  );
  const view = new ClusterView();
  view.upsertHive(hive({ id: 'local' }));
  const infos = workers.map((w, i) => worker({ id: w.id, model: 'm', pid: 100 + i, slots: { total: 1, free: 1 } }));
  view.applyHiveEvent('local', ev({ type: 'snapshot', snapshot: { hives: [hive({ id: 'local' })], workers: infos, models: [] } }, 1));
  const scheduler = new Scheduler(view);
  const client = new HiveClient({ id: 'local', baseUrl: hiveUrl, token: 'hive-token', agent: new http.Agent({ keepAlive: options.keepAlive ?? false }) });
  const dispatcher = new InferenceDispatcher(scheduler, (id) => (id === 'local' ? client : undefined), createLogger('queen', { level: 'silent' }));
  return { dispatcher, scheduler };
}

interface Recorded {
  sink: InferenceSink;
  starts: Array<{ job: string; worker: string }>;
  events: Array<Exclude<InferenceEvent, StartedEvent>>;
  raw: string;
}

function recordingSink(relay = false): Recorded {
  const recorded: Recorded = {
    starts: [],
    events: [],
    raw: '',
    sink: {
      started: (event, w) => recorded.starts.push({ job: event.job_id, worker: w.id }),
      event: (event) => recorded.events.push(event),
      ...(relay ? { raw: (text: string) => (recorded.raw += text) } : {}),
    },
  };
  return recorded;
}

const request = { model: 'm', prompt: 'hi', max_tokens: 4 } as const;
const context = (signal: AbortSignal = new AbortController().signal) => ({ deadline: Deadline.in(60_000), requestId: 'req-1', signal });

describe('InferenceDispatcher relay against scripted workers (real HTTP)', () => {
  it("a worker's error before the first token goes to the next worker; the client sees only the second worker", async () => {
    const a = await scriptedWorker('a', (res) => res.end(started('job-a') + encodeSseEvent({ type: 'error', code: 'INTERNAL', message: 'boom' })));
    const b = await scriptedWorker('b', answer('job-b'));
    const { dispatcher, scheduler } = await cluster([a, b]);
    const out = recordingSink();
    const result = await dispatcher.dispatch(request, context(), out.sink);
    expect(result).toMatchObject({ end: END, attempts: 2 });
    expect(out.starts).toEqual([{ job: 'job-b', worker: 'b' }]);
    expect(out.events.map((e) => e.type)).toEqual(['token', 'token', 'end']);
    expect([a.requests, b.requests]).toEqual([1, 1]);
    expect(scheduler.inFlightOf('local/a') + scheduler.inFlightOf('local/b')).toBe(0);
  });

  it('garbage before the first token, or a stream that ends before it, also goes to the next worker', async () => {
    for (const first of [(res: http.ServerResponse) => res.end(started('job-a') + 'event: token\ndata: {not json\n\n'), (res: http.ServerResponse) => res.end(started('job-a'))]) {
      const a = await scriptedWorker('a', first);
      const b = await scriptedWorker('b', answer('job-b'));
      const { dispatcher } = await cluster([a, b]);
      const out = recordingSink();
      expect(await dispatcher.dispatch(request, context(), out.sink)).toMatchObject({ end: END, attempts: 2 });
      expect(out.starts.map((s) => s.worker)).toEqual(['b']);
    }
  });

  it('when every worker failed before its first token, the request waits for one to come back until its deadline: a 504, never a stream', async () => {
    const a = await scriptedWorker('a', (res) => res.end(started('job-a')));
    const b = await scriptedWorker('b', (res) => res.end(started('job-b')));
    const { dispatcher, scheduler } = await cluster([a, b]);
    const out = recordingSink();
    // A worker that failed a request is usually about to crash and restart (a new pid it may serve
    // from): the scheduler keeps the request queued for it rather than refusing at once.
    const error = await dispatcher.dispatch(request, { ...context(), deadline: Deadline.in(1_000) }, out.sink).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 504, code: 'DEADLINE_EXCEEDED' });
    expect(out.starts).toEqual([]);
    expect([a.requests, b.requests]).toEqual([1, 1]);
    expect(scheduler.queueLength).toBe(0);
  });

  it("a failed call to the worker's hive (credentials) does not write the worker off: the only worker serves the request at once", async () => {
    const a = await scriptedWorker('a', answer('job-a'));
    const { dispatcher, scheduler } = await cluster([a], { cutCredentials: 1 });
    const out = recordingSink();
    // Written off, the request would wait for a restart of `a` that never comes: a 504 at this deadline.
    const result = await dispatcher.dispatch(request, { ...context(), deadline: Deadline.in(10_000) }, out.sink);
    expect(result).toMatchObject({ end: END, attempts: 2 });
    expect(out.starts).toEqual([{ job: 'job-a', worker: 'a' }]);
    expect(a.requests).toBe(1);
    expect(scheduler.queueLength).toBe(0);
  });

  it('a kept-alive socket the worker closes under a request: sent again on a fresh socket to the same worker, not written off', async () => {
    // The worker answers, keeps the connection, then drops it when the next request arrives on it:
    // on the queen's side, a reset on a reused socket before any answer (the idle-timeout race).
    const a = await scriptedWorker('a', (res) => {
      if (a.requests === 2) res.socket?.destroy();
      else answer(`job-a${a.requests}`)(res);
    });
    const { dispatcher } = await cluster([a], { keepAlive: true });
    expect(await dispatcher.dispatch(request, context(), recordingSink().sink)).toMatchObject({ end: END, attempts: 1 });
    const out = recordingSink();
    const result = await dispatcher.dispatch(request, { ...context(), deadline: Deadline.in(10_000) }, out.sink);
    expect(result).toMatchObject({ end: END, attempts: 2 });
    expect(out.starts).toEqual([{ job: 'job-a3', worker: 'a' }]);
    expect(a.requests).toBe(3);
  });

  it('a socket cut after the first token is told in the stream (UPSTREAM_ERROR) and never retried', async () => {
    const out = recordingSink();
    const a = await scriptedWorker('a', (res) => {
      res.write(started('job-a') + token('a', 0));
      // Once the queen has relayed the token, the connection drops mid-stream.
      void waitFor(() => out.events.length, (n) => n === 1, { what: 'the first token relayed' }).then(() => res.destroy());
    });
    const b = await scriptedWorker('b', answer('job-b'));
    const { dispatcher } = await cluster([a, b]);
    const result = await dispatcher.dispatch(request, context(), out.sink);
    expect(result).toMatchObject({ end: null, attempts: 1 });
    expect(out.events[0]).toMatchObject({ type: 'token', t: 'a' });
    expect(out.events.at(-1)).toMatchObject({ type: 'error', code: 'UPSTREAM_ERROR', message: expect.stringMatching(/^worker stream broke: /) });
    expect(b.requests).toBe(0);
  });

  it("the worker's error after the first token is passed on as it came, not retried", async () => {
    const a = await scriptedWorker('a', (res) => res.end(started('job-a') + token('a', 0) + encodeSseEvent({ type: 'error', code: 'INTERNAL', message: 'late' }) + DONE));
    const b = await scriptedWorker('b', answer('job-b'));
    const { dispatcher } = await cluster([a, b]);
    const out = recordingSink();
    expect(await dispatcher.dispatch(request, context(), out.sink)).toMatchObject({ end: null, attempts: 1 });
    expect(out.events).toEqual([{ type: 'token', t: 'a', i: 0 }, { type: 'error', code: 'INTERNAL', message: 'late' }]);
    expect(b.requests).toBe(0);
  });

  it("relay mode hands the worker's bytes over unchanged, including what came before the first token", async () => {
    const a = await scriptedWorker('a', answer('job-a'));
    const { dispatcher } = await cluster([a]);
    const out = recordingSink(true);
    expect(await dispatcher.dispatch(request, context(), out.sink)).toMatchObject({ end: END, attempts: 1 });
    expect(out.raw).toBe(started('job-a') + token('a', 0) + token('b', 1) + encodeSseEvent(END) + DONE);
    expect(out.events).toEqual([]);
    expect(out.starts).toEqual([{ job: 'job-a', worker: 'a' }]);
  });

  it('a client that goes away after the first token ends the answer as cancelled and drops the worker request', async () => {
    const a = await scriptedWorker('a', (res) => res.write(started('job-a') + token('a', 0))); // then nothing: an endless worker
    const { dispatcher } = await cluster([a]);
    const client = new AbortController();
    const out = recordingSink();
    const pending = dispatcher.dispatch(request, context(client.signal), out.sink);
    await waitFor(() => out.events.length, (n) => n === 1, { what: 'the first token relayed' });
    client.abort();
    expect(await pending).toMatchObject({ end: { type: 'end', tokens_out: 0, stop_reason: 'cancelled' }, attempts: 1 });
    await waitFor(() => a.droppedEarly, (n) => n === 1, { what: 'the worker request dropped' });
    expect(await dispatcher.cancel('job-a')).toBe(false); // no longer tracked once answered
  });
});
