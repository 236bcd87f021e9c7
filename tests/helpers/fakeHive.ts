/**
 * A stand-in hive for SSH tests: a plain Node HTTP server passed to `node -e` on the remote,
 * listening on a Unix socket as a real remote hive does (its folder made 0700). It needs
 * `RBEE_HIVE_TOKEN` from its environment (401 without the right bearer), answers `GET /v1/health`,
 * the handshake `GET /v1/hive/hello?nonce=` (HMAC-SHA256 of the nonce keyed by the token; a wrong
 * one when `RBEE_FAKE_IMPOSTOR=1`; with `RBEE_FAKE_LOG=<file>` every request is noted there as
 * `METHOD PATH auth=true|false`), `GET /whoami` (pid + token fingerprint) and `GET /sse?n=N`
 * (N SSE token events, one write each, then `[DONE]`). Usage: `node -e FAKE_HIVE_JS <dir> <socket path>`.
 */
export const FAKE_HIVE_JS = String.raw`
const http = require('http'), crypto = require('crypto');
const token = process.env.RBEE_HIVE_TOKEN || '';
const fs = require('fs'), path = require('path');
const socket = process.argv[process.argv.length - 1];
const impostor = process.env.RBEE_FAKE_IMPOSTOR === '1';
const log = process.env.RBEE_FAKE_LOG;
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (log) fs.appendFileSync(log, req.method + ' ' + url.pathname + ' auth=' + (req.headers.authorization !== undefined) + '\n');
  if (url.pathname === '/v1/health') { res.writeHead(200, {'content-type':'application/json'}); return res.end('{"status":"ok"}'); }
  if (url.pathname === '/v1/hive/hello') {
    const key = impostor ? 'not-the-token' : token;
    res.writeHead(200, {'content-type':'application/json'});
    return res.end(JSON.stringify({ hive_id: 'fake', hmac: crypto.createHmac('sha256', key).update(url.searchParams.get('nonce') || '').digest('hex') }));
  }
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
fs.mkdirSync(path.dirname(socket), { recursive: true, mode: 0o700 });
fs.chmodSync(path.dirname(socket), 0o700);
try { fs.unlinkSync(socket); } catch {}
server.listen(socket);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;
