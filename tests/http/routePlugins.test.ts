/**
 * Route plugins through Fastify's `inject()` (no socket): each tier's routes are plugins mounted on
 * the one server factory, behind the same auth scope the tiers use, with bodies checked by the
 * shared zod schemas as route schemas. A route schema's refusal and `parseBody`'s (the IPC path)
 * must be the same 400, field for field.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditWitnessBodySchema, HiveRoutes } from '../../src-shared/hive/hiveApi.js';
import { ApiError } from '../../src-shared/api/ApiError.js';
import { ApiKeyStore } from '../../src-main/auth/ApiKeyStore.js';
import { secureTier } from '../../src-main/auth/secureTier.js';
import { createHttpServer } from '../../src-main/common/http/createHttpServer.js';
import { parseBody } from '../../src-main/common/http/parseBody.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { hiveAuditRoutes } from '../../src-main/hive/hiveAuditRoutes.js';
import { keyRoutes } from '../../src-main/queen/routes/keyRoutes.js';
import { createRecordingAuditSink, type RecordingAuditSink } from '../helpers/recordingAuditSink.js';

const TOKEN = 'route-plugin-test-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}`, host: '127.0.0.1:7833' };

let dir: string;
let app: FastifyInstance;
let audit: RecordingAuditSink;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rbee-plugins-'));
  audit = createRecordingAuditSink();
  const keys = await ApiKeyStore.open(join(dir, 'api-keys.json'));
  app = createHttpServer({ logger: createLogger('test', { level: 'silent' }) });
  const security = secureTier(app, { boundHost: '127.0.0.1', port: () => 7833, token: TOKEN, keys, audit });
  security.protect((scope) => {
    void scope.register(keyRoutes, { keys, audit });
    void scope.register(hiveAuditRoutes, { witness: null });
  }, 'admin');
  await app.ready();
});

afterEach(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('route plugins (inject)', () => {
  it('the auth scope covers routes registered by child plugins: no token → 401, before any body is read', async () => {
    const res = await app.inject({ method: 'POST', url: HiveRoutes.auditWitness, headers: { host: auth.host }, payload: { heads: 'not even close' } });
    expect(res.statusCode).toBe(401);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('MISSING_API_KEY');
  });

  it('a route schema refuses a bad body with the same 400 parseBody gives (message and details)', async () => {
    const bad = { heads: [{ chain: 42 }] };
    const res = await app.inject({ method: 'POST', url: HiveRoutes.auditWitness, headers: auth, payload: bad });
    expect(res.statusCode).toBe(400);
    let expected: ApiError | undefined;
    try {
      parseBody(AuditWitnessBodySchema, bad);
    } catch (error) {
      expected = error as ApiError;
    }
    expect(expected).toBeInstanceOf(ApiError);
    expect(res.json()).toEqual(expected!.toBody());
  });

  it('a body that is not a JSON object: the one "must be a JSON object" answer, from a schema route and parseBody alike', async () => {
    for (const payload of ['[1,2]', 'null', '7']) {
      const res = await app.inject({ method: 'POST', url: HiveRoutes.auditWitness, headers: { ...auth, 'content-type': 'application/json' }, payload });
      expect(res.statusCode, payload).toBe(400);
      expect(res.json()).toEqual({ error: { code: 'INVALID_REQUEST', message: 'Request body must be a JSON object' } });
    }
    const malformed = await app.inject({ method: 'POST', url: HiveRoutes.auditWitness, headers: { ...auth, 'content-type': 'application/json' }, payload: '{"heads":' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json()).toMatchObject({ error: { code: 'INVALID_JSON' } });
  });

  it('a valid body reaches the handler parsed (audit off: nothing recorded, nothing thrown)', async () => {
    const res = await app.inject({ method: 'POST', url: HiveRoutes.auditWitness, headers: auth, payload: { source: 'queen', heads: [{ chain: 'queen', seq: 1, hash: 'a'.repeat(64) }] } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ recorded: 0 });
  });

  it('keys: create → list (no secret) → revoke, each audited with the key id, never the secret', async () => {
    const created = await app.inject({ method: 'POST', url: '/v1/control/keys', headers: auth, payload: { name: 'ci runner', scope: 'inference' } });
    expect(created.statusCode).toBe(201);
    const key = created.json<{ id: string; secret: string }>();
    expect(key.secret).toMatch(/\S{20,}/);

    const listed = await app.inject({ method: 'GET', url: '/v1/control/keys', headers: auth });
    expect(listed.statusCode).toBe(200);
    expect(listed.body).toContain(key.id);
    expect(listed.body).not.toContain(key.secret);

    const revoked = await app.inject({ method: 'DELETE', url: `/v1/control/keys/${key.id}`, headers: auth });
    expect(revoked.statusCode).toBe(200);
    const unknown = await app.inject({ method: 'DELETE', url: '/v1/control/keys/ffffff', headers: auth });
    expect(unknown.statusCode).toBe(404);

    const recorded = JSON.stringify(audit.events);
    expect(recorded).toContain(key.id);
    expect(recorded).not.toContain(key.secret);
    expect(recorded).not.toContain(TOKEN);
  });
});
