import type { FastifyReply, FastifyRequest } from 'fastify';
import { startSse } from './sse.js';

/** A comment line every 15 s keeps proxies and idle timers from closing a quiet stream. */
export const EVENT_STREAM_HEARTBEAT_MS = 15_000;

/**
 * The one slow-client rule of every event stream (queen → dashboard, hive → queen, worker logs):
 * a subscriber with more than 4 MiB written but not yet taken by its socket is cut loose. It
 * reconnects and starts again from a fresh snapshot, so it loses nothing, and a stalled reader never
 * grows the server's memory without bound.
 */
export const EVENT_STREAM_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

export interface EventStreamOptions {
  heartbeatMs?: number;
  maxBufferedBytes?: number;
}

/** An open Server-Sent Events stream on a hijacked reply. */
export interface EventStream {
  /** Writes `event: <name>\nid: <id>\ndata: <json>\n\n`; a no-op once the stream is closed. */
  send(event: string, id: number | string, data: unknown): void;
  /** Runs once when the stream ends, whoever ends it (client gone, slow-client cut, server close). */
  onClose(cleanup: () => void): void;
  readonly closed: boolean;
}

/**
 * Hijacks `reply` and opens an event stream on it: the SSE headers (Nagle off), a heartbeat, the
 * slow-client rule, and one close path that runs every registered cleanup exactly once.
 */
export function openEventStream(request: FastifyRequest, reply: FastifyReply, options: EventStreamOptions = {}): EventStream {
  const maxBuffered = options.maxBufferedBytes ?? EVENT_STREAM_MAX_BUFFERED_BYTES;
  reply.hijack();
  const res = reply.raw;
  startSse(res);
  const cleanups: Array<() => void> = [];
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    for (const cleanup of cleanups.splice(0)) cleanup();
  };
  const heartbeat = setInterval(() => {
    if (!res.destroyed) res.write(': ping\n\n');
  }, options.heartbeatMs ?? EVENT_STREAM_HEARTBEAT_MS);
  heartbeat.unref();
  // The response's 'close' covers every ending: the client went away, the socket was destroyed (the
  // slow-client rule, server shutdown) or the response ended. (The request's own 'close' fires as soon
  // as a GET's empty body is read, so it says nothing about the client.)
  res.once('close', close);
  return {
    send(event, id, data) {
      if (closed || res.destroyed) return;
      if (res.writableLength > maxBuffered) {
        request.log.warn({ buffered_bytes: res.writableLength }, 'event subscriber too slow: disconnecting it');
        res.destroy();
        close();
        return;
      }
      res.write(`event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    onClose(cleanup) {
      if (closed) cleanup();
      else cleanups.push(cleanup);
    },
    get closed() {
      return closed;
    },
  };
}
