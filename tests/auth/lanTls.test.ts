import { mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRbee, type RbeeProcess } from '../helpers/childProcess.js';
import { createNetns, type Netns } from '../helpers/netns.js';

/**
 * LAN exposure over TLS with real processes: the queen runs in a network namespace this test creates,
 * bound to every interface with `--tls`, and is reached from the host on the namespace's veth address
 * (a non-loopback LAN address). The client pins the fingerprint the queen printed: with it the key is
 * served; with another the connection is dropped before a byte of the request leaves; a foreign Host is
 * still refused (421) and a missing key is 401.
 */
const TOKEN = 'lan-tls-test-token-0123456789';
let netns: Netns;
let queen: RbeeProcess;
let dataDir: string;
let fingerprint: string;
let port: number;

beforeAll(async () => {
  netns = createNetns('rbee-lan');
  dataDir = mkdtempSync(join(tmpdir(), 'rbee-lan-'));
  queen = startRbee('queen', ['--host', '0.0.0.0', '--port', '0', '--tls', '--no-local-hive', '--data-dir', dataDir, '--audit', 'disabled'], { LLORCH_API_TOKEN: TOKEN, RBEE_LOG_LEVEL: 'warn' }, { prefix: ['ip', 'netns', 'exec', netns.name] });
  const listening = await queen.waitForLine<{ url: string; port: number; tls_fingerprint?: string }>((l) => l.event === 'listening', 120_000);
  expect(listening.url).toMatch(/^https:\/\//);
  fingerprint = listening.tls_fingerprint ?? '';
  port = listening.port;
}, 180_000);

afterAll(async () => {
  await queen?.stop();
  netns?.dispose();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  body: string;
}

/** One HTTPS request to the namespace's address over a TLS socket whose certificate must have `pin`. */
function pinnedRequest(pin: string, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // The certificate is self-signed: no CA vouches for it, the pinned fingerprint does.
    const socket = tls.connect({ host: netns.nsAddress, port, rejectUnauthorized: false, servername: undefined });
    socket.once('error', reject);
    socket.once('secureConnect', () => {
      const seen = socket.getPeerCertificate().fingerprint256;
      if (seen !== pin) {
        socket.destroy();
        reject(new Error(`certificate fingerprint ${seen} is not the pinned ${pin}`));
        return;
      }
      const req = http.request({ createConnection: () => socket, path, headers: { host: `${netns.nsAddress}:${port}`, ...headers } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.once('error', reject);
      req.end();
    });
  });
}

describe('LAN exposure over TLS (netns + veth, pinned certificate)', () => {
  it('prints the certificate fingerprint and keeps its key 0600 under <data>/tls', () => {
    expect(fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(statSync(join(dataDir, 'tls', 'key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'tls')).mode & 0o777).toBe(0o700);
  });

  it('reached on the LAN address with the pinned fingerprint and a key: served', async () => {
    const answer = await pinnedRequest(fingerprint, '/v1/models', { authorization: `Bearer ${TOKEN}` });
    expect(answer.status, answer.body).toBe(200);
    expect((JSON.parse(answer.body) as { object: string }).object).toBe('list');
    const settings = await pinnedRequest(fingerprint, '/v1/control/settings', { authorization: `Bearer ${TOKEN}` });
    expect((JSON.parse(settings.body) as { tls_fingerprint: string }).tls_fingerprint).toBe(fingerprint);
  });

  it('another fingerprint: the connection is dropped before the request is sent', async () => {
    const wrong = fingerprint.replace(/^../, fingerprint.startsWith('00') ? '01' : '00');
    await expect(pinnedRequest(wrong, '/v1/models', { authorization: `Bearer ${TOKEN}` })).rejects.toThrow(/is not the pinned/);
  });

  it('without a key: 401; a foreign Host (DNS rebinding): 421, over TLS as in the clear', async () => {
    expect((await pinnedRequest(fingerprint, '/v1/models', {})).status).toBe(401);
    const rebound = await pinnedRequest(fingerprint, '/v1/models', { authorization: `Bearer ${TOKEN}`, host: 'rebind.example' });
    expect(rebound.status).toBe(421);
  });

  it('plain HTTP on the TLS port is not served', async () => {
    const plain = await new Promise<string>((resolve) => {
      const req = http.get({ host: netns.nsAddress, port, path: '/v1/models', headers: { authorization: `Bearer ${TOKEN}` } }, (res) => resolve(`status ${res.statusCode}`));
      req.once('error', (error) => resolve(`error ${error.message}`));
    });
    expect(plain).not.toBe('status 200');
  });
});
