import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { createHive, type Hive } from '../../src-main/hive/createHive.js';
import { createQueen } from '../../src-main/queen/createQueen.js';
import type { Queen } from '../../src-main/queen/Queen.js';
import { WorkerServer } from '../../src-main/worker/WorkerServer.js';
import { NOOP_AUDIT_SINK } from '../../src-shared/audit/AuditEvent.js';
import { sendRequest } from '../helpers/httpRequest.js';

/**
 * DNS rebinding and cross-site requests against every tier, over real HTTP. A rebinding page reaches
 * 127.0.0.1 under its own DNS name, so it is simulated exactly by a foreign `Host` header; a cross-site
 * page is a foreign `Origin` header (what the browser adds; the Playwright spec checks the browser side).
 */
const TOKEN = 'host-origin-test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const silent = createLogger('test', { level: 'silent' });

let dataDir: string;
let queen: Queen;
let hive: Hive;
let worker: WorkerServer;
let workerPort: number;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'rbee-host-origin-'));
  queen = await createQueen({
    dataDir,
    port: 0,
    apiToken: TOKEN,
    localHive: false,
    remoteHives: false,
    allowedHosts: ['rbee.lan'],
    allowedOrigins: ['https://tools.example:8443'],
    logger: silent,
  });
  hive = await createHive({ modelsDir: join(dataDir, 'hive-models'), port: 0, token: TOKEN, gpu: false, standbyWorkers: 0, logger: silent });
  worker = new WorkerServer({ workerId: 'w-guard', modelName: 'none.gguf', token: TOKEN, logger: silent, audit: NOOP_AUDIT_SINK, onShutdownRequested: () => undefined });
  const address = await worker.app.listen({ host: '127.0.0.1', port: 0 });
  workerPort = Number(new URL(address).port);
}, 60_000);

