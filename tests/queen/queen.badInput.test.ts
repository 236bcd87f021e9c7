import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endOf, streamInference } from '../helpers/sseClient.js';
import { MODEL, startTestQueen, type TestQueen } from './queenHarness.js';

let q: TestQueen;
beforeAll(async () => {
  q = await startTestQueen();
  await q.spawn({ slots: 2 });
});
afterAll(async () => {
  await q?.close();
});

interface Case {
  name: string;
  method?: string;
  path: string;
  body?: string;
  headers?: Record<string, string>;
  status: number;
  /** OpenAI routes answer in OpenAI's envelope: `error.code` lower-case, `error.type` set. */
  code: string;
}
const j = JSON.stringify;
const chat = (extra: Record<string, unknown>): string => j({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], ...extra });

const cases: Case[] = [
  { name: 'chat: malformed JSON', path: '/v1/chat/completions', body: '{"model":', status: 400, code: 'invalid_json' },
  { name: 'chat: no messages', path: '/v1/chat/completions', body: j({ model: MODEL }), status: 400, code: 'invalid_request' },
  { name: 'chat: empty messages', path: '/v1/chat/completions', body: j({ model: MODEL, messages: [] }), status: 400, code: 'invalid_request' },
  { name: 'chat: bad role', path: '/v1/chat/completions', body: j({ model: MODEL, messages: [{ role: 'god', content: 'x' }] }), status: 400, code: 'invalid_request' },
  { name: 'chat: no model', path: '/v1/chat/completions', body: j({ messages: [{ role: 'user', content: 'x' }] }), status: 400, code: 'invalid_request' },
  { name: 'chat: max_tokens 0', path: '/v1/chat/completions', body: chat({ max_tokens: 0 }), status: 400, code: 'invalid_request' },
  { name: 'chat: temperature 3', path: '/v1/chat/completions', body: chat({ temperature: 3 }), status: 400, code: 'invalid_request' },
  { name: 'chat: n = 2 (unsupported)', path: '/v1/chat/completions', body: chat({ n: 2 }), status: 400, code: 'invalid_request' },
  { name: 'chat: unknown field', path: '/v1/chat/completions', body: chat({ tools_please: true }), status: 400, code: 'invalid_request' },
  { name: 'chat: unknown model', path: '/v1/chat/completions', body: chat({ model: 'ghost.gguf' }), status: 404, code: 'model_not_found' },
  { name: 'chat: body too large', path: '/v1/chat/completions', body: chat({ messages: [{ role: 'user', content: 'x'.repeat(400_000) }] }), status: 413, code: 'body_too_large' },
  { name: 'chat: form content type', path: '/v1/chat/completions', body: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 'unsupported_media_type' },
  { name: 'chat: no API key', path: '/v1/chat/completions', body: chat({}), headers: { authorization: '' }, status: 401, code: 'missing_api_key' },
  { name: 'completions: prompt array of two', path: '/v1/completions', body: j({ model: MODEL, prompt: ['a', 'b'] }), status: 400, code: 'invalid_request' },
  { name: 'completions: stop not string', path: '/v1/completions', body: j({ model: MODEL, prompt: 'a', stop: 5 }), status: 400, code: 'invalid_request' },
  { name: 'completions: prompt too long', path: '/v1/completions', body: j({ model: MODEL, prompt: 'a'.repeat(32_769) }), status: 400, code: 'invalid_request' },
  { name: 'inference: no model', path: '/v1/inference', body: j({ prompt: 'x' }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'inference: prompt and messages', path: '/v1/inference', body: j({ model: MODEL, prompt: 'x', messages: [{ role: 'user', content: 'y' }] }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'control: spawn without model', path: '/v1/control/workers', body: j({ hive_id: 'local' }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'control: spawn on unknown hive', path: '/v1/control/workers', body: j({ hive_id: 'mars', model: MODEL }), status: 404, code: 'HIVE_NOT_FOUND' },
  { name: 'control: spawn hostile hive id', path: '/v1/control/workers', body: j({ hive_id: '../../etc', model: MODEL }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'control: spawn slots 0', path: '/v1/control/workers', body: j({ hive_id: 'local', model: MODEL, slots: 0 }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'control: unknown worker action', path: '/v1/control/hives/local/workers/w1/explode', body: '{}', status: 404, code: 'NOT_FOUND' },
  { name: 'control: restart unknown worker', path: '/v1/control/hives/local/workers/nope/restart', body: '{}', status: 404, code: 'WORKER_NOT_FOUND' },
  { name: 'control: bad restart policy', method: 'PATCH', path: '/v1/control/settings', body: j({ restart_policy: { backoff_base_ms: -5 } }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'control: bad audit mode', method: 'PATCH', path: '/v1/control/settings', body: j({ audit_mode: 'cloud' }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'control: audit query unknown type', method: 'GET', path: '/v1/control/audit?event_types=nope', status: 400, code: 'INVALID_REQUEST' },
  { name: 'control: audit limit too big', method: 'GET', path: '/v1/control/audit?limit=100000', status: 400, code: 'INVALID_REQUEST' },
  { name: 'control: remove the local hive', method: 'DELETE', path: '/v1/control/hives/local', status: 409, code: 'CONFLICT' },
  { name: 'control: download to unknown hive', path: '/v1/control/models/download', body: j({ hive_id: 'nowhere', source: 'hf:a/b/c.gguf' }), status: 404, code: 'HIVE_NOT_FOUND' },
];

describe('queen bad input: a clear 4xx for each, and the queen keeps serving', () => {
  it.each(cases)('$name → $status $code', async (c) => {
    const method = c.method ?? 'POST';
    const headers: Record<string, string> = { ...q.auth, ...(c.body !== undefined ? { 'content-type': 'application/json' } : {}), ...c.headers };
    if (headers.authorization === '') delete headers.authorization;
    const res = await fetch(`${q.url}${c.path}`, { method, headers, body: c.body });
    expect(res.status).toBe(c.status);
    const body = (await res.json()) as { error: { code: string; message: string; type?: string } };
    expect(body.error.code).toBe(c.code);
    expect(body.error.message.length).toBeGreaterThan(0);
    if (c.path.startsWith('/v1/chat') || c.path.startsWith('/v1/completions')) expect(body.error.type).toEqual(expect.any(String));
  });

  it('still serves a good request afterwards', async () => {
    const r = await streamInference(`${q.url}/v1/inference`, { model: MODEL, prompt: 'ok?', max_tokens: 4, ignore_eos: true }, q.auth);
    expect(endOf(r)?.stop_reason).toBe('max_tokens');
  });

  it('exposes Prometheus metrics incl. auth failures and request counts by status', async () => {
    const text = await (await fetch(`${q.url}/metrics`, { headers: q.auth })).text();
    expect(text).toMatch(/rbee_queen_auth_failures_total [1-9]/);
    expect(text).toMatch(/rbee_queen_requests_total\{route="\/v1\/chat\/completions",status="400"\} \d+/);
    expect(text).toMatch(/rbee_workers\{hive="local",state="(idle|busy)"\} 1/);
  });
});
