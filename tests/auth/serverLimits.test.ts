import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { createHive } from '../../src-main/hive/createHive.js';
import { createQueen } from '../../src-main/queen/createQueen.js';
import type { Queen } from '../../src-main/queen/Queen.js';
import { MAX_EVENT_SUBSCRIBERS } from '../../src-main/queen/routes/controlRoutes.js';
import { sendRequest } from '../helpers/httpRequest.js';
import { tinyModelPath } from '../helpers/tinyModel.js';

const TOKEN = 'server-limits-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const silent = createLogger('test', { level: 'silent' });

let dataDir: string;
let queen: Queen;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'rbee-limits-'));
  queen = await createQueen({ dataDir, port: 0, apiToken: TOKEN, localHive: false, remoteHives: false, logger: silent });
});
afterAll(async () => {
  await queen?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('server limits', () => {
  const long = 'x'.repeat(300);
  it.each([
    ['POST', '/v1/control/hives/bad%20id/workers/w1/stop'],
    ['POST', '/v1/control/hives/local/workers/%00/restart'],
    ['POST', `/v1/control/hives/local/workers/${long}/start`],
    ['POST', '/v1/control/hives/a%2Fb/workers/w1/reset-breaker'],
    ['DELETE', '/v1/control/hives/bad%20id'],
    ['DELETE', `/v1/control/hives/${long}`],
    ['DELETE', '/v1/control/keys/not-hex'],
    ['DELETE', '/v1/control/keys/%00'],
    ['DELETE', '/v1/control/pools/bad%20name'],
    ['POST', '/v1/control/pools/bad%20name/test'],
    ['POST', '/v1/control/pools/bad%20name/reset-breaker'],
    ['DELETE', '/v1/inference/%00'],
  ])('a malformed id: %s %s → 4xx with the error envelope, never 500', async (method, path) => {
    const res = await sendRequest(queen.port, { method, path, headers: auth });
    expect(res.status, res.body).toBeGreaterThanOrEqual(400);
    expect(res.status, res.body).toBeLessThan(500);
    expect(typeof res.json().error?.code).toBe('string');
  });

  it('a DELETE sent with Content-Type: application/json and no body is a DELETE, not malformed JSON; a POST with none is still 400', async () => {
    const json = { ...auth, 'content-type': 'application/json' };
    const added = await fetch(`${queen.url}/v1/control/pools`, { method: 'POST', headers: json, body: JSON.stringify({ name: 'p1', base_url: 'http://127.0.0.1:1/v1' }) });
    expect(added.status).toBe(201);
    const removed = await fetch(`${queen.url}/v1/control/pools/p1`, { method: 'DELETE', headers: json });
    expect(removed.status).toBe(204);
    const empty = await fetch(`${queen.url}/v1/control/pools`, { method: 'POST', headers: json });
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: { code: string } }).error.code).toBe('INVALID_JSON');
    const poisoned = await fetch(`${queen.url}/v1/control/pools`, { method: 'POST', headers: json, body: '{"__proto__":{"admin":true},"name":"p2","base_url":"http://127.0.0.1:1/v1"}' });
    expect(poisoned.status).toBe(400);
  });

  it(`at most ${MAX_EVENT_SUBSCRIBERS} event-stream subscribers; the next gets 503 until one leaves`, async () => {
    const streams: AbortController[] = [];
    try {
      for (let i = 0; i < MAX_EVENT_SUBSCRIBERS; i += 1) {
        const controller = new AbortController();
        streams.push(controller);
        const res = await fetch(`${queen.url}/v1/control/events`, { headers: auth, signal: controller.signal });
        expect(res.status).toBe(200);
      }
      const over = await sendRequest(queen.port, { path: '/v1/control/events', headers: auth });
      expect(over.status).toBe(503);
      expect(over.json().error?.code).toBe('TOO_MANY_SUBSCRIBERS');
      expect(over.headers['retry-after']).toBeDefined();
      streams.pop()?.abort();
      await expect.poll(async () => (await sendRequest(queen.port, { path: '/v1/control/events', headers: auth })).status, { timeout: 30_000 }).toBe(200);
    } finally {
      for (const controller of streams) controller.abort();
    }
  });
});

describe('children get only the secrets they use', () => {
  it("a worker's environment holds its own token, not the queen's API token nor its hive's", async () => {
    const modelsDir = mkdtempSync(join(tmpdir(), 'rbee-env-'));
    mkdirSync(modelsDir, { recursive: true });
    copyFileSync(await tinyModelPath(), join(modelsDir, 'tiny.gguf'));
    const queenToken = 'queen-secret-in-the-environment-0123';
    const hiveToken = 'hive-secret-in-the-environment-0123';
    const saved = { api: process.env.LLORCH_API_TOKEN, hive: process.env.RBEE_HIVE_TOKEN };
    // As in a real hive process: both secrets sit in its environment.
    process.env.LLORCH_API_TOKEN = queenToken;
    process.env.RBEE_HIVE_TOKEN = hiveToken;
    const hive = await createHive({ modelsDir, port: 0, token: hiveToken, gpu: false, standbyWorkers: 0, defaultThreads: 1, skipAdmission: true, logger: silent });
    try {
      const info = await hive.supervisor.spawn({ model: 'tiny.gguf', ctx: 512, slots: 1 });
      const pid = info.pid ?? hive.supervisor.get(info.id).info().pid;
      expect(pid).toBeGreaterThan(0);
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      const names = environ.map((entry) => entry.slice(0, entry.indexOf('=')));
      expect(names).toContain('RBEE_WORKER_TOKEN');
      expect(names).not.toContain('LLORCH_API_TOKEN');
      expect(names).not.toContain('RBEE_HIVE_TOKEN');
      expect(environ.join('\n')).not.toContain(queenToken);
      expect(environ.join('\n')).not.toContain(hiveToken);
    } finally {
      await hive.close();
      if (saved.api === undefined) delete process.env.LLORCH_API_TOKEN;
      else process.env.LLORCH_API_TOKEN = saved.api;
      if (saved.hive === undefined) delete process.env.RBEE_HIVE_TOKEN;
      else process.env.RBEE_HIVE_TOKEN = saved.hive;
      rmSync(modelsDir, { recursive: true, force: true });
    }
  }, 120_000);
});
