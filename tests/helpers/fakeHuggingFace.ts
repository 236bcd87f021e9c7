import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The network boundary of the download tests: a real local HTTP server that answers like Hugging Face
 * (`/api/models/<user>/<repo>?blobs=true` → `{siblings:[{rfilename,size}]}`, files under
 * `/<user>/<repo>/resolve/main/<path>` with ETag + Range). The middle shard of a split model
 * (`-00002-of-`) drops its connection half-way once, so shard resume is exercised.
 */
export interface FakeHuggingFace {
  server: Server;
  base: string;
  requests: Array<{ path: string; auth: string | undefined }>;
}

/** `repos`: `user/repo` → path in the repo → bytes (`__raw`: the listing's whole answer, verbatim). */
export function startFakeHuggingFace(repos: Record<string, Record<string, Buffer | string>>): Promise<FakeHuggingFace> {
  const requests: Array<{ path: string; auth: string | undefined }> = [];
  const dropped = new Set<string>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push({ path: url.pathname, auth: req.headers.authorization });
    const api = /^\/api\/models\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (api) {
      const repo = repos[`${decodeURIComponent(api[1]!)}/${decodeURIComponent(api[2]!)}`];
      if (!repo) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end('{"error":"Repository not found"}');
      }
      if (typeof repo.__raw === 'string') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(repo.__raw);
      }
      const siblings = Object.entries(repo).map(([rfilename, body]) => ({ rfilename, size: body.length }));
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ id: api[1], siblings }));
    }
    const file = /^\/([^/]+)\/([^/]+)\/resolve\/main\/(.+)$/.exec(url.pathname);
    const repo = file ? repos[`${decodeURIComponent(file[1]!)}/${decodeURIComponent(file[2]!)}`] : undefined;
    const path = file ? file[3]!.split('/').map(decodeURIComponent).join('/') : '';
    const body = repo?.[path];
    if (!body || typeof body === 'string') {
      res.writeHead(404);
      return res.end();
    }
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const headers = { etag: `"${path}-v1"`, 'accept-ranges': 'bytes' };
    if (m) res.writeHead(206, { ...headers, 'content-length': String(body.length - start), 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    else res.writeHead(200, { ...headers, 'content-length': String(body.length) });
    const rest = body.subarray(start);
    // The middle shard of a split model drops its connection once half-way: that shard alone resumes.
    if (path.includes('-00002-of-') && !dropped.has(path)) {
      dropped.add(path);
      res.write(rest.subarray(0, Math.floor(rest.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(rest);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests })));
}

