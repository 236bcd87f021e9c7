/**
 * The queen → hive handshake (issue 12, Build §6): a hive proves it holds its token by answering a
 * nonce with HMAC-SHA256(token, nonce); and a hive given a socket folder listens on a Unix socket in
 * a 0700 folder, its workers too, with no TCP port. Real hive, real worker, real sockets.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HiveRoutes } from '../../src-shared/hive/hiveApi.js';
import { answerHiveNonce, checkHiveAnswer, newHiveNonce, verifyHiveProof } from '../../src-main/auth/hiveHandshake.js';
import { localRequest } from '../../src-main/common/http/localEndpoint.js';
import { HIVE_TOKEN, startTestHive, tinySpawn, type TestHive } from '../hive/hiveHarness.js';
import { waitFor } from '../helpers/waitFor.js';

/** A request over a Unix socket (fetch cannot), JSON in and out. */
function overSocket(socketPath: string, method: string, path: string, body?: unknown, token: string | null = HIVE_TOKEN): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath,
        hostname: 'localhost',
        path,
        method,
        agent: false,
        headers: {
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // SSE or plain text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

const viaSocket = (socketPath: string) => (path: string) => localRequest({ socketPath }, path, { timeoutMs: 10_000 });

describe('hive handshake (pure)', () => {
  it('accepts the right answer, refuses a wrong key, a malformed answer and another nonce', () => {
    const nonce = newHiveNonce();
    expect(nonce).toMatch(/^[0-9a-f]{64}$/);
    expect(checkHiveAnswer('tok', nonce, answerHiveNonce('tok', nonce))).toBe(true);
    expect(checkHiveAnswer('tok', nonce, answerHiveNonce('other', nonce))).toBe(false);
    expect(checkHiveAnswer('tok', nonce, answerHiveNonce('tok', newHiveNonce()))).toBe(false);
    for (const bad of [undefined, null, 42, '', 'zz', answerHiveNonce('tok', nonce).toUpperCase(), `${answerHiveNonce('tok', nonce)}00`])
      expect(checkHiveAnswer('tok', nonce, bad)).toBe(false);
  });
});

describe('a hive on a Unix socket', () => {
  let dir: string;
  let t: TestHive;
  let socketDir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rbee-hive-sock-'));
    socketDir = join(dir, 'sock');
    t = await startTestHive({ socketDir, standbyWorkers: 0, watchModels: false });
  });
  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('listens on <dir>/hive.sock in a 0700 folder, with no TCP port', () => {
    expect(t.hive.socketPath).toBe(join(socketDir, 'hive.sock'));
    expect(t.hive.port).toBe(0);
    expect(statSync(socketDir).mode & 0o777).toBe(0o700);
    expect(statSync(t.hive.socketPath!).isSocket()).toBe(true);
    expect(t.hive.app.server.address()).toBe(t.hive.socketPath);
  });

  it('handshake: the right token passes; a wrong token, a missing route and a bad nonce do not', async () => {
    const socketPath = t.hive.socketPath!;
    expect(await verifyHiveProof(HIVE_TOKEN, viaSocket(socketPath), HiveRoutes.hello)).toEqual({ ok: true });
    expect(await verifyHiveProof('not-the-hive-token', viaSocket(socketPath), HiveRoutes.hello)).toMatchObject({ ok: false, reason: 'wrong_answer' });
    // An impostor that does not speak the handshake at all.
    const stranger = http.createServer((_req, res) => res.writeHead(404).end());
    const strangerPath = join(dir, 'stranger.sock');
    await new Promise<void>((resolve) => stranger.listen(strangerPath, resolve));
    try {
      expect(await verifyHiveProof(HIVE_TOKEN, viaSocket(strangerPath), HiveRoutes.hello)).toMatchObject({ ok: false, reason: 'no_answer' });
    } finally {
      await new Promise((resolve) => stranger.close(resolve));
    }
    // Nothing listening: no answer, not an exception.
    expect(await verifyHiveProof(HIVE_TOKEN, viaSocket(join(dir, 'nobody.sock')), HiveRoutes.hello)).toMatchObject({ ok: false, reason: 'no_answer' });
    // The route is public (the queen sends no token before the proof) and validates its nonce.
    for (const nonce of ['', 'xyz', 'ab', 'A'.repeat(64), '0'.repeat(129)]) {
      const res = await overSocket(socketPath, 'GET', `${HiveRoutes.hello}?nonce=${nonce}`, undefined, null);
      expect(res.status).toBe(400);
    }
    expect((await overSocket(socketPath, 'GET', HiveRoutes.hello, undefined, null)).status).toBe(400);
  });

  it('a worker of a socket hive listens on a socket in the same folder and serves inference there', async () => {
    const spawned = await overSocket(t.hive.socketPath!, 'POST', HiveRoutes.workers, tinySpawn({ id: 'sockw' }));
    expect(spawned.status).toBe(201);
    await waitFor(
      async () => ((await overSocket(t.hive.socketPath!, 'GET', HiveRoutes.worker('sockw'))).body as { state: string }).state,
      (state) => state === 'idle' || state === 'busy',
      { what: 'worker sockw ready', timeoutMs: 120_000, intervalMs: 100 },
    );
    const creds = (await overSocket(t.hive.socketPath!, 'GET', HiveRoutes.workerCredentials('sockw'))).body as { url: string | null; token?: string; socket_path?: string };
    expect(creds.socket_path).toBe(join(socketDir, 'w-sockw.sock'));
    expect(creds.url).toBe('http://localhost');
    expect(statSync(creds.socket_path!).isSocket()).toBe(true);
    const info = (await overSocket(t.hive.socketPath!, 'GET', HiveRoutes.worker('sockw'))).body as { port: number | null };
    expect(info.port).toBeNull();
    const res = await overSocket(creds.socket_path!, 'POST', '/v1/inference', { prompt: 'hi', max_tokens: 4, temperature: 0 }, creds.token ?? null);
    expect(res.status).toBe(200);
    expect(String(res.body)).toContain('event: end');
    // Without the worker's token: refused, as on TCP.
    expect((await overSocket(creds.socket_path!, 'POST', '/v1/inference', { prompt: 'hi', max_tokens: 4 }, null)).status).toBe(401);
  }, 180_000);
});