afterAll(async () => {
  await worker?.app.close();
  await hive?.close();
  await queen?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('Host allowlist (DNS rebinding) on every tier', () => {
  const tiers = (): Array<[string, number, string]> => [
    ['queen', queen.port, '/v1/control/snapshot'],
    ['hive', hive.port, '/v1/workers'],
    ['worker', workerPort, '/v1/ready'],
  ];

  it.each(['evil.example', 'evil.example:7833', 'attacker.127.0.0.1.nip.io', '127.0.0.1.evil.example', 'localhost.evil.example'])(
    'a foreign Host %s → 421 MISDIRECTED_HOST on public and protected routes of queen, hive and worker',
    async (host) => {
      for (const [tier, port, protectedPath] of tiers()) {
        for (const path of ['/health', protectedPath]) {
          const res = await sendRequest(port, { path, headers: { ...auth, host } });
          expect(res.status, `${tier} ${path}`).toBe(421);
          expect(res.json().error?.code).toBe('MISDIRECTED_HOST');
          expect(res.json().error?.message).toMatch(/--allowed-host/);
        }
      }
    },
  );

  it('a rebinding POST never reaches the route (no worker spec, no hive added)', async () => {
    const res = await sendRequest(queen.port, { method: 'POST', path: '/v1/control/hives', headers: { ...auth, host: 'evil.example' }, body: { host: '10.0.0.9' } });
    expect(res.status).toBe(421);
    expect((await queen.control.getSnapshot()).hives).toEqual([]);
  });

  it('loopback names and IPs, with or without a port, are answered', async () => {
    for (const [tier, port, path] of tiers()) {
      for (const host of ['127.0.0.1', `127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', `[::1]:${port}`, '127.5.6.7']) {
        const res = await sendRequest(port, { path, headers: { ...auth, host } });
        expect(res.status, `${tier} ${host}`).toBe(200);
      }
    }
  });

  it('a configured name (--allowed-host) is answered; the allowed_hosts setting takes effect at once', async () => {
    expect((await sendRequest(queen.port, { path: '/v1/control/snapshot', headers: { ...auth, host: 'rbee.lan:7833' } })).status).toBe(200);
    expect((await sendRequest(queen.port, { path: '/v1/control/snapshot', headers: { ...auth, host: 'gpu-box.home' } })).status).toBe(421);
    const patch = await sendRequest(queen.port, { method: 'PATCH', path: '/v1/control/settings', headers: auth, body: { allowed_hosts: ['gpu-box.home'] } });
    expect(patch.status).toBe(200);
    expect(patch.json<{ allowed_hosts: string[] }>().allowed_hosts).toEqual(['gpu-box.home']);
    expect((await sendRequest(queen.port, { path: '/v1/control/snapshot', headers: { ...auth, host: 'gpu-box.home' } })).status).toBe(200);
    const bad = await sendRequest(queen.port, { method: 'PATCH', path: '/v1/control/settings', headers: auth, body: { allowed_hosts: ['evil.example/path'] } });
    expect(bad.status).toBe(400);
    await sendRequest(queen.port, { method: 'PATCH', path: '/v1/control/settings', headers: auth, body: { allowed_hosts: [] } });
  });
});

describe('Origin allowlist (cross-site pages)', () => {
  const foreign = ['http://evil.example', 'http://127.0.0.2:8080', 'null', 'http://localhost:1', 'file://'];

  it.each(foreign)('Origin %s with a valid key: control POST → 403, event stream → 403, inference → 403', async (origin) => {
    const headers = { ...auth, origin };
    const post = await sendRequest(queen.port, { method: 'POST', path: '/v1/control/workers', headers, body: { hive_id: 'local', model: 'x.gguf' } });
    expect(post.status).toBe(403);
    expect(post.json().error?.code).toBe('ORIGIN_NOT_ALLOWED');
    expect((await sendRequest(queen.port, { path: '/v1/control/events', headers })).status).toBe(403);
    expect((await sendRequest(queen.port, { method: 'POST', path: '/v1/chat/completions', headers, body: { model: 'm', messages: [] } })).status).toBe(403);
    expect((await sendRequest(queen.port, { path: '/v1/models', headers })).status).toBe(403);
    // The hive and the worker refuse it the same way.
    expect((await sendRequest(hive.port, { method: 'POST', path: '/v1/workers', headers, body: { model: 'x.gguf' } })).status).toBe(403);
    expect((await sendRequest(hive.port, { path: '/v1/events', headers })).status).toBe(403);
    expect((await sendRequest(workerPort, { method: 'POST', path: '/v1/shutdown', headers })).status).toBe(403);
  });

  it('a foreign Origin is refused before the key is looked at (no 401, no failure counted)', async () => {
    const res = await sendRequest(queen.port, { method: 'POST', path: '/v1/control/workers', headers: { origin: 'http://evil.example' }, body: {} });
    expect(res.status).toBe(403);
  });

  it('public GETs stay public whatever the Origin (health), unsafe methods on them do not', async () => {
    const health = await sendRequest(queen.port, { path: '/health', headers: { origin: 'http://evil.example' } });
    expect(health.status).toBe(200);
    expect(health.headers['access-control-allow-origin']).toBeUndefined();
    expect((await sendRequest(queen.port, { method: 'POST', path: '/health', headers: { origin: 'http://evil.example' } })).status).toBe(403);
  });

  it("the queen's own origin (the dashboard at /ui) is allowed, with no CORS headers", async () => {
    for (const origin of [`http://127.0.0.1:${queen.port}`, `http://localhost:${queen.port}`]) {
      const res = await sendRequest(queen.port, { path: '/v1/control/snapshot', headers: { ...auth, origin } });
      expect(res.status, origin).toBe(200);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    }
    // Same host, another port: another origin.
    expect((await sendRequest(queen.port, { path: '/v1/control/snapshot', headers: { ...auth, origin: `http://127.0.0.1:${queen.port + 1}` } })).status).toBe(403);
  });

  it('a configured origin gets through with CORS headers and a preflight answer; others get no CORS', async () => {
    const origin = 'https://tools.example:8443';
    const res = await sendRequest(queen.port, { path: '/v1/models', headers: { ...auth, origin } });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(origin);
    const preflight = await sendRequest(queen.port, {
      method: 'OPTIONS',
      path: '/v1/chat/completions',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-headers']).toMatch(/authorization/);
    const foreignPreflight = await sendRequest(queen.port, {
      method: 'OPTIONS',
      path: '/v1/chat/completions',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(foreignPreflight.status).toBe(403);
    expect(foreignPreflight.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('always a token', () => {
  it('a queen started with no token configured generates <data>/api-token (0600) and answers 401 without a key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rbee-no-token-'));
    const bare = await createQueen({ dataDir: dir, port: 0, localHive: false, remoteHives: false, logger: silent });
    try {
      const tokenFile = join(dir, 'api-token');
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
      const token = readFileSync(tokenFile, 'utf8').trim();
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const none = await sendRequest(bare.port, { path: '/v1/models' });
      expect(none.status).toBe(401);
      expect(none.json().error?.code).toMatch(/^missing_api_key$/i);
      expect((await sendRequest(bare.port, { path: '/v1/control/snapshot' })).status).toBe(401);
      expect((await sendRequest(bare.port, { path: '/metrics' })).status).toBe(401);
      expect((await sendRequest(bare.port, { path: '/v1/models', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      await bare.close();
      // A restart keeps the same token (the CLI and scripts keep working).
      const again = await createQueen({ dataDir: dir, port: 0, localHive: false, remoteHives: false, logger: silent });
      try {
        expect((await sendRequest(again.port, { path: '/v1/models', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      } finally {
        await again.close();
      }
    } finally {
      await bare.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
