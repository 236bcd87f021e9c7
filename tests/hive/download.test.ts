import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterEvent, DownloadProgress } from '../../src-shared/cluster/ClusterEvent.js';
import type { ModelInfo } from '../../src-shared/cluster/HiveInfo.js';
import { planDownload } from '../../src-main/hive/planDownload.js';
import { buildTinyLlamaGguf } from '../../src-main/models/gguf/tinyLlamaModel.js';
import { EventStream, startTestHive, type TestHive } from './hiveHarness.js';

/**
 * A loopback model server: `/model.gguf` honours Range; `/drop.gguf` drops the connection half-way
 * through the first response and serves ranges after that; `/junk.gguf` serves a non-GGUF body.
 */
function startModelServer(model: Buffer): Promise<{ server: Server; base: string; requests: Array<{ path: string; range: string | undefined }> }> {
  const requests: Array<{ path: string; range: string | undefined }> = [];
  let dropped = false;
  const server = createServer((req: IncomingMessage, res) => {
    const path = req.url ?? '';
    const range = req.headers.range;
    requests.push({ path, range });
    if (path === '/junk.gguf') {
      res.writeHead(200, { 'content-length': '64' });
      return res.end(Buffer.alloc(64, 7));
    }
    if (path === '/missing.gguf') {
      res.writeHead(404);
      return res.end();
    }
    if (path !== '/model.gguf' && path !== '/drop.gguf') {
      res.writeHead(404);
      return res.end();
    }
    const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
    const start = m ? Number(m[1]) : 0;
    const headers: Record<string, string> = { etag: '"tiny-v1"', 'accept-ranges': 'bytes' };
    if (m) {
      res.writeHead(206, { ...headers, 'content-length': String(model.length - start), 'content-range': `bytes ${start}-${model.length - 1}/${model.length}` });
    } else {
      res.writeHead(200, { ...headers, 'content-length': String(model.length) });
    }
    const body = model.subarray(start);
    if (path === '/drop.gguf' && !dropped) {
      dropped = true;
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests })),
  );
}

describe('model download', () => {
  const model = buildTinyLlamaGguf({ seed: 7 });
  let t: TestHive;
  let events: EventStream;
  let srv: Awaited<ReturnType<typeof startModelServer>>;

  beforeAll(async () => {
    srv = await startModelServer(model);
    t = await startTestHive({ download: { retryBaseMs: 50, progressIntervalMs: 0, network: { allowLoopback: true } } });
    events = new EventStream(t.hive.url);
    await events.opened;
  });
  afterAll(async () => {
    events?.close();
    await t?.close();
    await new Promise((r) => srv?.server.close(r));
  });

  const finished = (id: string) =>
    events
      .waitFor<Extract<ClusterEvent, { type: 'download_progress' }>>(
        (e) => e.type === 'download_progress' && e.progress.download_id === id && e.progress.state !== 'running',
        30_000,
      )
      .then((e) => e.progress);

  it('resumes after a dropped connection (HTTP Range), validates, and lands atomically', async () => {
    const res = await t.api<{ download_id: string; name: string }>('POST', '/v1/models/download', { source: `${srv.base}/drop.gguf`, name: 'fetched.gguf' });
    expect(res.status).toBe(202);
    expect(res.body.name).toBe('fetched.gguf');
    const done: DownloadProgress = await finished(res.body.download_id);
    expect(done).toMatchObject({ state: 'done', received_bytes: model.length, total_bytes: model.length });
    const drops = srv.requests.filter((r) => r.path === '/drop.gguf');
    expect(drops.length).toBe(2);
    expect(drops[0]!.range).toBeUndefined();
    expect(drops[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(drops[1]!.range!)![0])).toBeGreaterThan(0);
    expect((await readFile(join(t.modelsDir, 'fetched.gguf'))).equals(model)).toBe(true);
    // No temp file left behind; progress was reported on the stream.
    expect(readdirSync(t.modelsDir).filter((f) => f.includes('.part'))).toEqual([]);
    const progress = events.events.filter((e) => e.type === 'download_progress' && e.progress.download_id === res.body.download_id);
    expect(progress.some((e) => e.type === 'download_progress' && e.progress.message?.startsWith('resuming'))).toBe(true);
    // The catalog sees it.
    await events.waitFor((e) => e.type === 'models_updated' && e.models.some((m: ModelInfo) => m.name === 'fetched.gguf'), 30_000);
    const listed = await t.api<{ models: ModelInfo[] }>('GET', '/v1/models');
    expect(listed.body.models.find((m) => m.name === 'fetched.gguf')).toMatchObject({ architecture: 'llama', size_bytes: model.length });
  });

  it('derives the name from the URL; refuses a second copy', async () => {
    const res = await t.api<{ download_id: string; name: string }>('POST', '/v1/models/download', { source: `${srv.base}/model.gguf` });
    expect(res.body.name).toBe('model.gguf');
    expect((await finished(res.body.download_id)).state).toBe('done');
    const again = await t.api<{ error: { code: string } }>('POST', '/v1/models/download', { source: `${srv.base}/model.gguf` });
    expect(again.status).toBe(409);
  });

  it('rejects a body that is not GGUF, and a 404, leaving nothing in the folder', async () => {
    const junk = await t.api<{ download_id: string }>('POST', '/v1/models/download', { source: `${srv.base}/junk.gguf` });
    const junkDone = await finished(junk.body.download_id);
    expect(junkDone.state).toBe('failed');
    expect(junkDone.message).toMatch(/not a GGUF file/);
    const missing = await t.api<{ download_id: string }>('POST', '/v1/models/download', { source: `${srv.base}/missing.gguf` });
    const missingDone = await finished(missing.body.download_id);
    expect(missingDone.state).toBe('failed');
    expect(missingDone.message).toMatch(/HTTP 404/);
    expect(srv.requests.filter((r) => r.path === '/missing.gguf')).toHaveLength(1); // a 404 is not retried
    expect(existsSync(join(t.modelsDir, 'junk.gguf'))).toBe(false);
    expect(readdirSync(t.modelsDir).filter((f) => f.includes('.part'))).toEqual([]);
  });

  it('maps hf: URIs to Hugging Face resolve URLs', async () => {
    expect(await planDownload('hf:TheBloke/Some-GGUF/some.Q4_K_M.gguf', undefined)).toMatchObject({
      name: 'some.Q4_K_M.gguf',
      files: [{ url: 'https://huggingface.co/TheBloke/Some-GGUF/resolve/main/some.Q4_K_M.gguf', name: 'some.Q4_K_M.gguf' }],
    });
    expect(await planDownload('hf:u/r/sub/dir/m.gguf', 'mine.gguf', { hfToken: 'hf_x', hfEndpoint: 'http://mirror.example:8080/' })).toMatchObject({
      name: 'mine.gguf',
      files: [{ url: 'http://mirror.example:8080/u/r/resolve/main/sub/dir/m.gguf', name: 'mine.gguf' }],
      headers: { authorization: 'Bearer hf_x' },
    });
  });
});
