// The pools bench's floor: the least a Node HTTP hop can do. It forwards each request to the engine
// on a keep-alive socket and pipes the answer back unread: no routing, auth, breaker, deadline or
// checks. Whatever the queen's pool hop costs beyond this is the queen's own; this much is Node's
// HTTP server and client and the kernel's loopback on this machine.
// Usage: node bareRelay.mjs ENGINE_URL  (prints {"event":"listening","url":…} once listening)
import http from 'node:http';

const engine = new URL(process.argv[2]);
const agent = new http.Agent({ keepAlive: true });
const server = http.createServer((req, res) => {
  const upstream = http.request(
    { hostname: engine.hostname, port: engine.port, path: req.url, method: req.method, headers: req.headers, agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
});
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${port}` })}\n`);
});
