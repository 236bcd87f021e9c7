/**
 * A stand-in hive for SSH tests: a plain Node HTTP server passed to `node -e` on the remote. It
 * needs `RBEE_HIVE_TOKEN` from its environment (401 without the right bearer), answers
 * `GET /v1/health`, `GET /whoami` (pid + token fingerprint) and `GET /sse?n=N` (N SSE token
 * events, one write each, then `[DONE]`). Usage: `node -e FAKE_HIVE_JS <port>`.
 */
export const FAKE_HIVE_JS = String.raw`
const http = require('http'), crypto = require('crypto');
const token = process.env.RBEE_HIVE_TOKEN || '';
const port = Number(process.argv[process.argv.length - 1]);
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/v1/health') { res.writeHead(200, {'content-type':'application/json'}); return res.end('{"status":"ok"}'); }
  if (!token || req.headers.authorization !== 'Bearer ' + token) { res.writeHead(401); return res.end('{"error":{"code":"INVALID_API_KEY"}}'); }
  if (url.pathname === '/whoami') {
    res.writeHead(200, {'content-type':'application/json'});
    return res.end(JSON.stringify({ pid: process.pid, token_fp: crypto.createHash('sha256').update(token).digest('hex').slice(0, 6), argv: process.argv }));
  }
  if (url.pathname === '/sse') {
    const n = Number(url.searchParams.get('n') || 100);
    res.writeHead(200, {'content-type':'text/event-stream','cache-control':'no-cache'});
    let i = 0;
    const tick = () => {
      while (i < n) { res.write('event: token\ndata: {"t":"x","i":' + i + '}\n\n'); i++; if (i % 64 === 0) return setImmediate(tick); }
      res.end('data: [DONE]\n\n');
    };
    return tick();
  }
  res.writeHead(404); res.end();
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;
