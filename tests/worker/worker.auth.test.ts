import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRbee } from '../helpers/childProcess.js';
import { startWorker, type TestWorker } from '../helpers/startWorker.js';
import { tinyModelPath } from '../helpers/tinyModel.js';

let worker: TestWorker;
const TOKEN = 'correct-horse-battery-staple-42';

beforeAll(async () => {
  worker = await startWorker({ token: TOKEN });
});
afterAll(async () => {
  await worker?.stop();
});

/** Raw HTTP/1.1 over a socket: lets a test send header bytes that fetch() refuses to send. */
function rawRequest(port: number, head: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (c) => (data += c.toString('latin1')));
    socket.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    socket.on('error', reject);
    socket.write(`${head}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 'latin1');
  });
}

const cases: Array<{ name: string; header: string | undefined; code: string }> = [
  { name: 'no header', header: undefined, code: 'MISSING_API_KEY' },
  { name: 'wrong token', header: 'Bearer wrong-token', code: 'INVALID_API_KEY' },
  { name: 'lower-case bearer', header: `bearer ${TOKEN}`, code: 'INVALID_API_KEY' },
  { name: 'upper-case BEARER', header: `BEARER ${TOKEN}`, code: 'INVALID_API_KEY' },
  { name: 'no space', header: `Bearer${TOKEN}`, code: 'INVALID_API_KEY' },
  { name: 'empty token', header: 'Bearer ', code: 'INVALID_API_KEY' },
  { name: 'only spaces', header: 'Bearer    ', code: 'INVALID_API_KEY' },
  { name: 'basic scheme', header: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`, code: 'INVALID_API_KEY' },
  // HTTP trims surrounding whitespace, but a control character inside the token reaches us: refused.
  { name: 'control character (tab) inside the token', header: `Bearer ${TOKEN.slice(0, 5)}\t${TOKEN.slice(5)}`, code: 'INVALID_API_KEY' },
  { name: '9 KiB header', header: `Bearer ${'a'.repeat(9 * 1024)}`, code: 'INVALID_API_KEY' },
  { name: 'token prefix only', header: `Bearer ${TOKEN.slice(0, -1)}`, code: 'INVALID_API_KEY' },
];

describe('worker auth (DESIGN §3)', () => {
  it.each(cases)('$name → 401 $code', async ({ header, code }) => {
    const res = await fetch(`${worker.url}/v1/ready`, { headers: header === undefined ? {} : { authorization: header } });
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(code);
    if (code === 'MISSING_API_KEY') expect(body).toEqual({ error: { code: 'MISSING_API_KEY', message: 'Missing API key' } });
  });

  // Node's HTTP parser itself answers 400 for most raw control bytes in a header; either way the
  // request never reaches a protected route.
  it('raw control bytes after the token → 401 INVALID_API_KEY or 400 from the HTTP parser, never accepted', async () => {
    for (const ch of ['\x01', '\x7f', '\x1b']) {
      const res = await rawRequest(worker.port, `GET /v1/ready HTTP/1.1\r\nAuthorization: Bearer ${TOKEN}${ch}`);
      expect([400, 401]).toContain(res.status);
      if (res.status === 401) expect(res.body).toContain('INVALID_API_KEY');
    }
  });

  it('the right token is accepted; /health needs none', async () => {
    expect((await fetch(`${worker.url}/v1/ready`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    const health = await fetch(`${worker.url}/health`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { status: string }).status).toBe('ok');
  });

  it('the token never appears in the worker output; failures are logged by fingerprint', async () => {
    await fetch(`${worker.url}/v1/ready`, { headers: { authorization: 'Bearer test' } });
    await fetch(`${worker.url}/v1/inference`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'hi', max_tokens: 2 }),
    });
    // pino writes asynchronously: wait for the failure line to arrive, by content.
    await expect.poll(() => worker.output().includes('token:9f86d0'), { timeout: 30_000 }).toBe(true);
    expect(worker.output()).not.toContain(TOKEN);
  });
});

describe('worker bind policy', () => {
  it.each([
    { name: 'no token (there is no auth-off mode, loopback or not)', env: {}, message: /a token is required/ },
    { name: 'a short token', env: { RBEE_WORKER_TOKEN: 'short' }, message: /Refusing to bind 0\.0\.0\.0/ },
  ])('binding 0.0.0.0 with $name exits 1 with a clear message', async ({ env, message }) => {
    const proc = startRbee('worker', ['--model', await tinyModelPath(), '--host', '0.0.0.0', '--threads', '1'], { RBEE_WORKER_TOKEN: '', ...env });
    const exit = await proc.exited;
    expect(exit.code).toBe(1);
    expect(proc.output()).toMatch(message);
  });
});
