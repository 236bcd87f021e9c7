import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryAuditTree } from '../../src-main/audit/auditTree.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { createHive, type Hive } from '../../src-main/hive/createHive.js';
import { createQueen } from '../../src-main/queen/createQueen.js';
import type { Queen } from '../../src-main/queen/Queen.js';
import type { AuditEventType } from '../../src-shared/audit/AuditEvent.js';
import type { ApiKeyInfo, CreatedApiKey } from '../../src-shared/control/apiKeys.js';
import { startRbee } from '../helpers/childProcess.js';
import { sendRequest, type RawResponse } from '../helpers/httpRequest.js';
import { tinyModelPath } from '../helpers/tinyModel.js';

/**
 * The scope table of docs/api.md, cell by cell, against a real queen (in-process) linked to a real
 * hive (in-process, two tiny models in its catalog, no workers: inference answers 503/404 past auth,
 * which is all the table is about).
 */
const ADMIN = 'scoped-keys-bootstrap-token-0123456789';
const EXPIRED_SECRET = 'rbee_an-expired-key-written-before-start';
const silent = createLogger('test', { level: 'silent' });

let dataDir: string;
let hive: Hive;
let queen: Queen;

const bearer = (secret: string): Record<string, string> => ({ authorization: `Bearer ${secret}` });

async function call(secret: string, method: string, path: string, body?: unknown): Promise<RawResponse> {
  return sendRequest(queen.port, { method, path, headers: bearer(secret), body });
}

async function createKey(body: Record<string, unknown>): Promise<CreatedApiKey> {
  const res = await call(ADMIN, 'POST', '/v1/control/keys', body);
  expect(res.status, res.body).toBe(201);
  return res.json<CreatedApiKey>();
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'rbee-keys-'));
  const modelsDir = join(dataDir, 'hive-models');
  mkdirSync(modelsDir, { recursive: true });
  copyFileSync(await tinyModelPath(), join(modelsDir, 'a.gguf'));
  copyFileSync(await tinyModelPath(), join(modelsDir, 'b.gguf'));
  // A key that expired yesterday, as a key file from an earlier run holds it.
  const hash = createHash('sha256').update(EXPIRED_SECRET).digest('hex');
  writeFileSync(
    join(dataDir, 'api-keys.json'),
    JSON.stringify({
      version: 1,
      keys: [{ id: hash.slice(0, 6), name: 'old', scope: 'admin', sha256: hash, models: null, rpm: null, max_concurrent: null, created_at: 0, expires_at: Date.now() - 86_400_000, revoked_at: null }],
    }),
    { mode: 0o600 },
  );
  hive = await createHive({ id: 'box', modelsDir, port: 0, token: 'scoped-keys-hive-token-0123456789', gpu: false, standbyWorkers: 0, logger: silent });
  queen = await createQueen({
    dataDir,
    port: 0,
    apiToken: ADMIN,
    localHive: false,
    startOnDemand: false,
    auditMode: 'local',
    logger: silent,
    remoteHives: (internals) => {
      internals.hives.link({ id: 'box', baseUrl: hive.url, token: 'scoped-keys-hive-token-0123456789' }, 'local', new URL(hive.url).host);
      return { add: () => Promise.reject(new Error('not in this test')), remove: () => Promise.resolve() };
    },
  });
  // The hive's catalog reaches the queen over its event stream.
  const until = Date.now() + 30_000;
  while ((await queen.control.getSnapshot()).models.length < 2) {
    if (Date.now() > until) throw new Error('the hive catalog never reached the queen');
    let off: (() => void) | undefined;
    await new Promise<void>((resolve) => {
      off = queen.control.subscribe(() => resolve());
    });
    off?.();
  }
}, 90_000);

