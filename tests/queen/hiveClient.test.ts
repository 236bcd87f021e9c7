import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HiveClient } from '../../src-main/queen/hives/HiveClient.js';

/**
 * The queen's hive client over real HTTP with a kept-alive agent, as in production: a hive that closes
 * an idle kept-alive socket just as the queen reuses it (its keepAliveTimeout racing our next call)
 * must not read as "hive unreachable".
 */
const servers: http.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A hive answering the credentials route, which drops the connection of the requests named in `cut` (1-based) before answering. */
async function hive(cut: Set<number>): Promise<{ url: string; requests: () => number; connections: () => number }> {
  let requests = 0;
  let connections = 0;
  const server = http.createServer((req, res) => {
    requests++;
    if (cut.has(requests)) {
      req.socket.destroy();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ worker_id: 'w1', url: 'http://127.0.0.1:1', token: 'worker-token' }));
  });
  server.on('connection', () => connections++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => requests, connections: () => connections };
}

describe('HiveClient', () => {
  it('a call whose kept-alive socket the hive closed is sent once more on a fresh socket', async () => {
    const h = await hive(new Set([2]));
    const client = new HiveClient({ id: 'local', baseUrl: h.url, token: 'hive-token', agent: new http.Agent({ keepAlive: true }) });
    expect(await client.workerCredentials('w1')).toMatchObject({ url: 'http://127.0.0.1:1' });
    // The second call goes out on the kept socket, which the hive drops: answered from a new connection.
    expect(await client.workerCredentials('w1')).toMatchObject({ url: 'http://127.0.0.1:1' });
    expect(h.requests()).toBe(3);
    expect(h.connections()).toBe(2);
  });

  it('a fresh socket cut before the answer is the hive unreachable (not retried): only a reused socket can be stale', async () => {
    const h = await hive(new Set([1]));
    const client = new HiveClient({ id: 'local', baseUrl: h.url, token: 'hive-token', agent: new http.Agent({ keepAlive: true }) });
    await expect(client.workerCredentials('w1')).rejects.toMatchObject({ status: 502, code: 'HIVE_UNREACHABLE' });
    expect(h.requests()).toBe(1);
  });
});
