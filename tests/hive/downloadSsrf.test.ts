import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { lookup } from 'node:dns/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src-main/common/log/createLogger.js';
import { createHive, type Hive } from '../../src-main/hive/createHive.js';
import type { DownloadNetworkPolicy } from '../../src-main/hive/downloadNetworkPolicy.js';
import { buildTinyLlamaGguf } from '../../src-main/models/gguf/tinyLlamaModel.js';
import type { DownloadProgress } from '../../src-shared/cluster/ClusterEvent.js';
import { sendRequest } from '../helpers/httpRequest.js';

/**
 * The download SSRF table against real hives and real HTTP servers. A "LAN" host is a veth address the
 * test assigns itself (10.231.x.y from the pid, root only), so a redirect from an allowed, non-loopback host to
 * loopback can be tried without leaving the machine.
 */
const TOKEN = 'ssrf-test-hive-token-0123456789';
// Per process: the veth and its address are machine-wide, and two runs at once (two checkouts on one
// machine) must not add, use or delete each other's.
const LAN_ADDRESS = `10.231.${Math.floor(process.pid / 254) % 256}.${1 + (process.pid % 254)}`;
const VETH = `rbs${process.pid % 1_000_000}A`;
const model = buildTinyLlamaGguf({ seed: 3 });
const silent = createLogger('test', { level: 'silent' });

interface TestServer {
  server: Server;
  port: number;
  requests: string[];
}

function serve(host: string, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url} range=${req.headers.range ?? '-'} if-range=${req.headers['if-range'] ?? '-'}`);
    handler(req, res);
  });
  return new Promise((resolve) => server.listen(0, host, () => resolve({ server, port: (server.address() as AddressInfo).port, requests })));
}

let root: string;
const hives: Hive[] = [];
let loopbackServer: TestServer;
let lanServer: TestServer | undefined;
let vethCreated = false;

async function startHive(network: Partial<DownloadNetworkPolicy>, extra: { maxBytes?: number } = {}): Promise<Hive> {
  const hive = await createHive({
    modelsDir: mkdtempSync(join(root, 'models-')),
    port: 0,
    token: TOKEN,
    gpu: false,
    standbyWorkers: 0,
    logger: silent,
    download: { network, retryBaseMs: 20, progressIntervalMs: 0, maxAttempts: 2, ...extra },
  });
  hives.push(hive);
  return hive;
}

function download(hive: Hive, source: string, name = 'got.gguf'): ReturnType<typeof sendRequest> {
  return sendRequest(hive.port, { method: 'POST', path: '/v1/models/download', headers: { authorization: `Bearer ${TOKEN}` }, body: { source, name } });
}

/** Responses of `/slow.gguf`, held open until the test lets them go. */
const held: ServerResponse[] = [];

/** The download's final progress event (done or failed). */
function outcome(hive: Hive, downloadId: string): Promise<DownloadProgress> {
  return new Promise((resolve) => {
    const off = hive.events.subscribe((event) => {
      if (event.type === 'download_progress' && event.progress.download_id === downloadId && event.progress.state !== 'running') {
        queueMicrotask(() => off());
        resolve(event.progress);
      }
    });
  });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'rbee-ssrf-'));
  loopbackServer = await serve('127.0.0.1', (req, res) => {
    if (req.url === '/big.gguf') {
      res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
      res.end(Buffer.alloc(10 * 1024 * 1024));
      return;
    }
    if (req.url === '/slow.gguf') {
      res.writeHead(200, { 'content-length': String(model.length), etag: '"slow"' });
      res.write(model.subarray(0, 1024));
      held.push(res);
      return;
    }
    if (req.url === '/lying.gguf') {
      // No length announced: the cap must hold while streaming.
      res.writeHead(200);
      res.end(Buffer.alloc(3 * 1024 * 1024));
      return;
    }
    if (req.url === '/no-validator.gguf') {
      // Half the model, then the connection drops; no ETag, no Last-Modified.
      const range = req.headers.range;
      if (range) {
        const start = Number(/bytes=(\d+)-/.exec(range)?.[1] ?? 0);
        res.writeHead(206, { 'content-range': `bytes ${start}-${model.length - 1}/${model.length}`, 'content-length': String(model.length - start) });
        res.end(model.subarray(start));
        return;
      }
      res.writeHead(200, { 'content-length': String(model.length) });
      if (loopbackServer.requests.filter((r) => r.startsWith('GET /no-validator.gguf')).length === 1) {
        res.write(model.subarray(0, model.length >> 1), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      res.end(model);
      return;
    }
    res.writeHead(200, { 'content-length': String(model.length), etag: '"m1"' });
    res.end(model);
  });
  try {
    execFileSync('ip', ['link', 'add', VETH, 'type', 'veth', 'peer', 'name', `${VETH.slice(0, -1)}B`], { stdio: 'ignore' });
    vethCreated = true;
    execFileSync('ip', ['addr', 'add', `${LAN_ADDRESS}/32`, 'dev', VETH], { stdio: 'ignore' });
    execFileSync('ip', ['link', 'set', VETH, 'up'], { stdio: 'ignore' });
    lanServer = await serve(LAN_ADDRESS, (req, res) => {
      // An allowed LAN host that redirects into loopback.
      res.writeHead(302, { location: `http://127.0.0.1:${loopbackServer.port}/model.gguf` });
      res.end();
    });
  } catch (error) {
    throw new Error(`this test needs root to add a veth address (${(error as Error).message})`);
  }
}, 60_000);