afterAll(async () => {
  await queen?.close();
  await hive?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const chat = (model: string): unknown => ({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });

/** Route groups of the scope table, one representative call each (plus every control family). */
const INFERENCE_CALLS: Array<[string, string, unknown?]> = [
  ['POST', '/v1/chat/completions', chat('a.gguf')],
  ['POST', '/v1/completions', { model: 'a.gguf', prompt: 'hi', max_tokens: 4 }],
  ['POST', '/v1/inference', { model: 'a.gguf', prompt: 'hi', max_tokens: 4 }],
  ['GET', '/v1/models'],
  ['DELETE', '/v1/inference/no-such-job'],
];
const METRICS_CALLS: Array<[string, string, unknown?]> = [['GET', '/metrics']];
const CONTROL_CALLS: Array<[string, string, unknown?]> = [
  ['GET', '/v1/control/snapshot'],
  ['GET', '/v1/control/audit'],
  ['GET', '/v1/control/settings'],
  ['PATCH', '/v1/control/settings', { audit_mode: 'local' }],
  ['POST', '/v1/control/workers', { hive_id: 'box', model: 'missing.gguf' }],
  ['POST', '/v1/control/hives', { host: '127.0.0.1', port: 1 }],
  ['POST', '/v1/control/models/download', { hive_id: 'nowhere', source: 'http://127.0.0.1:1/x.gguf' }],
  ['GET', '/v1/control/keys'],
  ['POST', '/v1/control/keys', { name: 'x', scope: 'admin' }],
  ['DELETE', '/v1/control/keys/abcdef'],
];

function allowed(res: RawResponse): boolean {
  return res.status !== 401 && res.status !== 403;
}

describe('scope table (docs/api.md)', () => {
  it.each([
    ['inference', { inference: true, metrics: false, control: false }],
    ['metrics', { inference: false, metrics: true, control: false }],
    ['admin', { inference: true, metrics: true, control: true }],
  ] as const)('a %s key → allowed route groups %j', async (scope, expected) => {
    const key = await createKey({ name: `table-${scope}`, scope });
    for (const [group, calls] of [
      ['inference', INFERENCE_CALLS],
      ['metrics', METRICS_CALLS],
      ['control', CONTROL_CALLS],
    ] as const) {
      for (const [method, path, body] of calls) {
        // The event stream: only the status line matters here.
        const res = await call(key.secret, method, path, body);
        expect(allowed(res), `${scope} key ${method} ${path} → ${res.status} ${res.body.slice(0, 200)}`).toBe(expected[group]);
        if (!expected[group]) expect(res.body).toMatch(/insufficient_scope/i);
      }
      if (group === 'control') {
        const events = await sendRequest(queen.port, { path: '/v1/control/events', headers: bearer(key.secret) });
        expect(allowed(events), `${scope} key events`).toBe(expected.control);
      }
    }
  });

  it('the bootstrap token is admin: every group', async () => {
    for (const [method, path, body] of [...INFERENCE_CALLS, ...METRICS_CALLS, ...CONTROL_CALLS]) {
      expect(allowed(await call(ADMIN, method, path, body)), `${method} ${path}`).toBe(true);
    }
  });

  it('a key limited to some models may use only those; /v1/models lists only those', async () => {
    const key = await createKey({ name: 'only-a', scope: 'inference', models: ['a.gguf'] });
    const refused = await call(key.secret, 'POST', '/v1/chat/completions', chat('b.gguf'));
    expect(refused.status).toBe(403);
    expect(refused.body).toMatch(/model_not_allowed/i);
    expect((await call(key.secret, 'POST', '/v1/inference', { model: 'b.gguf', prompt: 'x' })).status).toBe(403);
    expect(allowed(await call(key.secret, 'POST', '/v1/chat/completions', chat('a.gguf')))).toBe(true);
    const listed = (await call(key.secret, 'GET', '/v1/models')).json<{ data: Array<{ id: string }> }>().data.map((m) => m.id);
    expect(listed).toEqual(['a.gguf']);
    const all = (await call(ADMIN, 'GET', '/v1/models')).json<{ data: Array<{ id: string }> }>().data.map((m) => m.id);
    expect(all.sort()).toEqual(['a.gguf', 'b.gguf']);
  });

  it('rpm: the request past the limit → 429 RATE_LIMITED with Retry-After; other keys unaffected', async () => {
    const key = await createKey({ name: 'slow', scope: 'inference', rpm: 3 });
    for (let i = 0; i < 3; i += 1) expect((await call(key.secret, 'GET', '/v1/models')).status).toBe(200);
    const limited = await call(key.secret, 'GET', '/v1/models');
    expect(limited.status).toBe(429);
    expect(limited.body).toMatch(/rate_limited/i);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect((await call(ADMIN, 'GET', '/v1/models')).status).toBe(200);
  });

  it('max_concurrent: a second request while one is open → 429; after it ends, served again', async () => {
    const key = await createKey({ name: 'one-at-a-time', scope: 'admin', max_concurrent: 1 });
    // Hold one request open: the event stream.
    const controller = new AbortController();
    const open = await fetch(`${queen.url}/v1/control/events`, { headers: bearer(key.secret), signal: controller.signal });
    expect(open.status).toBe(200);
    const second = await call(key.secret, 'GET', '/v1/control/snapshot');
    expect(second.status).toBe(429);
    expect(second.headers['retry-after']).toBeDefined();
    controller.abort();
    await expect.poll(async () => (await call(key.secret, 'GET', '/v1/control/snapshot')).status, { timeout: 30_000 }).toBe(200);
  });

  it('revoked and expired keys → 401 with the reason; the list keeps them, marked', async () => {
    const key = await createKey({ name: 'short-lived', scope: 'inference' });
    expect((await call(key.secret, 'GET', '/v1/models')).status).toBe(200);
    const revoked = await call(ADMIN, 'DELETE', `/v1/control/keys/${key.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.json<ApiKeyInfo>().revoked_at).not.toBeNull();
    const after = await call(key.secret, 'GET', '/v1/models');
    expect(after.status).toBe(401);
    expect(after.body).toMatch(/revoked/);
    const expired = await call(EXPIRED_SECRET, 'GET', '/v1/control/snapshot');
    expect(expired.status).toBe(401);
    expect(expired.body).toMatch(/expired/);
    expect((await call(ADMIN, 'DELETE', '/v1/control/keys/zzzzzz')).status).toBe(400);
    expect((await call(ADMIN, 'DELETE', '/v1/control/keys/000000')).status).toBe(404);
    expect((await call(ADMIN, 'POST', '/v1/control/keys', { name: 'x', scope: 'root' })).status).toBe(400);
  });

  it('keys are stored as SHA-256 only (0600), listed with usage; usage reaches /metrics; audit records key events', async () => {
    const key = await createKey({ name: 'counted', scope: 'inference' });
    for (let i = 0; i < 2; i += 1) await call(key.secret, 'GET', '/v1/models');
    const file = join(dataDir, 'api-keys.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = readFileSync(file, 'utf8');
    expect(stored).not.toContain(key.secret);
    expect(stored).toContain(createHash('sha256').update(key.secret).digest('hex'));
    const listed = (await call(ADMIN, 'GET', '/v1/control/keys')).json<{ keys: ApiKeyInfo[] }>().keys;
    const mine = listed.find((k) => k.id === key.id);
    expect(mine?.usage.requests).toBe(2);
    expect(mine?.usage.last_used_at).not.toBeNull();
    expect(JSON.stringify(listed)).not.toContain('sha256');
    const metrics = (await call(ADMIN, 'GET', '/metrics')).body;
    expect(metrics).toContain(`rbee_api_key_requests_total{key="${key.id}",name="counted"} 2`);
    const types = async (): Promise<AuditEventType[]> => (await queryAuditTree(join(dataDir, 'audit'), { limit: 500 })).records.map((r) => r.event.event_type);
    await expect.poll(async () => {
      const seen = await types();
      return ['key_created', 'key_revoked', 'rate_limited'].every((t) => seen.includes(t as AuditEventType));
    }, { timeout: 15_000 }).toBe(true);
    const page = await queryAuditTree(join(dataDir, 'audit'), { limit: 500 });
    expect(JSON.stringify(page)).not.toContain(key.secret);
  });

  it('the in-process ControlApi (the desktop Settings view) creates, lists and revokes the same keys, audited as the operator', async () => {
    const created = await queen.control.createKey({ name: 'desktop made', scope: 'inference', models: ['a.gguf'] });
    expect((await call(created.secret, 'GET', '/v1/models')).status).toBe(200);
    expect((await queen.control.listKeys()).find((k) => k.id === created.id)).toMatchObject({ name: 'desktop made', models: ['a.gguf'] });
    expect(JSON.stringify(await queen.control.listKeys())).not.toContain(created.secret);
    expect(await queen.control.revealAdminToken()).toBe(ADMIN);
    await expect(queen.control.createKey({ name: '', scope: 'inference' })).rejects.toMatchObject({ status: 400 });
    await expect(queen.control.revokeKey('zzz')).rejects.toMatchObject({ status: 400 });
    await expect(queen.control.revokeKey('000000')).rejects.toMatchObject({ status: 404 });
    expect((await queen.control.revokeKey(created.id)).revoked_at).not.toBeNull();
    expect((await call(created.secret, 'GET', '/v1/models')).status).toBe(401);
    await expect.poll(async () => {
      const records = (await queryAuditTree(join(dataDir, 'audit'), { limit: 500 })).records.map((r) => r.event);
      return records.filter((e) => (e.event_type === 'key_created' || e.event_type === 'key_revoked') && e.actor === 'operator' && e.details?.key === created.fingerprint).length;
    }, { timeout: 15_000 }).toBe(2);
  });

  it('rbee keys create / ls / rm through the CLI (secret printed once, list without it)', async () => {
    const env = { RBEE_URL: queen.url, LLORCH_API_TOKEN: ADMIN };
    const created = startRbee('keys', ['create', '--name', 'cli-key', '--scope', 'metrics', '--expires', '30d'], env);
    expect((await created.exited).code).toBe(0);
    const secret = created.output().split('\n').find((l) => l.startsWith('rbee_'))?.trim() ?? '';
    expect(secret).toMatch(/^rbee_[A-Za-z0-9_-]{43}$/);
    expect((await call(secret, 'GET', '/metrics')).status).toBe(200);
    const id = createHash('sha256').update(secret).digest('hex').slice(0, 6);
    const listed = startRbee('keys', ['ls'], env);
    expect((await listed.exited).code).toBe(0);
    expect(listed.output()).toContain(id);
    expect(listed.output()).not.toContain(secret);
    const removed = startRbee('keys', ['rm', id], env);
    expect((await removed.exited).code).toBe(0);
    expect((await call(secret, 'GET', '/metrics')).status).toBe(401);
    const bad = startRbee('keys', ['create', '--name', 'x', '--scope', 'root'], env);
    expect((await bad.exited).code).toBe(2);
  }, 120_000);
});
