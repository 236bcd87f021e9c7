import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unloadableTinyModel } from '../helpers/tinyModel.js';
import { startTestQueen, type TestQueen } from '../queen/queenHarness.js';
import { UPSTREAM_MODEL, UpstreamQueen } from './poolHarness.js';

/**
 * The fallback order with real processes: the front queen's local hive serves `tiny.gguf` by name but
 * cannot load it (a complete GGUF llama.cpp refuses), and a second rbee queen serves the same name
 * for real. Hives first, then the fallback pools in the order they were added; a pool that cannot
 * answer (nothing listens at its address) is passed over before the first byte.
 */
// A 2k context: the chat wrapper documents tools in ~1000 tokens.
const upstream = new UpstreamQueen({ contextLength: 2048 });
let front: TestQueen;

beforeAll(async () => {
  const [, started] = await Promise.all([
    upstream.start(),
    startTestQueen({
      models: [],
      workerPolicy: { backoff_base_ms: 200, jitter_ratio: 0, breaker_failures: 2, breaker_window_ms: 600_000, breaker_cooldown_ms: 600_000 },
      prepareModels: async (dir) => writeFileSync(join(dir, UPSTREAM_MODEL), await unloadableTinyModel()),
    }),
  ]);
  front = started;
}, 300_000);

afterAll(async () => {
  await front?.close();
  await upstream.dispose();
}, 60_000);

/** Generous (the queen's 10-minute ceiling): on a loaded machine the hives' failed load comes first. */
const DEADLINE = { 'x-deadline-remaining-ms': '600000' };

function chat(stream = false): Promise<Response> {
  return fetch(`${front.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...front.auth, 'content-type': 'application/json', ...DEADLINE },
    body: JSON.stringify({ model: UPSTREAM_MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, temperature: 0, stream }),
  });
}

function addPool(body: Record<string, unknown>): Promise<Response> {
  return fetch(`${front.url}/v1/control/pools`, { method: 'POST', headers: { ...front.auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

describe('pools: the fallback order (hives first, then fallback pools)', () => {
  it('without a fallback pool, a model the hives cannot load is their error, and no pool is asked', async () => {
    expect((await addPool({ name: 'lab', base_url: `${upstream.url}/v1`, api_key: upstream.token, models: [UPSTREAM_MODEL] })).status).toBe(201);
    const res = await chat();
    const body = (await res.json()) as { error: { code: string } };
    expect([502, 503]).toContain(res.status);
    expect(['model_unavailable', 'upstream_error']).toContain(body.error.code);
    expect(res.headers.get('x-rbee-pool')).toBeNull();
  }, 300_000);

  it('with fallback pools: the hives fail, a dead pool is passed over, and the live pool answers (JSON and a stream)', async () => {
    expect((await fetch(`${front.url}/v1/control/pools/lab`, { method: 'DELETE', headers: front.auth })).status).toBeLessThan(300);
    // Added first, so tried first: nothing listens on port 1.
    expect((await addPool({ name: 'dead', base_url: 'http://127.0.0.1:1/v1', models: [UPSTREAM_MODEL], fallback: true, connect_timeout_ms: 2_000 })).status).toBe(201);
    expect((await addPool({ name: 'lab', base_url: `${upstream.url}/v1`, api_key: upstream.token, models: [UPSTREAM_MODEL], fallback: true, first_byte_timeout_ms: 300_000 })).status).toBe(201);

    const res = await chat();
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect(res.headers.get('x-rbee-pool')).toBe('lab');
    expect((JSON.parse(text) as { object: string }).object).toBe('chat.completion');

    const streamed = await chat(true);
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(streamed.headers.get('x-rbee-pool')).toBe('lab');
    expect((await streamed.text()).trimEnd().endsWith('data: [DONE]')).toBe(true);

    // The dead pool was tried and counted as the pool's failure; the live one served.
    const metrics = await (await fetch(`${front.url}/metrics`, { headers: front.auth })).text();
    expect(metrics).toMatch(/rbee_pool_requests_total\{pool="dead",outcome="(upstream_error|rejected)"\} [1-9]/);
    expect(metrics).toMatch(/rbee_pool_requests_total\{pool="lab",outcome="ok"\} [1-9]/);
  }, 300_000);

  it('tools pass through to an engine that supports them: a forced call comes back well-formed', async () => {
    const client = new OpenAI({ baseURL: `${front.url}/v1`, apiKey: front.token, defaultHeaders: DEADLINE, timeout: 600_000 });
    const weather = {
      type: 'function' as const,
      function: {
        name: 'get_weather',
        description: 'Current weather for a city',
        parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 } }, required: ['city'], additionalProperties: false },
      },
    };
    const completion = await client.chat.completions.create({
      model: `lab/${UPSTREAM_MODEL}`,
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools: [weather],
      tool_choice: 'required',
      max_tokens: 300,
      seed: 2,
    });
    const choice = completion.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    const call = choice.message.tool_calls?.[0];
    if (call?.type !== 'function') throw new Error(`expected a function call, got ${JSON.stringify(choice.message)}`);
    expect(call.function.name).toBe('get_weather');
    expect(typeof JSON.parse(call.function.arguments)).toBe('object');
  }, 300_000);

  it('embeddings follow the same plan: pool/model goes straight to that pool', async () => {
    const res = await fetch(`${front.url}/v1/embeddings`, {
      method: 'POST',
      headers: { ...front.auth, 'content-type': 'application/json', ...DEADLINE },
      body: JSON.stringify({ model: `lab/${UPSTREAM_MODEL}`, input: ['hello', 'world'] }),
    });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect(res.headers.get('x-rbee-pool')).toBe('lab');
    const body = JSON.parse(text) as { data: Array<{ embedding: number[] }> };
    expect(body.data).toHaveLength(2);
    expect(body.data[0]?.embedding.length).toBeGreaterThan(0);
  }, 300_000);
});
