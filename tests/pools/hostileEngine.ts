import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A misbehaving third-party engine (a legit boundary: rbee cannot make a real engine misbehave on
 * cue). Each model name is one way to misbehave; `/models` lists them. Records which requests the
 * queen dropped (the socket closed before the answer was complete).
 */
export const HOSTILE_MODELS = ['invalid-json', 'status-500', 'wrong-type', 'endless', 'cut-mid-frame', 'huge', 'fine', 'stream-fine', 'after-done', 'split-bytes'] as const;

const chunk = (content: string): string =>
  `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;

/** `split-bytes`: a valid stream whose events end in CRLF CRLF, LF LF and LF CRLF, sent in pieces cut inside a UTF-8 character and inside an event. */
export const SPLIT_BYTES_STREAM = Buffer.from(`${chunk('naïve 🐝').trimEnd()}\r\n\r\n${chunk('two')}${chunk('three').trimEnd()}\n\r\ndata: [DONE]\r\n\r\n`, 'utf8');

export async function startHostileEngine(): Promise<{
  url: string;
  closedEarly: string[];
  deadlines: Map<string, string | undefined>;
  /** TCP connections accepted so far (a kept-alive socket serves several requests). */
  connections(): number;
  close(): Promise<void>;
}> {
  const closedEarly: string[] = [];
  let connections = 0;
  const deadlines = new Map<string, string | undefined>();
  const server = http.createServer((req, res) => {
    if (req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: HOSTILE_MODELS.map((id) => ({ id, object: 'model' })) }));
      return;
    }
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const model = (JSON.parse(raw) as { model: string }).model;
      const remaining = req.headers['x-deadline-remaining-ms'];
      deadlines.set(model, Array.isArray(remaining) ? remaining[0] : remaining);
      res.on('close', () => {
        if (!res.writableFinished) closedEarly.push(model);
      });
      switch (model) {
        case 'invalid-json':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"id": "x", "choices": [ {"message": ');
          return;
        case 'status-500':
          res.writeHead(500, { 'content-type': 'text/html' });
          res.end('<html>Internal Server Error</html>');
          return;
        case 'wrong-type':
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end('<html>hello</html>');
          return;
        case 'endless': {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          const timer = setInterval(() => res.write(chunk('.')), 20);
          res.on('close', () => clearInterval(timer));
          return;
        }
        case 'stream-fine':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(chunk('one'));
          res.end(`${chunk('two')}data: [DONE]\n\n`);
          return;
        case 'after-done': {
          // A complete answer, then the response is never ended: the queen must not keep that socket.
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`${chunk('done')}data: [DONE]\n\n`);
          const timer = setInterval(() => res.write(': still here\n\n'), 50);
          res.on('close', () => clearInterval(timer));
          return;
        }
        case 'cut-mid-frame':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(chunk('first'));
          res.write('data: {"id":"x","object":"chat.completion.chunk","choi');
          setTimeout(() => res.socket?.destroy(), 50);
          return;
        case 'split-bytes': {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          const bee = SPLIT_BYTES_STREAM.indexOf(Buffer.from('🐝'));
          const two = SPLIT_BYTES_STREAM.indexOf('two');
          const cuts = [bee + 1, bee + 3, two, two + 2, SPLIT_BYTES_STREAM.length];
          let from = 0;
          // Pauses between the pieces make each arrive as its own read at the queen.
          const next = (): void => {
            const to = cuts.shift();
            if (to === undefined || res.destroyed) return;
            const piece = SPLIT_BYTES_STREAM.subarray(from, to);
            from = to;
            if (cuts.length === 0) return void res.end(piece);
            res.write(piece);
            setTimeout(next, 15);
          };
          next();
          return;
        }
        case 'huge': {
          res.writeHead(200, { 'content-type': 'application/json' });
          const piece = 'x'.repeat(64 * 1024);
          let sent = 0;
          const pump = (): void => {
            while (sent < 8 * 1024 * 1024) {
              sent += piece.length;
              if (!res.write(piece)) return void res.once('drain', pump);
            }
            res.end();
          };
          res.write('{"pad":"');
          pump();
          return;
        }
        default:
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ id: 'ok', object: 'chat.completion', created: 0, model, choices: [{ index: 0, message: { role: 'assistant', content: 'fine' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
      }
    });
  });
  server.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    closedEarly,
    deadlines,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
