import type { ServerResponse } from 'node:http';

/**
 * Starts a Server-Sent Events response on a raw Node response. Nagle is disabled on the socket so
 * each event leaves as soon as it is written (tokens are small; batching them adds latency).
 */
export function startSse(res: ServerResponse, headers: Record<string, string> = {}, options: { flushHeaders?: boolean } = {}): void {
  res.socket?.setNoDelay(true);
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    ...headers,
  });
  // Event streams that write their first event at once can let the headers travel with it: one packet,
  // one wake-up of the reader, less time to first token.
  if (options.flushHeaders !== false) res.flushHeaders();
}
