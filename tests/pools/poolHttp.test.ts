import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PoolCallError, PoolHttp, readBody } from '../../src-main/queen/pools/PoolHttp.js';

/**
 * A real HTTP server that closes a kept-alive socket as the second request on it arrives, before
 * answering: what an engine's idle timeout does when it races the queen's reuse of the socket.
 */
let server: http.Server;
let base: URL;
const requestsPerSocket = new WeakMap<object, number>();
let answered = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const n = (requestsPerSocket.get(req.socket) ?? 0) + 1;
    requestsPerSocket.set(req.socket, n);
    if (n >= 2 && req.url?.endsWith('/stale')) {
      req.socket.destroy();
      return;
    }
    answered += 1;
    res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive' });
    res.end(JSON.stringify({ n }));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`);
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const client = (): PoolHttp => new PoolHttp({ baseUrl: base, apiKey: undefined, connectTimeoutMs: 5_000, firstByteTimeoutMs: 5_000 }, { maxSockets: 1 });

describe('PoolHttp on kept-alive sockets', () => {
  it('a request on a socket the engine closed before answering is sent again on a fresh socket, once', async () => {
    const pool = client();
    try {
      const first = await pool.call({ method: 'POST', path: '/stale', body: '{}' });
      expect(JSON.parse((await readBody(first, 1024)).toString())).toEqual({ n: 1 });
      const before = answered;
      // The only socket is reused and destroyed under this request; the answer comes from a new one.
      const second = await pool.call({ method: 'POST', path: '/stale', body: '{}' });
      expect(JSON.parse((await readBody(second, 1024)).toString())).toEqual({ n: 1 });
      expect(answered).toBe(before + 1);
    } finally {
      pool.dispose();
    }
  });

  it('a fresh socket that fails is the engine’s failure: no second try', async () => {
    const dead = new PoolHttp({ baseUrl: new URL('http://127.0.0.1:1/v1'), apiKey: undefined, connectTimeoutMs: 5_000, firstByteTimeoutMs: 5_000 }, { maxSockets: 1 });
    try {
      await expect(dead.call({ method: 'GET', path: '/models' })).rejects.toBeInstanceOf(PoolCallError);
    } finally {
      dead.dispose();
    }
  });
});