afterAll(async () => {
  for (const hive of hives) await hive.close();
  await new Promise<void>((resolve) => loopbackServer?.server.close(() => resolve()));
  if (lanServer) await new Promise<void>((resolve) => lanServer?.server.close(() => resolve()));
  if (vethCreated) execFileSync('ip', ['link', 'del', VETH], { stdio: 'ignore' });
  rmSync(root, { recursive: true, force: true });
});

describe('download SSRF table', () => {
  it.each([
    ['127.0.0.1', (p: number) => `http://127.0.0.1:${p}/model.gguf`],
    ['[::1]', (p: number) => `http://[::1]:${p}/model.gguf`],
    ['localhost', (p: number) => `http://localhost:${p}/model.gguf`],
    ['2130706433 (decimal 127.0.0.1)', (p: number) => `http://2130706433:${p}/model.gguf`],
    ['0x7f.1 (hex short form)', (p: number) => `http://0x7f.1:${p}/model.gguf`],
    ['[::ffff:127.0.0.1] (v4-mapped)', (p: number) => `http://[::ffff:127.0.0.1]:${p}/model.gguf`],
    ['0.0.0.0 (unspecified)', (p: number) => `http://0.0.0.0:${p}/model.gguf`],
  ])('loopback by default: %s → 403 DOWNLOAD_REFUSED, the server sees nothing', async (_name, url) => {
    const hive = hives[0] ?? (await startHive({}));
    const before = loopbackServer.requests.length;
    const res = await download(hive, url(loopbackServer.port));
    expect(res.status, res.body).toBe(403);
    expect(res.json().error?.code).toBe('DOWNLOAD_REFUSED');
    expect(loopbackServer.requests.length).toBe(before);
  });

  it('a name that resolves to loopback is refused at connect time (the resolved address is checked)', async () => {
    const hive = hives[0] ?? (await startHive({}));
    const before = loopbackServer.requests.length;
    // This machine's own name is not caught by name; it reaches the guarded lookup (here: /etc/hosts → 127.x).
    const name = hostname();
    const resolved = await lookup(name);
    expect(resolved.address, `precondition: ${name} resolves to loopback on this machine`).toMatch(/^127\./);
    const res = await download(hive, `http://${name}:${loopbackServer.port}/model.gguf`);
    expect(res.status).toBe(202);
    const end = await outcome(hive, res.json<{ download_id: string }>().download_id);
    expect(end.state).toBe('failed');
    expect(end.message).toMatch(/loopback/);
    expect(loopbackServer.requests.length).toBe(before);
  });

  it.each([
    ['169.254.169.254', 'http://169.254.169.254/latest/meta-data/'],
    ['fd00:ec2::254', 'http://[fd00:ec2::254]/latest/meta-data/'],
    ['100.100.100.200', 'http://100.100.100.200/latest/meta-data/'],
    ['fe80::1 (link-local)', 'http://[fe80::1]/x.gguf'],
    ['224.0.0.1 (multicast)', 'http://224.0.0.1/x.gguf'],
  ])('always refused, even with loopback and private allowed: %s', async (_name, url) => {
    const hive = await startHive({ allowLoopback: true, allowPrivate: true });
    const res = await download(hive, url);
    expect(res.status).toBe(403);
    expect(res.json().error?.code).toBe('DOWNLOAD_REFUSED');
  });

  it('10.0.0.1 with downloads_allow_private off → 403; with it on the check passes (not connected here)', async () => {
    const strict = await startHive({ allowPrivate: false });
    const res = await download(strict, 'http://10.0.0.1/x.gguf');
    expect(res.status).toBe(403);
    expect(res.json().error?.message).toMatch(/private/);
  });

  it('a redirect from an allowed LAN host to loopback is refused at that hop', async () => {
    const hive = await startHive({ allowPrivate: true });
    const before = loopbackServer.requests.length;
    const res = await download(hive, `http://${LAN_ADDRESS}:${lanServer?.port}/model.gguf`);
    expect(res.status).toBe(202);
    const end = await outcome(hive, res.json<{ download_id: string }>().download_id);
    expect(end.state).toBe('failed');
    expect(end.message).toMatch(/127\.0\.0\.1.*loopback/);
    expect(lanServer?.requests.length).toBeGreaterThan(0);
    expect(loopbackServer.requests.length).toBe(before);
    expect(readdirSync(join(hive.catalog.dir)).filter((f) => f.includes('part'))).toEqual([]);
  });

  it('an oversize body is cut at the cap (announced or not) and its .part file removed', async () => {
    const hive = await startHive({ allowLoopback: true }, { maxBytes: 1024 * 1024 });
    for (const path of ['/big.gguf', '/lying.gguf']) {
      const res = await download(hive, `http://127.0.0.1:${loopbackServer.port}${path}`);
      expect(res.status).toBe(202);
      const end = await outcome(hive, res.json<{ download_id: string }>().download_id);
      expect(end.state, path).toBe('failed');
      expect(end.message).toMatch(/limit of 1048576/);
      expect(readdirSync(hive.catalog.dir)).toEqual([]);
    }
  });

  it('a resume without a validator starts over (no Range); the model still arrives whole', async () => {
    const hive = await startHive({ allowLoopback: true });
    const res = await download(hive, `http://127.0.0.1:${loopbackServer.port}/no-validator.gguf`);
    const end = await outcome(hive, res.json<{ download_id: string }>().download_id);
    expect(end.state, end.message ?? '').toBe('done');
    const attempts = loopbackServer.requests.filter((r) => r.startsWith('GET /no-validator.gguf'));
    expect(attempts.length).toBe(2);
    expect(attempts.every((r) => r.includes('range=-'))).toBe(true);
    expect(existsSync(join(hive.catalog.dir, 'got.gguf'))).toBe(true);
  });

  it('at most 2 downloads at once per hive; a malformed URL is a 400', async () => {
    const hive = await startHive({ allowLoopback: true });
    const slow = `http://127.0.0.1:${loopbackServer.port}/slow.gguf`;
    const first = await download(hive, slow, 'one.gguf');
    const second = await download(hive, slow, 'two.gguf');
    expect([first.status, second.status]).toEqual([202, 202]);
    const third = await download(hive, slow, 'three.gguf');
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBeDefined();
    const ends = [first, second].map((r) => outcome(hive, r.json<{ download_id: string }>().download_id));
    await expect.poll(() => held.length, { timeout: 20_000 }).toBe(2);
    for (const res of held.splice(0)) res.end(model.subarray(1024));
    expect((await Promise.all(ends)).map((e) => e.state)).toEqual(['done', 'done']);
    expect((await download(hive, 'http://[::1')).status).toBe(400);
    expect((await download(hive, 'http://')).status).toBe(400);
    expect((await download(hive, 'gopher://x/y.gguf')).status).toBe(400);
  });
});
