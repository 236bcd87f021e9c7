import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type TestWorker } from '../helpers/startWorker.js';
import { endOf, streamInference } from '../helpers/sseClient.js';

let worker: TestWorker;
beforeAll(async () => {
  worker = await startWorker();
});
afterAll(async () => {
  await worker?.stop();
});

interface BadCase {
  name: string;
  body: string;
  headers?: Record<string, string>;
  method?: string;
  path?: string;
  status: number;
  code: string;
}

const json = (v: unknown): string => JSON.stringify(v);
const cases: BadCase[] = [
  { name: 'malformed JSON', body: '{"prompt": "hi",', status: 400, code: 'INVALID_JSON' },
  { name: 'empty body', body: '', status: 400, code: 'INVALID_JSON' },
  { name: 'JSON array', body: '[1,2]', status: 400, code: 'INVALID_REQUEST' },
  { name: 'JSON string', body: '"hello"', status: 400, code: 'INVALID_REQUEST' },
  { name: 'missing prompt', body: json({ max_tokens: 3 }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'empty prompt', body: json({ prompt: '' }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'prompt is a number', body: json({ prompt: 42 }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'prompt over 32768 chars', body: json({ prompt: 'x'.repeat(32769) }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'max_tokens 0', body: json({ prompt: 'hi', max_tokens: 0 }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'max_tokens 2049', body: json({ prompt: 'hi', max_tokens: 2049 }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'max_tokens fractional', body: json({ prompt: 'hi', max_tokens: 1.5 }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'max_tokens as string', body: json({ prompt: 'hi', max_tokens: '5' }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'temperature negative', body: json({ prompt: 'hi', temperature: -1 }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'top_p above 1', body: json({ prompt: 'hi', top_p: 1.5 }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'stop not an array', body: json({ prompt: 'hi', stop: 'x' }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'unknown field', body: json({ prompt: 'hi', promtp: 'typo' }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'prototype pollution key', body: '{"prompt":"hi","__proto__":{"x":1}}', status: 400, code: 'INVALID_JSON' },
  { name: 'body over the limit', body: json({ prompt: 'y'.repeat(300 * 1024) }), status: 413, code: 'BODY_TOO_LARGE' },
  { name: 'wrong content type', body: 'prompt=hi', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  { name: 'prompt and messages together', body: json({ prompt: 'hi', messages: [{ role: 'user', content: 'hi' }] }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'messages empty', body: json({ messages: [] }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'message with an unknown role', body: json({ messages: [{ role: 'root', content: 'hi' }] }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'unknown model', body: json({ prompt: 'hi', model: 'llama-70b.gguf' }), status: 404, code: 'MODEL_NOT_FOUND' },
  { name: 'prompt longer than the context', body: json({ prompt: 'z'.repeat(4000) }), status: 400, code: 'INVALID_REQUEST' },
  { name: 'unknown route', body: '', method: 'GET', path: '/v1/nope', status: 404, code: 'NOT_FOUND' },
  { name: 'cancel unknown job', body: '', method: 'DELETE', path: '/v1/inference/not-a-job', status: 404, code: 'NOT_FOUND' },
];

describe('worker bad input: a clear 4xx, and the worker keeps serving', () => {
  it.each(cases)('$name → $status $code', async (c) => {
    const method = c.method ?? 'POST';
    const res = await fetch(`${worker.url}${c.path ?? '/v1/inference'}`, {
      method,
      headers: { authorization: `Bearer ${worker.token}`, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}), ...c.headers },
      body: method === 'POST' ? c.body : undefined,
    });
    expect(res.status).toBe(c.status);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(c.code);
    expect(body.error.message.length).toBeGreaterThan(0);
  });

  it('after all of that, a good request streams to the end', async () => {
    const result = await streamInference(`${worker.url}/v1/inference`, { prompt: 'still alive?', max_tokens: 8, ignore_eos: true }, {
      authorization: `Bearer ${worker.token}`,
    });
    expect(result.status).toBe(200);
    expect(endOf(result)?.stop_reason).toBe('max_tokens');
    expect(worker.child.exitCode).toBeNull();
  });
});
