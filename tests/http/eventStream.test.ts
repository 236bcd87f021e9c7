/**
 * The one event-stream helper every tier uses (queen → dashboard, hive → queen, worker logs), over
 * real HTTP on loopback: the wire format, the heartbeat, cleanup exactly once when the client leaves,
 * and the slow-client rule cutting a reader that stopped reading.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHttpServer } from '../../src-main/common/http/createHttpServer.js';
import { openEventStream, type EventStream } from '../../src-main/common/http/eventStream.js';
import { createLogger } from '../../src-main/common/log/createLogger.js';

let app: FastifyInstance | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

/** A server with one stream route; `opened` resolves with the stream the route opened. */
async function serve(options: Parameters<typeof openEventStream>[2]): Promise<{ port: number; opened: Promise<EventStream> }> {
  const server = createHttpServer({ logger: createLogger('test', { level: 'silent' }) });
  app = server;
  let resolveOpened!: (stream: EventStream) => void;
  const opened = new Promise<EventStream>((resolve) => (resolveOpened = resolve));
  server.get('/stream', (request, reply) => {
    resolveOpened(openEventStream(request, reply, options));
  });
  const address = await server.listen({ host: '127.0.0.1', port: 0 });
  return { port: Number(new URL(address).port), opened };
}

describe('openEventStream', () => {
  it('writes SSE frames and heartbeats, and runs every cleanup once when the client goes away', async () => {
    const { port, opened } = await serve({ heartbeatMs: 20 });
    const controller = new AbortController();
    const response = await fetch(`http://127.0.0.1:${port}/stream`, { signal: controller.signal });
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const stream = await opened;
    let cleanups = 0;
    const cleaned = new Promise<void>((resolve) =>
      stream.onClose(() => {
        cleanups += 1;
        resolve();
      }),
    );
    stream.send('cluster', 7, { kind: 'test', value: 'a' });

    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!(text.includes('data: {"kind":"test","value":"a"}\n\n') && text.includes(': ping\n\n'))) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error(`stream ended early: ${text}`);
      text += decoder.decode(chunk.value, { stream: true });
    }
    expect(text).toContain('event: cluster\nid: 7\ndata: {"kind":"test","value":"a"}\n\n');

    controller.abort();
    await cleaned;
    expect(stream.closed).toBe(true);
    // Sending after the end is a no-op, and a cleanup registered late runs at once.
    stream.send('cluster', 8, { kind: 'late' });
    let late = false;
    stream.onClose(() => (late = true));
    expect(late).toBe(true);
    expect(cleanups).toBe(1);
  });

  it('cuts a subscriber that stopped reading once its unsent backlog passes the limit', async () => {
    const { port, opened } = await serve({ maxBufferedBytes: 64 * 1024 });
    // A raw client that sends its request and then never reads a byte.
    const socket = connect({ host: '127.0.0.1', port });
    const socketClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.write(`GET /stream HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    socket.pause();
    const stream = await opened;
    const cleaned = new Promise<void>((resolve) => stream.onClose(resolve));

    const payload = 'x'.repeat(32 * 1024);
    let sent = 0;
    // The kernel's socket buffers take the first few MB; after that the backlog grows in the process
    // until the rule cuts the stream. 4 000 × 32 KiB = 125 MiB is far beyond any socket buffer.
    while (!stream.closed && sent < 4_000) {
      stream.send('cluster', sent, { payload });
      sent += 1;
    }
    expect(stream.closed).toBe(true);
    await cleaned;
    socket.resume();
    await socketClosed;
  });
});
