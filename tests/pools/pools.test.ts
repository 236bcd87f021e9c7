import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenFingerprint } from '../../src-main/auth/tokenFingerprint.js';
import { startRbee } from '../helpers/childProcess.js';
import { HOSTILE_MODELS, SPLIT_BYTES_STREAM, startHostileEngine } from './hostileEngine.js';
import { FrontQueen, UPSTREAM_MODEL, UpstreamQueen } from './poolHarness.js';
import { waitFor } from '../helpers/waitFor.js';

/** Every file under `dir`, recursively, as text. */
function allText(dir: string): string {
  return readdirSync(dir, { withFileTypes: true })
    .map((e) => (e.isDirectory() ? allText(join(dir, e.name)) : e.isFile() ? readFileSync(join(dir, e.name), 'utf8') : ''))
    .join('\n');
}

const upstream = new UpstreamQueen();
const front = new FrontQueen();
let hostile: Awaited<ReturnType<typeof startHostileEngine>>;

beforeAll(async () => {
  await Promise.all([upstream.start(), front.start()]);
  hostile = await startHostileEngine();
}, 300_000);

afterAll(async () => {
  await front.dispose();
  await upstream.dispose();
  await hostile?.close();
}, 60_000);

describe('pools: an upstream rbee queen behind the queen', () => {
  it('adds a pool (key stored 0600, shown only as token:<fp6>), discovers its models, and lists them in /v1/models', async () => {
    const res = await front.addPool({ name: 'up', base_url: `${upstream.url}/v1`, api_key: upstream.token, health_period_ms: 200, breaker_failures: 2, breaker_cooldown_ms: 1_500 });
    expect(res.status).toBe(201);
    const added = (await res.json()) as { pool: { key_fingerprint: string; key_storage: string } };
    expect(added.pool.key_fingerprint).toBe(tokenFingerprint(upstream.token));
    expect(added.pool.key_storage).toBe('file');
    expect(JSON.stringify(added)).not.toContain(upstream.token);
    const keyFile = join(front.dataDir, 'pool-keys', 'up.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(front.dataDir, 'pools.json'), 'utf8')).not.toContain(upstream.token);

    const pool = await waitFor(() => front.pool('up'), (p) => p?.health === 'online' && p.models.some((m) => m.id === UPSTREAM_MODEL), { timeoutMs: 30_000, what: 'pool online', retryErrors: true });
    expect(pool!.breaker.state).toBe('closed');
    const models = (await (await fetch(`${front.url}/v1/models`, { headers: front.auth })).json()) as { data: Array<{ id: string; owned_by: string }> };
    expect(models.data).toContainEqual(expect.objectContaining({ id: `up/${UPSTREAM_MODEL}`, owned_by: 'pool:up' }));

    // A second add under the same name is a conflict, not a silent overwrite; bad input is a 400.
    expect((await front.addPool({ name: 'up', base_url: `${upstream.url}/v1` })).status).toBe(409);
    expect((await front.addPool({ name: 'bad/name', base_url: `${upstream.url}/v1` })).status).toBe(400);
    expect((await front.addPool({ name: 'x', base_url: 'ftp://example' })).status).toBe(400);
  });

  it('the official OpenAI SDK streams and non-streams through the pool (pool/model and a unique bare name)', async () => {
    const client = new OpenAI({ baseURL: `${front.url}/v1`, apiKey: front.token, maxRetries: 0 });
    // Greedy (temperature 0) where tokens are counted: deterministic, and these prompts do not end at once
    // (sampled answers of the tiny model may).
    const answer = await client.chat.completions.create({ model: `up/${UPSTREAM_MODEL}`, messages: [{ role: 'user', content: 'hello' }], max_tokens: 6, temperature: 0 });
    expect(answer.object).toBe('chat.completion');
    expect(typeof answer.choices[0]?.message.content).toBe('string');
    expect(answer.usage?.completion_tokens).toBeGreaterThan(0);

    const stream = await client.chat.completions.create({ model: UPSTREAM_MODEL, messages: [{ role: 'user', content: 'hello' }], max_tokens: 6, temperature: 0, stream: true });
    let text = '';
    let finish: string | null = null;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(chunks).toBeGreaterThan(1);
    expect(text.length).toBeGreaterThan(0);
    expect(finish).not.toBeNull();

    const completion = await client.completions.create({ model: `up/${UPSTREAM_MODEL}`, prompt: 'once upon', max_tokens: 4 });
    expect(completion.choices[0]?.text).toBeTypeOf('string');

    // Per-pool metrics: requests, TTFT and tokens from the engine's usage.
    const metrics = await (await fetch(`${front.url}/metrics`, { headers: front.auth })).text();
    expect(metrics).toMatch(/rbee_pool_requests_total\{pool="up",outcome="ok"\} [3-9]/);
    expect(metrics).toMatch(/rbee_pool_tokens_total\{pool="up",kind="completion"\} \d+/);
    expect(metrics).toMatch(/rbee_pool_ttft_seconds_count\{pool="up"\} [3-9]/);
  });

  it('hostile engine answers each become a clean error, and the queen keeps serving', async () => {
    const res = await front.addPool({ name: 'bad', base_url: hostile.url, max_body_bytes: 1024 * 1024, breaker_failures: 1000, health_period_ms: 60_000 });
    expect(res.status).toBe(201);
    await waitFor(() => front.pool('bad'), (p) => p?.models.length === HOSTILE_MODELS.length, { timeoutMs: 30_000, what: 'hostile models', retryErrors: true });

    for (const model of ['invalid-json', 'status-500', 'wrong-type', 'huge']) {
      const answer = await front.chat(`bad/${model}`);
      expect(answer.status, model).toBe(502);
      const body = (await answer.json()) as { error: { code: string; type: string } };
      expect(body.error.code, model).toBe('upstream_error');
    }
    // A stream request answered with the wrong content type is refused the same way.
    expect((await front.chat('bad/wrong-type', { stream: true })).status).toBe(502);

    // A stream that stops mid-event: the whole first event, then an error event and [DONE]; never half an event.
    const cut = await front.chat('bad/cut-mid-frame', { stream: true });
    expect(cut.status).toBe(200);
    const cutText = await cut.text();
    const events = cutText.split('\n\n').filter((e) => e.length > 0);
    expect(events[0]).toContain('"content":"first"');
    expect(events.some((e) => e.includes('"choi') && !e.includes('"choices"'))).toBe(false);
    expect(events.at(-2)).toContain('"code":"upstream_error"');
    expect(events.at(-1)).toBe('data: [DONE]');

    // A valid stream cut inside a UTF-8 character and inside an event, its events ended with CRLF or LF:
    // relayed byte for byte (the relay cuts only at event ends, on bytes).
    const split = await front.chat('bad/split-bytes', { stream: true });
    expect(split.status).toBe(200);
    expect(Buffer.from(await split.arrayBuffer()).toString('hex')).toBe(SPLIT_BYTES_STREAM.toString('hex'));

    // An endless stream past the deadline: cut at the deadline with a deadline error, and the engine's
    // connection is dropped (that is how engines learn to stop). The engine never ends this stream, so
    // the body ending at all (inside the test's timeout) with deadline_exceeded proves the deadline cut
    // it; the lower bound proves it was not cut before the deadline (load only makes it later).
    const started = Date.now();
    const endless = await front.chat('bad/endless', { stream: true }, { 'x-deadline-remaining-ms': '700' });
    expect(endless.status).toBe(200);
    const endlessText = await endless.text();
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(endlessText).toContain('"code":"deadline_exceeded"');
    expect(endlessText.trimEnd().endsWith('data: [DONE]')).toBe(true);
    await waitFor(async () => hostile.closedEarly, (c) => c.includes('endless'), { timeoutMs: 30_000, what: 'engine saw the disconnect', retryErrors: true });
    // The deadline travelled on as X-Deadline-Remaining-Ms, never extended.
    const forwarded = Number(hostile.deadlines.get('endless'));
    expect(forwarded).toBeGreaterThan(0);
    expect(forwarded).toBeLessThanOrEqual(700);

    // Still serving: the good model of the same pool, the upstream pool, and health.
    expect((await front.chat('bad/fine')).status).toBe(200);
    expect((await front.chat(`up/${UPSTREAM_MODEL}`)).status).toBe(200);
    expect((await fetch(`${front.url}/health`)).status).toBe(200);
  });

  it('a stream that reached [DONE] leaves its connection to the next request; one that lingers after [DONE] is answered and then cut', async () => {
    const res = await front.addPool({ name: 'keep', base_url: hostile.url, breaker_failures: 1000, health_period_ms: 60_000 });
    expect(res.status).toBe(201);
    await waitFor(() => front.pool('keep'), (p) => p?.models.length === HOSTILE_MODELS.length, { timeoutMs: 30_000, what: 'keep models', retryErrors: true });

    // Three complete streams, one after another: at most one new connection (destroying each answered
    // response would open one per request, and the next request would pay the connect).
    const before = hostile.connections();
    for (let i = 0; i < 3; i++) {
      const answer = await front.chat('keep/stream-fine', { stream: true });
      expect(answer.status).toBe(200);
      const text = await answer.text();
      expect(text).toContain('"content":"two"');
      expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
      expect(text).not.toContain('"error"');
    }
    expect(hostile.connections() - before).toBeLessThanOrEqual(1);

    // [DONE], then the engine never ends its response: the client's answer is complete and ends at
    // once, and the queen drops that socket afterwards instead of holding it forever.
    const lingering = await front.chat('keep/after-done', { stream: true });
    expect(lingering.status).toBe(200);
    const text = await lingering.text();
    expect(text).toContain('"content":"done"');
    expect(text).not.toContain('"error"');
    expect(text).not.toContain('still here');
    await waitFor(async () => hostile.closedEarly, (c) => c.includes('after-done'), { timeoutMs: 30_000, what: 'the lingering socket cut', retryErrors: true });
    expect((await front.chat('keep/stream-fine', { stream: true })).status).toBe(200);
  });

  it('a slow upstream (its worker SIGSTOPped): the client gets 504 at its deadline, which does not count against the pool', async () => {
    const workerPid = (await upstream.snapshot()).workers.find((w) => w.state === 'idle' || w.state === 'busy')?.pid;
    expect(workerPid).toBeTypeOf('number');
    process.kill(workerPid!, 'SIGSTOP');
    try {
      // The stopped worker never answers: a 504 deadline_exceeded proves the deadline ended the request
      // (no clock upper bound, which load would break); the lower bound proves it was not cut early.
      const started = Date.now();
      const res = await front.chat(`up/${UPSTREAM_MODEL}`, {}, { 'x-deadline-remaining-ms': '1500' });
      const elapsed = Date.now() - started;
      expect(res.status).toBe(504);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('deadline_exceeded');
      expect(elapsed).toBeGreaterThanOrEqual(1_300);
      // A deadline is the client's limit, not the pool's failure.
      expect((await front.pool('up'))?.breaker.state).toBe('closed');
    } finally {
      // The upstream hive may already have killed its stalled worker (failed health checks): then there is nothing to continue.
      try {
        process.kill(workerPid!, 'SIGCONT');
      } catch {
        // gone
      }
    }
  }, 60_000);

  it("max_concurrent 1 through the queen's queue: the second waits and completes, one past the queue limit gets 503 QUEUE_FULL with Retry-After, a deadline in the queue is 504", async () => {
    const added = await front.addPool({ name: 'one', base_url: `${upstream.url}/v1`, api_key: upstream.token, max_concurrent: 1, max_queued: 1, health_period_ms: 60_000 });
    expect(added.status).toBe(201);
    await waitFor(() => front.pool('one'), (p) => p?.health === 'online', { timeoutMs: 30_000, what: 'pool one online', retryErrors: true });
    // The previous test stalled the engine's worker (its hive may have replaced it): wait for a ready one.
    const snapshot = await waitFor(() => upstream.snapshot(), (s) => s.workers.some((w) => w.state === 'idle'), { timeoutMs: 60_000, what: 'upstream worker idle', retryErrors: true });
    const workerPid = snapshot.workers.find((w) => w.state === 'idle')!.pid!;
    const model = `one/${UPSTREAM_MODEL}`;
    // The stopped worker holds the pool's only place for as long as the test needs, without a clock.
    process.kill(workerPid, 'SIGSTOP');
    let first: Promise<Response> | undefined;
    let second: Promise<Response> | undefined;
    try {
      first = front.chat(model);
      await waitFor(() => front.pool('one'), (p) => p?.in_flight === 1, { timeoutMs: 30_000, what: 'first request in flight', retryErrors: true });

      // A request that waits past its deadline leaves the queue with 504, not as a departed client.
      const expiring = front.chat(model, {}, { 'x-deadline-remaining-ms': '600' });
      await waitFor(() => front.pool('one'), (p) => p?.queued === 1, { timeoutMs: 30_000, what: 'expiring request queued', retryErrors: true });
      const expired = await expiring;
      expect(expired.status).toBe(504);
      expect(((await expired.json()) as { error: { code: string } }).error.code).toBe('deadline_exceeded');
      expect((await front.pool('one'))?.queued).toBe(0);

      second = front.chat(model);
      await waitFor(() => front.pool('one'), (p) => p?.queued === 1 && p.in_flight === 1, { timeoutMs: 30_000, what: 'second request queued', retryErrors: true });
      expect(await front.metric('rbee_pool_queued', { pool: 'one' })).toBe(1);
      expect(await front.metric('rbee_pool_in_flight', { pool: 'one' })).toBe(1);

      const refused = await front.chat(model);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      const body = (await refused.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('queue_full');
      expect(body.error.message).toContain('pool one');
    } finally {
      try {
        process.kill(workerPid, 'SIGCONT');
      } catch {
        // its hive already replaced it: the engine's queen serves both requests on the new worker
      }
    }
    const [a, b] = await Promise.all([first, second]);
    expect(a!.status).toBe(200);
    expect(b!.status).toBe(200);
    const after = await front.pool('one');
    expect(after?.in_flight).toBe(0);
    expect(after?.queued).toBe(0);
    // A full queue and a deadline are not the pool's failures.
    expect(after?.breaker.state).toBe('closed');
    expect((await fetch(`${front.url}/v1/control/pools/one`, { method: 'DELETE', headers: { authorization: `Bearer ${front.token}` } })).status).toBe(204);
  }, 120_000);

  it('upstream SIGKILLed: the breaker opens after the configured failures, clients get a fast 503 with Retry-After; upstream back: half-open trial, closed', async () => {
    const pid = upstream.proc!.pid;
    process.kill(pid, 'SIGKILL');
    await upstream.proc!.exited;
    const open = await waitFor(() => front.pool('up'), (p) => p?.breaker.state === 'open', { timeoutMs: 30_000, what: 'breaker open', retryErrors: true });
    expect(open!.health).toBe('unreachable');
    // Refused by the open breaker itself (outcome `rejected`), without a call to the dead engine: that
    // is what makes the 503 fast; how fast is a bench figure.
    const rejected = (): Promise<number> => front.metric('rbee_pool_requests_total', { pool: 'up', outcome: 'rejected' });
    const rejectedBefore = await rejected();
    const refused = await front.chat(`up/${UPSTREAM_MODEL}`);
    expect(refused.status).toBe(503);
    expect(await rejected()).toBe(rejectedBefore + 1);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('model_unavailable');

    await upstream.start(); // the same port and data dir
    await waitFor(() => front.pool('up'), (p) => p?.breaker.state === 'closed' && p.health === 'online', { timeoutMs: 60_000, what: 'breaker closed again', retryErrors: true });
    expect((await front.chat(`up/${UPSTREAM_MODEL}`)).status).toBe(200);
    const audit = allText(join(front.dataDir, 'audit'));
    for (const event of ['breaker_opened', 'breaker_half_open', 'breaker_closed', 'pool_state_changed']) expect(audit, event).toContain(event);
  }, 240_000);

  it('rbee pools add|list|test|reset|remove drive the same API (--url is the queen)', async () => {
    const keyFile = join(front.dataDir, 'cli-pool.key');
    writeFileSync(keyFile, `${upstream.token}\n`, { mode: 0o600 });
    const tokenFile = join(front.dataDir, 'front-token');
    writeFileSync(tokenFile, front.token, { mode: 0o600 });
    const cli = async (...args: string[]): Promise<{ code: number | null; output: string }> => {
      const proc = startRbee('pools', [...args, '--url', front.url, '--token-file', tokenFile]);
      const exit = await proc.exited;
      return { code: exit.code, output: proc.output() };
    };
    const added = await cli('add', 'cli', '--base-url', `${upstream.url}/v1`, '--api-key-file', keyFile, '--models', `chat=${UPSTREAM_MODEL}`, '--max-concurrent', '2');
    expect(added.code, added.output).toBe(0);
    expect(added.output).toContain(tokenFingerprint(upstream.token));
    const listed = await cli('ls');
    expect(listed.output).toMatch(/cli\s+http:\/\/127\.0\.0\.1:\d+\/v1/);
    expect(listed.output).toContain(`chat=${UPSTREAM_MODEL}`);
    const tested = await cli('test', 'cli');
    expect(tested.code, tested.output).toBe(0);
    expect(tested.output).toContain('ok in');
    // The alias routes: cli/chat is the upstream's tiny.gguf.
    expect((await front.chat('cli/chat')).status).toBe(200);
    expect((await cli('reset', 'cli')).code).toBe(0);
    expect((await cli('rm', 'cli')).code).toBe(0);
    expect(await front.pool('cli')).toBeUndefined();
    const usage = await cli('add', 'nourl');
    expect(usage.code).toBe(2);
    expect(usage.output).toContain('--base-url is required');
  }, 120_000);

  it('the upstream key appears nowhere in logs, audit, metrics, snapshot or the pool list', async () => {
    const metrics = await (await fetch(`${front.url}/metrics`, { headers: front.auth })).text();
    const snapshot = await (await fetch(`${front.url}/v1/control/snapshot`, { headers: front.auth })).text();
    const pools = await (await fetch(`${front.url}/v1/control/pools`, { headers: front.auth })).text();
    const audit = allText(join(front.dataDir, 'audit'));
    expect(audit).toContain('pool_added');
    expect(audit).toContain(tokenFingerprint(upstream.token));
    expect(front.logs).toContain('pool request');
    for (const [where, text] of Object.entries({ metrics, snapshot, pools, audit, logs: front.logs })) {
      expect(text.includes(upstream.token), where).toBe(false);
    }
  });
});
